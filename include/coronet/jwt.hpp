// JSON Web Tokens (RFC 7519) signed with HS256 (HMAC-SHA256), checked at the
// WebSocket handshake.
//
//   coronet::jwt_verifier verify(secret);                   // leeway 30 s
//   o.websocket.authorize = coronet::jwt_authorize(verify);  // 401 unless valid
//   ...
//   // in the handler:
//   auto claims = ch.info<coronet::jwt_claims>();           // never null here
//   greet(claims->subject);
//
// The token is taken from "Authorization: Bearer <token>", else the cookie
// `token`, else the query parameter `token` (browsers cannot set headers on
// a WebSocket).  Only HS256 is accepted: a token whose header names another
// algorithm, "none" included, is refused.  The signature is compared in
// constant time; `exp` and `nbf` are checked with the leeway.
#pragma once

#include <coronet/http.hpp>
#include <coronet/result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace coronet {

/// Why a token was refused.
enum class jwt_errc {
  missing = 1, ///< the request carries no token
  malformed,   ///< not three base64url parts of JSON objects, or a claim of the wrong type
  unsupported_algorithm, ///< the header's "alg" is not HS256
  bad_signature,         ///< the signature does not match (wrong secret, or altered)
  expired,               ///< "exp" is past (beyond the leeway)
  not_yet_valid,         ///< "nbf" is still ahead (beyond the leeway)
};

const std::error_category& jwt_category() noexcept;

inline std::error_code make_error_code(jwt_errc e) noexcept {
  return {static_cast<int>(e), jwt_category()};
}

/// The claims of a verified token.
struct jwt_claims {
  std::string subject;                    ///< "sub" ("" when absent)
  std::optional<std::int64_t> expires;    ///< "exp", seconds since the epoch
  std::optional<std::int64_t> not_before; ///< "nbf"
  std::optional<std::int64_t> issued_at;  ///< "iat"
  std::string json;                       ///< the payload as sent, for claims of the app's own
};

class jwt_verifier {
public:
  /// Tokens signed with `secret`; `exp` and `nbf` are allowed `leeway` of
  /// clock difference between the issuer and this server.  An empty secret
  /// proves nothing: every token is then refused (bad_signature).  A token
  /// whose header has "crit" is refused (no extension is understood).
  explicit jwt_verifier(std::string secret, std::chrono::seconds leeway = std::chrono::seconds(30));

  /// The claims of `token` if it is a valid HS256 token at `now`; else a
  /// jwt_errc.  Tokens longer than 8 KiB are malformed.
  result<jwt_claims>
  verify(std::string_view token,
         std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

  std::chrono::seconds leeway() const noexcept { return leeway_; }

private:
  std::string secret_;
  std::chrono::seconds leeway_;
};

/// The token a request carries: "Authorization: Bearer", else the cookie
/// `name`, else the query parameter `name`.
std::optional<std::string> jwt_from_request(const http_request& r, std::string_view name = "token");

/// An authorize hook (websocket_options::authorize): a request with a valid
/// token (jwt_from_request) is allowed and keeps its jwt_claims
/// (channel::info<jwt_claims>()); any other gets 401 with
/// "WWW-Authenticate: Bearer" and a body saying why, before any upgrade.
std::function<authorization(const http_request&)> jwt_authorize(jwt_verifier verifier,
                                                                std::string name = "token");

/// An HS256 token for the JSON object `claims_json` (not checked: pass what
/// a JSON library wrote), signed with `secret`.
std::string jwt_sign(std::string_view claims_json, std::string_view secret);

} // namespace coronet

template <>
struct std::is_error_code_enum<coronet::jwt_errc> : std::true_type {};
