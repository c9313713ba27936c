// The HTTP side of a WebSocket server: the upgrade request as the server's
// hooks see it, and the responses they can send instead of upgrading.
//
//   o.websocket.authorize = [](const coronet::http_request& r) {
//     auto token = r.bearer_token();                  // Authorization: Bearer ...
//     auto query = r.query_value("token");            // or ?token=...
//     if ((token && *token == "s3cret") || (query && *query == "s3cret"))
//       return coronet::authorization::allow();       // let it in
//     return coronet::authorization::refuse(401);
//   };
//
// (Tokens that are JWTs: <coronet/jwt.hpp> has the verifier and the hook.)
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

namespace coronet {

using http_headers = std::vector<std::pair<std::string, std::string>>;

/// A parsed HTTP/1.1 request head (the WebSocket upgrade request, or a plain
/// request on a WebSocket port).  Header names keep the peer's spelling;
/// header() compares them case-insensitively.
struct http_request {
  std::string method; ///< "GET"
  std::string target; ///< as sent: "/chat?room=1"
  std::string path;   ///< percent-decoded path: "/chat"
  std::string query;  ///< raw query string without '?': "room=1"
  http_headers headers;
  std::string remote; ///< the peer's address, for logs

  /// The first header of that name (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
  /// The value of a cookie from the Cookie header(s), if any.
  std::optional<std::string_view> cookie(std::string_view name) const;
  /// A query parameter, percent-decoded.
  std::optional<std::string> query_value(std::string_view key) const;
  /// The token of an "Authorization: Bearer <token>" header, if any.
  std::optional<std::string_view> bearer_token() const;
  /// True if the comma-separated header `name` holds `token` (case-insensitive).
  bool has_token(std::string_view name, std::string_view token) const;
};

/// A response a server sends instead of upgrading (refusals, plain pages).
/// The connection is closed after it.
struct http_response {
  int status = 200;
  http_headers headers;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";

  /// A response with the standard reason phrase as its body.
  static http_response error(int status);
};

/// The standard reason phrase of an HTTP status ("Forbidden" for 403).
std::string_view http_reason(int status) noexcept;

/// What websocket_options::authorize decides about an upgrade request: let
/// it in (keeping what it learned about the peer with the connection), or
/// refuse it with a response.
///
///   o.websocket.authorize = [](const coronet::http_request& r) {
///     auto user = sessions.find(r.cookie("session"));
///     if (!user) return coronet::authorization::refuse(401);
///     return coronet::authorization::allow(*user);   // ch.info<user_record>()
///   };
class authorization {
public:
  /// Lets the request in.
  static authorization allow() { return {}; }
  /// Lets it in and keeps `details` with the connection, where
  /// channel::info<T>() finds them (jwt_authorize keeps the jwt_claims).
  template <class T>
  static authorization allow(T details) {
    authorization a;
    a.details_ = std::make_shared<const T>(std::move(details));
    a.details_type_ = &typeid(T);
    return a;
  }
  /// Refuses with `response` (no upgrade; the connection is closed after it).
  static authorization refuse(http_response response) {
    authorization a;
    a.refusal_ = std::move(response);
    return a;
  }
  static authorization refuse(int status) { return refuse(http_response::error(status)); }

  bool allowed() const noexcept { return !refusal_; }
  /// The response of a refusal, or nullptr.
  const http_response* refusal() const noexcept { return refusal_ ? &*refusal_ : nullptr; }
  /// What allow(details) kept, if it is a `type`; else nullptr.
  const void* details(const std::type_info& type) const noexcept {
    return details_type_ && *details_type_ == type ? details_.get() : nullptr;
  }

private:
  authorization() = default;
  std::optional<http_response> refusal_;
  std::shared_ptr<const void> details_;
  const std::type_info* details_type_ = nullptr;
};

} // namespace coronet
