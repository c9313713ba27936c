// coronet::reconnecting_channel: a client connection that comes back by
// itself after Wi-Fi drops, server restarts and deploys.
//
//   coronet::reconnect_options o;
//   o.on_connected = [](coronet::channel& ch) -> asio::awaitable<coronet::result<void>> {
//     co_return co_await ch.send(R"({"type":"join","room":"lobby"})"); // log in, resubscribe
//   };
//   o.on_state = [](const coronet::connection_event& e) { show(e); }; // "reconnecting in 4 s"
//   coronet::reconnecting_channel rc(ex, "ws://127.0.0.1:9000/chat", o);
//   co_await rc.send("hello");                                 // queued while down
//   for (auto m = co_await rc.receive(); m; m = co_await rc.receive())
//     handle(*m);                                              // across reconnections
//
// Any connection-oriented URL (tcp, tls, ws, wss, unix) and udp:// (where
// only a heartbeat timeout can tell that the peer is gone).  After a
// failed attempt or a lost connection it waits, then connects again: 1 s,
// 2, 4, 8, 16, then 30 s (initial_delay doubling up to max_delay), each
// delay moved by up to ±jitter of itself at random, so that a thousand
// clients cut at once do not come back at once.  The sequence starts over
// once a connection has stayed up for stable_after.  A refusal that trying
// again cannot fix (is_permanent_refusal(): 401/403 at the handshake,
// WebSocket close 1008 or 4000-4999, a bad URL or certificate) ends it, as
// does max_attempts failures in a row: the state is then given_up and
// receive() fails with that error.
//
// A reconnecting_channel is a message endpoint: channel(rc) erases it like
// any other.  The same rules apply: use it from its executor, one receive()
// at a time.  See docs/reconnect.md for what is and is not recovered.
#pragma once

#include <coronet/channel.hpp>
#include <coronet/clock.hpp>
#include <coronet/options.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace coronet {

enum class connection_state {
  connecting, ///< an attempt is under way (the first one, or the next after waiting)
  connected,  ///< on_connected has run; sends go out
  waiting,    ///< the last attempt failed or the connection was lost; the next is `delay` away
  given_up,   ///< a permanent refusal, or max_attempts failures in a row: no more attempts
  closed,     ///< close() or abort() was called
};

/// "connecting", "connected", ...
std::string_view to_string(connection_state s) noexcept;

/// A change of state, as on_state sees it.
struct connection_event {
  connection_state state = connection_state::connecting;
  /// connecting, waiting: which attempt since the last stable connection (1 = the first).
  unsigned attempt = 0;
  /// waiting: how long until the next attempt (jitter included).
  std::chrono::milliseconds delay{0};
  /// waiting, given_up: why the last attempt failed or the connection ended.
  std::error_code error;
};

/// True for the failures that connecting again cannot fix: the server
/// refused us (HTTP 401 or 403 at the WebSocket handshake, errc::unauthorized,
/// WebSocket close 1008 or 4000-4999), the URL or the options are wrong
/// (invalid_url, unknown_scheme, invalid_argument, unsupported), or the
/// server's certificate fails verification or ours cannot be loaded.
bool is_permanent_refusal(const std::error_code& ec) noexcept;

struct reconnect_options {
  /// For every connect() (the URL's query still overrides it).
  coronet::options connect;

  std::chrono::milliseconds initial_delay{1'000}; ///< the first wait after a failure
  std::chrono::milliseconds max_delay{30'000};    ///< the doubling stops here
  /// Each delay is moved by a uniform random amount within ±jitter of
  /// itself (0.5: a 4 s delay becomes 2 to 6 s); 0 = none.
  double jitter = 0.5;
  /// Seeds the jitter (0: from std::random_device).  Same seed, same delays.
  std::uint64_t seed = 0;
  /// A connection up this long resets the delays to initial_delay (one
  /// that drops sooner counts as a failure: a server that accepts and
  /// closes at once is not hammered).
  std::chrono::milliseconds stable_after{10'000};
  /// Give up after this many failures in a row (0 = never).
  unsigned max_attempts = 0;
  /// Decides whether to try again after `error`; unset: !is_permanent_refusal(error).
  std::function<bool(const std::error_code& error)> retry;

  /// Sends made while there is no connection wait in a queue of at most
  /// this many bytes (one message larger than it is still taken into an
  /// empty queue), flushed in order once on_connected has run.
  std::size_t queue_limit = 1024 * 1024;
  /// When that queue is full: wait (send() waits for the next connection to
  /// make room; try_send() fails with errc::backpressure), drop_newest (the
  /// new message is refused with errc::backpressure), drop_oldest (the
  /// oldest queued message is dropped and counted), disconnect (the channel
  /// gives up).
  slow_consumer_policy queue_policy = slow_consumer_policy::wait;
  /// Messages received but not yet taken by receive(); the connection is
  /// not read further while this many wait (the peer then sees backpressure).
  std::size_t receive_queue = 1024;

  /// The peer counts as gone when nothing has come from it for this long
  /// (zero: never).  The only way udp:// notices a peer that went away;
  /// useful on any scheme where the server sends keepalives.
  std::chrono::milliseconds heartbeat_timeout{0};
  /// Sends `heartbeat_message` this often while connected (zero: never),
  /// for a peer that answers it and so keeps heartbeat_timeout from firing.
  std::chrono::milliseconds heartbeat_interval{0};
  std::string heartbeat_message;

  /// Runs on each new connection before the queued sends are flushed: log
  /// in, rejoin rooms (with `since`, to recover what was missed).  A failure
  /// drops that connection and counts as a failed attempt.
  std::function<asio::awaitable<result<void>>(channel& ch)> on_connected;
  /// Every change of state, on the channel's executor.
  std::function<void(const connection_event&)> on_state;
  /// Where delays are timed (null: the steady clock).  Tests pass a manual_clock.
  std::shared_ptr<coronet::clock> clock;
};

struct reconnect_stats {
  std::uint64_t attempts = 0;      ///< connect() calls
  std::uint64_t connections = 0;   ///< connections made (on_connected passed)
  std::uint64_t losses = 0;        ///< connections lost (not by close()/abort())
  std::uint64_t queue_dropped = 0; ///< queued sends dropped by the queue policy or at close
  std::size_t queued = 0;          ///< sends waiting for a connection now
};

class reconnecting_channel {
public:
  /// Starts connecting to `url` at once (on `ex`).
  reconnecting_channel(asio::any_io_executor ex, std::string url, reconnect_options o = {});

  /// The next message from whichever connection is up, waiting across
  /// reconnections.  Fails with errc::timeout after set_receive_timeout()'s
  /// deadline, errc::closed after close()/abort()/stop_receiving(), or the
  /// error that made it give up.
  asio::awaitable<result<message_view>> receive();
  /// A message already received, else errc::would_block.
  result<message_view> try_receive();
  /// Sent on the connection, or queued while there is none (see queue_policy).
  asio::awaitable<result<void>> send(message_view m);
  /// The same without waiting: errc::backpressure where send() would wait.
  result<void> try_send(message_view m);
  /// Stops reconnecting and closes the connection gracefully (flushing it);
  /// sends still queued for a connection are dropped and counted.
  asio::awaitable<result<void>> close(close_reason why = {});
  /// Stops reconnecting and drops the connection now.
  void abort();
  void set_receive_timeout(std::chrono::milliseconds timeout);
  void stop_receiving();

  connection_state state() const;
  /// The connection now, or an empty channel while there is none.
  channel current() const;
  reconnect_stats stats() const;
  /// Those of the connection now, or of the last one (before the first:
  /// none promised).
  const coronet::properties& properties() const;
  /// The peer of the connection now, or the URL.
  std::string remote() const;
  asio::any_io_executor get_executor();

  struct state_type;

private:
  // The last handle to go (copies share one) aborts: nothing reconnects
  // for an application that has let go of it.
  struct handle;
  std::shared_ptr<handle> h_;
};

} // namespace coronet
