#include <coronet/error.hpp>

#include <asio/error.hpp>

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
    case errc::would_block: return "no message is ready without waiting";
    case errc::unknown_scheme:
      return "no transport is registered for the URL's scheme "
             "(coronet::registered_schemes() lists them)";
    }
    return "unknown coronet error " + std::to_string(value);
  }

  std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<errc>(value)) {
    case errc::timeout: return std::errc::timed_out;
    case errc::connection_refused: return std::errc::connection_refused;
    case errc::message_too_large: return std::errc::message_size;
    case errc::invalid_argument: return std::errc::invalid_argument;
    case errc::would_block: return std::errc::operation_would_block;
    case errc::unsupported: return std::errc::operation_not_supported;
    default: return {value, *this};
    }
  }
};

class conditions final : public std::error_category {
public:
  const char* name() const noexcept override { return "coronet.condition"; }

  std::string message(int value) const override {
    switch (static_cast<condition>(value)) {
    case condition::connection_lost: return "the connection was lost";
    case condition::timed_out: return "the operation timed out";
    case condition::refused: return "the connection was refused";
    case condition::too_large: return "the message is too large";
    }
    return "unknown coronet condition " + std::to_string(value);
  }

  // The categories of transports (close codes, TLS, HTTP refusals) map
  // their codes to these conditions themselves (default_error_condition).
  bool equivalent(const std::error_code& ec, int value) const noexcept override {
    // Asio's system errors have their own category: compare by value.
    bool sys = ec.category() == asio::error::get_system_category() ||
               ec.category() == std::system_category() || ec.category() == std::generic_category();
    auto is = [&](std::errc e) { return sys && ec.value() == static_cast<int>(e); };
    switch (static_cast<condition>(value)) {
    case condition::connection_lost:
      return ec == errc::closed || ec == asio::error::eof || is(std::errc::connection_reset) ||
             is(std::errc::connection_aborted) || is(std::errc::broken_pipe) ||
             is(std::errc::not_connected);
    case condition::timed_out: return ec == errc::timeout || is(std::errc::timed_out);
    case condition::refused:
      return ec == errc::connection_refused || ec == errc::unauthorized ||
             ec == errc::handshake_failed || is(std::errc::connection_refused);
    case condition::too_large: return ec == errc::message_too_large || is(std::errc::message_size);
    }
    return false;
  }
};

} // namespace

const std::error_category& condition_category() noexcept {
  static const conditions instance;
  return instance;
}

const std::error_category& error_category() noexcept {
  static const category instance;
  return instance;
}

} // namespace coronet
