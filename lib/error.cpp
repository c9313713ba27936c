#include <coronet/error.hpp>

#include <string>

namespace coronet {
namespace {

class category final : public std::error_category {
public:
  const char* name() const noexcept override { return "coronet"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
    case errc::closed: return "the connection is closed";
    case errc::timeout: return "the operation timed out";
    case errc::message_too_large: return "the message is larger than the configured limit";
    case errc::protocol_error: return "the peer violated the protocol";
    case errc::invalid_url: return "the URL is invalid";
    case errc::handshake_failed: return "the handshake failed";
    case errc::unauthorized: return "the peer is not authorized";
    case errc::backpressure: return "the send queue is full";
    case errc::connection_refused: return "the connection was refused (nothing listens there)";
    case errc::resolve_failed: return "the host name could not be resolved";
    case errc::invalid_utf8: return "the text is not valid UTF-8";
    case errc::unsupported: return "the operation is not supported by this transport";
    case errc::invalid_argument: return "an argument or option has an invalid value";
    }
    return "unknown coronet error " + std::to_string(value);
  }

  std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<errc>(value)) {
    case errc::timeout: return std::errc::timed_out;
    case errc::connection_refused: return std::errc::connection_refused;
    case errc::message_too_large: return std::errc::message_size;
    case errc::invalid_argument: return std::errc::invalid_argument;
    case errc::unsupported: return std::errc::operation_not_supported;
    default: return {value, *this};
    }
  }
};

} // namespace

const std::error_category& error_category() noexcept {
  static const category instance;
  return instance;
}

} // namespace coronet
