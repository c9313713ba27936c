// load_generator: drives an echo server on 127.0.0.1 (or on a Unix stream
// socket) and measures it.
//
// One thread, non-blocking sockets, level-triggered epoll.  Each of
// `connections` connections keeps `in_flight` messages outstanding: when the
// echo of one message is complete, the next is queued and written at once.
//
// Checking: message `seq` of connection `id` is a fixed function of (id,
// seq), and every byte that comes back is compared with the byte sent at the
// same position of that connection's stream.  With raw framing this checks
// the echo as a byte stream, in order; with length framing the 4-byte
// big-endian header is part of the stream, so it is checked too.  A
// mismatch, a connection the server drops, or an echo still missing after
// the drain is an error: it is counted, the first is described, and the
// connection it happened on is closed.
//
// Latency of a message: from the moment it is built and queued on its
// connection (it is written at once unless the socket is full) to the moment
// the last byte of its echo is read.  With several messages in flight this
// includes the time a message waits behind the others.
//
// Timeline: connect, warm-up (traffic flows, nothing is recorded), the
// measured interval, then the drain (no new messages; outstanding echoes are
// awaited up to drain_timeout), then every socket is closed.  Every wait is
// bounded, so run() returns by itself.
//
// With wire_framing::websocket the stream written (masked frames) and the
// stream expected back (unmasked frames) differ.  Either way, each
// connection keeps only the sent form of its in-flight messages; an echo is
// compared with the pattern the message was cut from, so checking costs
// no copy of what was sent.
//
// With wire_framing::datagram the generator speaks UDP instead (see
// datagram_load.hpp): each connection is a connected UDP socket (a peer),
// one message is one datagram, and a datagram whose echo does not come back
// within loss_timeout is counted lost and replaced rather than awaited.
#pragma once

#include "latency_histogram.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

/// How the generator cuts its stream into messages; the server must echo it
/// in the same framing.
enum class wire_framing {
  raw,             ///< payload bytes only; the echo is compared as a byte stream
  length_prefixed, ///< u32 big-endian payload length, then the payload
  datagram,        ///< UDP: one message per datagram, each echo checked on its own
  /// WebSocket: an HTTP upgrade to "/", then one masked binary frame per
  /// message, as a browser sends them; the echo is checked as the stream of
  /// unmasked frames the server must send back.
  websocket,
};

struct load_config {
  /// Where the server listens: `port` on 127.0.0.1, or, when `unix_path` is
  /// not empty, that Unix stream socket (stream framings only): a file
  /// path, or "@name" in Linux's abstract namespace, as in a unix:// URL.
  std::uint16_t port = 0;
  std::string unix_path;
  int connections = 1;           ///< with datagrams: peers, one UDP socket each
  int in_flight = 1;             ///< messages outstanding per connection
  std::size_t message_size = 64; ///< payload bytes per message
  wire_framing framing = wire_framing::raw;
  std::chrono::nanoseconds warmup = std::chrono::milliseconds(500);
  std::chrono::nanoseconds duration = std::chrono::seconds(3);
  std::chrono::nanoseconds connect_timeout = std::chrono::seconds(2);
  std::chrono::nanoseconds drain_timeout = std::chrono::seconds(2);
  /// Datagrams only: an echo not back this long after its datagram was sent
  /// is counted lost, and the datagram is replaced by the next one.
  std::chrono::nanoseconds loss_timeout = std::chrono::milliseconds(200);
  /// Called on the generator's thread just before the measured interval
  /// begins and just after it ends, e.g. to read the server's CPU clock.
  std::function<void()> on_measure_begin, on_measure_end;
};

struct load_report {
  std::uint64_t messages = 0;      ///< echoes completed during the measured interval
  std::uint64_t payload_bytes = 0; ///< their payload bytes (length headers not counted)
  std::chrono::nanoseconds measured{0};
  latency_histogram latency; ///< of those messages, in nanoseconds
  std::uint64_t errors = 0;  ///< see the file comment
  std::string first_error;   ///< what went wrong first, for the log

  // Datagrams only (zero otherwise).
  std::uint64_t datagrams_sent = 0; ///< sent during the measured interval
  std::uint64_t datagrams_lost = 0; ///< of those, never echoed within loss_timeout
  std::uint64_t late_echoes = 0;    ///< echoes of datagrams already counted lost (ignored)

  double messages_per_second() const;
  /// datagrams_lost / datagrams_sent; 0 when nothing was sent.
  double loss() const;
  /// 10^6 payload bytes echoed per second.
  double megabytes_per_second() const;
};

class load_generator {
public:
  explicit load_generator(load_config config) : config_(std::move(config)) {}

  /// Runs the whole timeline once (see the file comment); blocks for about
  /// warmup + duration.
  load_report run() const;

private:
  load_config config_;
};
