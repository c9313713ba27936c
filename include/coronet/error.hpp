// coronet's error codes.
//
// Every coronet operation reports failure as a std::error_code.  Errors that
// come from the operating system keep Asio's system category; errors that
// coronet itself decides carry coronet::error_category() and compare equal to
// the coronet::errc enumerators:
//
//   if (r.error() == coronet::errc::timeout) ...
#pragma once

#include <system_error>

namespace coronet {

enum class errc {
  closed = 1,         ///< the endpoint was closed (by either side) and has no more messages
  timeout,            ///< a deadline passed before the operation completed
  message_too_large,  ///< a message exceeds the configured limit
  protocol_error,     ///< the peer broke the wire protocol (bad frame, bad length, ...)
  invalid_url,        ///< the URL could not be parsed or names an unsupported scheme
  handshake_failed,   ///< the protocol handshake (WebSocket upgrade, TLS) did not complete
  unauthorized,       ///< the peer was refused by an authorization or origin check
  backpressure,       ///< the send queue is full (try_send) or the slow-consumer policy fired
  connection_refused, ///< nothing listens at the address connected to
  resolve_failed,     ///< the host name could not be resolved
  invalid_utf8,       ///< a text message or close reason is not valid UTF-8
  unsupported,        ///< the operation is not available for this transport or platform
  invalid_argument,   ///< an option or argument has a value coronet cannot use
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
