#include <coronet/error.hpp>
#include <coronet/http.hpp>

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

  bool equivalent(const std::error_code& ec, int value) const noexcept override {
    // Asio's system errors have their own category: compare by value.
    bool sys = ec.category() == asio::error::get_system_category() ||
               ec.category() == std::system_category() || ec.category() == std::generic_category();
    auto is = [&](std::errc e) { return sys && ec.value() == static_cast<int>(e); };
    switch (static_cast<condition>(value)) {
    case condition::connection_lost:
      return ec == errc::closed || ec.category() == close_code_category() ||
             ec == asio::error::eof || is(std::errc::connection_reset) ||
             is(std::errc::connection_aborted) || is(std::errc::broken_pipe) ||
             is(std::errc::not_connected);
    case condition::timed_out: return ec == errc::timeout || is(std::errc::timed_out);
    case condition::refused:
      return ec == errc::connection_refused || ec == errc::unauthorized ||
             ec.category() == http_status_category() ||
             (ec.category() == tls_category() && ec.value() > 0 && ec != tls_errc::configuration) ||
             ec == errc::handshake_failed || is(std::errc::connection_refused);
    case condition::too_large: return ec == errc::message_too_large || is(std::errc::message_size);
    }
    return false;
  }
};

class http_statuses final : public std::error_category {
public:
  const char* name() const noexcept override { return "coronet.http"; }
  std::string message(int value) const override {
    return "the server refused the WebSocket upgrade: HTTP/1.1 " + std::to_string(value) + " " +
           std::string(http_reason(value));
  }
};

class close_codes final : public std::error_category {
public:
  const char* name() const noexcept override { return "coronet.websocket"; }
  std::string message(int value) const override {
    std::string what = [&]() -> std::string {
      switch (static_cast<close_code>(value)) {
      case close_code::normal_closure: return "normal closure";
      case close_code::going_away: return "going away";
      case close_code::protocol_error: return "protocol error";
      case close_code::unsupported_data: return "unsupported data";
      case close_code::no_status_received: return "no status code";
      case close_code::abnormal_closure: return "abnormal closure";
      case close_code::invalid_payload: return "invalid payload data";
      case close_code::policy_violation: return "policy violation";
      case close_code::message_too_big: return "message too big";
      case close_code::mandatory_extension: return "mandatory extension missing";
      case close_code::internal_error: return "internal server error";
      }
      return value >= 4000 ? "application code" : "registered code";
    }();
    return "the peer closed the WebSocket with " + std::to_string(value) + " (" + what + ")";
  }
};

} // namespace

const std::error_category& http_status_category() noexcept {
  static const http_statuses instance;
  return instance;
}

const std::error_category& close_code_category() noexcept {
  static const close_codes instance;
  return instance;
}

const std::error_category& condition_category() noexcept {
  static const conditions instance;
  return instance;
}

const std::error_category& error_category() noexcept {
  static const category instance;
  return instance;
}

} // namespace coronet
