// The WebSocket error categories: the peer's close codes, and the HTTP
// status of a refused upgrade.  Each maps its codes to coronet::condition.
#include <coronet/error.hpp>
#include <coronet/http.hpp>

#include <string>

namespace coronet {
namespace {

class http_statuses final : public std::error_category {
public:
  const char* name() const noexcept override { return "coronet.http"; }
  std::string message(int value) const override {
    return "the server refused the WebSocket upgrade: HTTP/1.1 " + std::to_string(value) + " " +
           std::string(http_reason(value));
  }
  std::error_condition default_error_condition(int) const noexcept override {
    return condition::refused;
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
  std::error_condition default_error_condition(int) const noexcept override {
    return condition::connection_lost;
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

} // namespace coronet
