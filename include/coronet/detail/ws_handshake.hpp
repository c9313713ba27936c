// Private: the RFC 6455 section 4 opening handshake as compiled functions
// over complete header blocks (http-parser and mbedTLS stay in the .cpp).
// The templates in <coronet/websocket.hpp> do the I/O around them.
#pragma once

#include <coronet/http.hpp>
#include <coronet/options.hpp>
#include <coronet/result.hpp>
#include <coronet/url.hpp>

#include <string>
#include <string_view>

namespace coronet::detail {

/// What the server answers one request head with.
struct upgrade_decision {
  bool upgrade = false; ///< true: `response` is the 101 and the connection becomes a WebSocket
  int status = 400;     ///< the HTTP status of `response`
  std::string response; ///< the bytes to write
  http_request request; ///< as parsed (empty when the head did not parse)
  std::string subprotocol;
  authorization granted = authorization::allow(); ///< what authorize() allowed it with
};

/// Decides on the request head `head` (everything up to and including the
/// blank line).  `paths` and `url_path` (the listen URL's path) say which
/// request paths are accepted (see options::paths).
upgrade_decision decide_upgrade(std::string_view head, const websocket_options& o,
                                const std::vector<std::string>& paths, std::string_view url_path,
                                std::string remote);

/// A complete response for `status` with no upgrade ("Connection: close").
std::string refusal_response(int status, const websocket_options& o);

/// The serialized response of an application hook.
std::string serialize_response(const http_response& r, const websocket_options& o);

/// The client's request and the key whose accept value it expects.
struct upgrade_request {
  std::string bytes;
  std::string key;
};
result<upgrade_request> make_upgrade_request(std::string_view host, std::string_view target,
                                             const websocket_options& o);

/// Checks the server's response head; yields the chosen subprotocol ("" for
/// none).  A status other than 101 fails with that status in
/// http_status_category(); anything else wrong with errc::handshake_failed.
result<std::string> check_upgrade_response(std::string_view head, std::string_view key,
                                           const websocket_options& o);

/// The request target a client sends for `u`: its path and its query, less
/// coronet's own options (timeout_ms, max_message).
std::string websocket_target(const url& u);

/// base64(SHA-1(key + RFC 6455 GUID)).
std::string accept_key(std::string_view key);

} // namespace coronet::detail
