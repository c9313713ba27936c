// Options every transport takes.  Where a URL is the only input, the same
// settings come from its query string (?timeout_ms=, ?max_message=,
// ?framing=) and override the struct.
#pragma once

#include <coronet/url.hpp>

#include <chrono>
#include <cstddef>
#include <optional>

namespace coronet {

/// What send() does when the endpoint's send queue is full.
enum class slow_consumer_policy {
  wait,        ///< send() waits for room (try_send() still fails with errc::backpressure)
  drop_newest, ///< the new message is dropped and send() fails with errc::backpressure
  disconnect,  ///< the connection is aborted and send() fails with errc::backpressure
};

struct options {
  /// The largest message receive() accepts; larger ones fail with
  /// errc::message_too_large and end the connection.
  std::size_t max_message = 64 * 1024 * 1024;

  /// Framing for tcp:// and tls://; the URL's ?framing= wins.
  coronet::framing framing = framing::length_prefixed;

  /// Time allowed for resolve + connect (+ handshake).  Zero = no limit.
  std::chrono::milliseconds connect_timeout{10'000};

  /// Deadline for each receive(); zero = none.  On a server this is the idle
  /// timeout: a connection silent for this long ends with errc::timeout.
  /// The URL's ?timeout_ms= sets both this and connect_timeout.
  std::chrono::milliseconds receive_timeout{0};

  /// Bytes the send queue may hold before the slow-consumer policy applies.
  /// One message larger than this is still accepted into an empty queue.
  std::size_t send_queue_limit = 4 * 1024 * 1024;
  slow_consumer_policy slow_consumer = slow_consumer_policy::wait;

  /// How long close() waits for queued messages to reach the socket before
  /// it drops the connection.
  std::chrono::milliseconds close_timeout{5'000};

  /// Largest single read; the read buffer starts small and grows to this
  /// (or to the size of the message being received, if larger).
  std::size_t read_buffer_size = 64 * 1024;

  bool tcp_nodelay = true;
  bool reuse_port = false; ///< SO_REUSEPORT on listeners (serve() sets it for threads > 1)
  int backlog = 1024;
};

/// `base` with the URL's query options applied.
options apply_url_options(const url& u, options base);

} // namespace coronet
