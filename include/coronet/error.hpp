// coronet's error codes.
//
// Every coronet operation reports failure as a std::error_code.  Errors that
// come from the operating system keep Asio's system category; errors that
// coronet itself decides carry coronet::error_category() and compare equal to
// the coronet::errc enumerators:
//
//   if (r.error() == coronet::errc::timeout) ...
#pragma once

#include <cstdint>
#include <system_error>

namespace coronet {

enum class errc {
  closed = 1,         ///< the endpoint was closed (by either side) and has no more messages
  timeout,            ///< a deadline passed before the operation completed
  message_too_large,  ///< a message exceeds the configured limit
  protocol_error,     ///< the peer broke the wire protocol (bad frame, bad length, ...)
  invalid_url,        ///< the URL does not parse, or has an option its scheme does not take
  handshake_failed,   ///< the protocol handshake (WebSocket upgrade, TLS) did not complete
  unauthorized,       ///< the peer was refused by an authorization or origin check
  backpressure,       ///< the send queue is full (try_send) or the slow-consumer policy fired
  connection_refused, ///< nothing listens at the address connected to
  resolve_failed,     ///< the host name could not be resolved
  invalid_utf8,       ///< a text message or close reason is not valid UTF-8
  unsupported,        ///< the operation is not available for this transport or platform
  invalid_argument,   ///< an option or argument has a value coronet cannot use
  would_block,        ///< try_receive(): no message is ready without waiting
  unknown_scheme, ///< no transport is registered for the URL's scheme (see registered_schemes())
};

/// Portable questions about any error a coronet operation returns, whatever
/// its category (coronet's, Asio's, the system's):
///
///   if (r.error() == coronet::condition::connection_lost) reconnect();
enum class condition {
  connection_lost = 1, ///< closed, reset, aborted, broken pipe, end of stream
  timed_out,           ///< coronet's deadline or the kernel's
  refused,             ///< nothing listens there (or it refused the handshake)
  too_large,           ///< a message over a limit
};

const std::error_category& error_category() noexcept;
const std::error_category& condition_category() noexcept;

/// A WebSocket server refused the upgrade: the error's value is the HTTP
/// status (ec.value() == 403), its message the status line.  Matches
/// condition::refused.
const std::error_category& http_status_category() noexcept;

/// Why a TLS handshake failed, where coronet can say.  tls_category() also
/// carries mbedTLS's own error codes (negative values; message() is
/// mbedTLS's text), e.g. a handshake alert from the peer.  The handshake
/// refusals (all but configuration) match condition::refused.
enum class tls_errc {
  certificate_expired = 1, ///< the peer's certificate (or one in its chain) has expired
  certificate_not_yet_valid,
  unknown_ca,            ///< the chain does not end at a trusted CA
  name_mismatch,         ///< the certificate is not for the name connected to
  bad_certificate,       ///< any other verification failure
  no_client_certificate, ///< a client certificate was required and none was sent
  not_tls,               ///< the peer did not speak TLS (plaintext on a TLS port)
  configuration,         ///< a certificate, key or CA file could not be loaded
};

const std::error_category& tls_category() noexcept;

inline std::error_code make_error_code(tls_errc e) noexcept {
  return {static_cast<int>(e), tls_category()};
}

/// RFC 6455 section 7.4 close codes.  A receive() that ends because the peer
/// closed with a code other than normal_closure, going_away or
/// no_status_received fails with that code in close_code_category() (which
/// matches condition::connection_lost); errors coronet detects itself are
/// coronet::errc (protocol_error = 1002, invalid_utf8 = 1007,
/// message_too_large = 1009 sent to the peer).
enum class close_code : std::uint16_t {
  normal_closure = 1000,
  going_away = 1001,
  protocol_error = 1002,
  unsupported_data = 1003,
  no_status_received = 1005, ///< never sent: the close frame had no code
  abnormal_closure = 1006,   ///< never sent: the connection dropped without a close frame
  invalid_payload = 1007,
  policy_violation = 1008,
  message_too_big = 1009,
  mandatory_extension = 1010,
  internal_error = 1011,
};

const std::error_category& close_code_category() noexcept;

inline std::error_code make_error_code(close_code c) noexcept {
  return {static_cast<int>(c), close_code_category()};
}

/// True for the codes an endpoint may send in a close frame (1000-1003,
/// 1007-1011, 3000-4999).
constexpr bool is_valid_close_code(std::uint16_t c) noexcept {
  return (c >= 1000 && c <= 1011 && c != 1004 && c != 1005 && c != 1006) ||
         (c >= 3000 && c <= 4999);
}

inline std::error_condition make_error_condition(condition c) noexcept {
  return {static_cast<int>(c), condition_category()};
}

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

} // namespace coronet

template <>
struct std::is_error_code_enum<coronet::errc> : std::true_type {};
template <>
struct std::is_error_condition_enum<coronet::condition> : std::true_type {};
template <>
struct std::is_error_code_enum<coronet::close_code> : std::true_type {};
template <>
struct std::is_error_code_enum<coronet::tls_errc> : std::true_type {};
