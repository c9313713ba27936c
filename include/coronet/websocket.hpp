// websocket<Stream>: an RFC 6455 WebSocket over any coronet stream (tcp_stream
// for ws://, tls_stream for wss://), and the opening handshake on both sides.
//
//   // server side, on a stream just accepted:
//   auto ws = co_await coronet::accept_websocket(std::move(stream), config);
//   // client side, on a stream just connected:
//   auto ws = co_await coronet::websocket_handshake(std::move(stream), "example.com", "/chat",
//                                                   config);
//
// Most applications never name this type: connect("ws://..."), listen() and
// serve() hand out coronet::channel.
//
// Contract
// - One reader: at most one receive() in flight.  A message_view returned by
//   receive() is valid until the next receive(); its kind says text or binary.
// - Many senders, one writer: send() frames the message into the endpoint's
//   write queue and completes once it is queued.  Pings, pongs and close
//   frames go through the same queue, so frames never interleave.  Every
//   frame queued while the application runs goes out in one write.
// - Pings are answered by receive(); with websocket_options::ping_interval
//   set, pongs are only seen while a receive() is pending (the usual loop).
// - The close handshake (RFC 6455 section 7): close() sends a close frame,
//   waits for the peer's (a pending receive() consumes it), lets the queue
//   drain and closes the TCP connection (the client waits for the server to
//   close first).  Everything is bounded by options::close_timeout; past it
//   the connection is dropped and close() fails with errc::timeout.
// - A peer that breaks the protocol gets the matching close code (1002,
//   1007 for bad UTF-8, 1009 for a message over options::max_message) and
//   receive() fails with errc::protocol_error, errc::invalid_utf8 or
//   errc::message_too_large.  A peer's own close ends receive() with
//   errc::closed (codes 1000, 1001, none) or its code in
//   close_code_category(); close_status() has the code and reason.
//
// The object is a handle: the connection's state lives in one shared
// allocation that in-flight writes keep alive; options are shared by every
// connection of a listener.  Not thread-safe: use it from its executor.
#pragma once

#include <coronet/channel.hpp>
#include <coronet/detail/event.hpp>
#include <coronet/detail/use_result.hpp>
#include <coronet/detail/write_queue.hpp>
#include <coronet/detail/ws_handshake.hpp>
#include <coronet/detail/ws_protocol.hpp>
#include <coronet/error.hpp>
#include <coronet/message.hpp>
#include <coronet/options.hpp>
#include <coronet/stream.hpp>
#include <coronet/timeout.hpp>
#include <coronet/url.hpp>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace coronet {

/// What a WebSocket channel knows of its opening handshake
/// (channel::info<websocket_info>()).
struct websocket_info {
  /// Server: the upgrade request as received (path, query, the peer's
  /// address, and its headers less those of the handshake itself: Upgrade,
  /// Connection, Sec-WebSocket-*).  Client: the request as sent (its target,
  /// path and the extra headers).
  http_request request;
  /// The negotiated subprotocol, or "" for none.
  std::string subprotocol;
  /// Server: what websocket_options::authorize allowed the connection with
  /// (channel::info<T>() finds its details, e.g. jwt_claims).
  authorization granted = authorization::allow();
};

/// How the peer ended the connection.
struct close_status {
  std::uint16_t code = 1006; ///< 1006 until a close frame arrives; 1005 if it had no code
  std::string reason;
};

template <stream Stream>
class websocket {
public:
  using executor_type = typename Stream::executor_type;
  using role = detail::ws_protocol::role;

  /// Wraps a stream on which the handshake is done.  `initial` holds bytes
  /// read past the handshake (the first frames).
  websocket(Stream s, role r, std::shared_ptr<const endpoint_config> config,
            std::span<const std::byte> initial = {}, websocket_info handshake = {})
      : st_(std::make_shared<state>(std::move(s), r, std::move(config))) {
    st_->handshake = std::move(handshake);
    if (!initial.empty()) {
      st_->proto.prime(initial, st_->pending);
      st_->schedule_flush();
    }
    st_->start_keepalive();
  }
  websocket(websocket&&) noexcept = default;
  websocket& operator=(websocket&&) noexcept = default;
  ~websocket() {
    if (st_) st_->abort(errc::closed);
  }

  /// The next text or binary message; see the class comment for how it fails.
  asio::awaitable<result<message_view>> receive() {
    auto timeout = st_->receive_timeout;
    if (timeout.count() > 0) return with_timeout(st_->receive(), timeout);
    return st_->receive();
  }
  /// The deadline of each later receive() (zero: none; errc::timeout, the
  /// connection stays usable); it starts as options::receive_timeout.
  void set_receive_timeout(std::chrono::milliseconds timeout) { st_->receive_timeout = timeout; }
  /// The next message if a read already brought it (errc::would_block
  /// otherwise, and while a receive() or close() is reading); see
  /// channel::try_receive().
  result<message_view> try_receive() { return st_->try_receive(); }
  /// Queues `m` as one message (text frames must be UTF-8: else
  /// errc::invalid_utf8).  Waits or fails per options::slow_consumer when the
  /// queue is full.
  asio::awaitable<result<void>> send(message_view m) { return st_->send(m); }
  /// Queues `m` if there is room, else fails with errc::backpressure.
  result<void> try_send(message_view m) { return st_->try_send(m); }
  /// Queues a ping (payload at most 125 bytes).
  result<void> ping(std::span<const std::byte> payload = {}) { return st_->ping(payload); }
  /// The close handshake; see the class comment.  Codes that may not be
  /// sent are replaced by 1000.
  asio::awaitable<result<void>> close(close_reason why = {}) { return st_->close(why); }
  /// Ends receiving now: a pending receive() completes with errc::closed.
  void stop_receiving() { st_->stop_receiving(); }
  /// Drops the connection without a close handshake.
  void abort() { st_->abort(errc::closed); }

  const coronet::properties& properties() const { return st_->config->properties; }
  std::string remote() const { return st_->stream.remote(); }
  executor_type get_executor() { return st_->stream.get_executor(); }
  Stream& next_layer() { return st_->stream; }

  /// websocket_info (the opening handshake: request, subprotocol), its
  /// http_request (what server routes go by), or what the stream under it
  /// keeps (tls_info for wss://); see channel::info() and coronet::info().
  const void* info(const std::type_info& type) const {
    if (type == typeid(websocket_info)) return &st_->handshake;
    if (auto details = st_->handshake.granted.details(type)) return details;
    if (type == typeid(http_request)) return &st_->handshake.request;
    return next_layer_info(st_->stream, type);
  }
  /// The peer's close frame, once one arrived.
  coronet::close_status close_status() const {
    auto& p = st_->proto;
    return {p.close_received() ? p.peer_close_code() : std::uint16_t(1006),
            std::string(p.peer_close_reason())};
  }
  /// Bytes accepted by send() and not yet written to the stream.
  std::size_t queued_bytes() const { return st_->queued(); }

private:
  struct state : std::enable_shared_from_this<state>, detail::write_queue<state, Stream> {
    using writer = detail::write_queue<state, Stream>;
    using writer::pending, writer::writing, writer::flush_posted, writer::write_error,
        writer::queued, writer::schedule_flush, writer::start_write, writer::wait, writer::wake;

    Stream stream;
    detail::ws_protocol proto;
    std::shared_ptr<const endpoint_config> config;
    role side;
    std::chrono::milliseconds receive_timeout;
    websocket_info handshake;
    bool reading = false, receiving_stopped = false, stream_closed = false;
    // One reader: a receive() is running (in_receive), or close() reads for
    // the peer's close frame (close_reading); each waits for the other.
    bool in_receive = false, close_reading = false;
    bool peer_ended = false; // the peer's side of the stream is done (end of stream or error)
    std::error_code abort_reason;

    bool closing = false, close_timed_out = false;

    std::unique_ptr<asio::steady_timer> keepalive;
    bool ping_outstanding = false;
    std::chrono::steady_clock::time_point ping_sent;

    state(Stream s, role r, std::shared_ptr<const endpoint_config> c)
        : stream(std::move(s)), proto(r, c->options.max_message, c->options.websocket.fragment_size,
                                      c->options.read_buffer_size),
          config(std::move(c)), side(r), receive_timeout(config->options.receive_timeout) {}

    const options& opts() const { return config->options; }

    // ---- receive ----------------------------------------------------------

    result<message_view> try_receive() {
      if (in_receive || close_reading) return fail(errc::would_block);
      return proto.try_next();
    }

    asio::awaitable<result<message_view>> receive() {
      // The handle may go while we wait: hold the state from the first wait
      // on (a message already parsed costs no reference count).
      std::shared_ptr<state> self;
      struct reader_mark {
        state& s;
        explicit reader_mark(state& st) : s(st) { s.in_receive = true; }
        ~reader_mark() {
          s.in_receive = false;
          s.wake(); // a close() waiting for the reader
        }
      } mark(*this); // after `self`: destroyed before it
      for (;;) {
        if (auto m = proto.next()) co_return *m;
        if (auto e = proto.receive_error()) co_return fail(e);
        if (stream_closed) co_return fail(abort_reason ? abort_reason : errc::closed);
        if (receiving_stopped) co_return fail(errc::closed);
        if (!self) self = this->shared_from_this();
        if (close_reading) { // close() is reading the peer's close frame
          co_await wait();
          continue;
        }
        if (flush_posted) {
          // About to wait for input: send what the application queued first
          // (see framed.hpp for why the post follows), then look again: the
          // state may have changed meanwhile (stop_receiving(), close()).
          start_write();
          co_await asio::post(stream.get_executor(), asio::use_awaitable);
          continue;
        }
        // The read inline, not through read_once(): one coroutine frame
        // less per read (Asio recycles only two per thread).
        auto [ec, n] = co_await stream.async_read_some(read_buffer(), detail::use_tuple);
        if (auto got = on_read(ec, n); !got) co_return fail(got.error());
      }
    }

    // One read, fed to the protocol engine.  Replies it produces are queued.
    asio::awaitable<result<std::size_t>> read_once() {
      auto [ec, n] = co_await stream.async_read_some(read_buffer(), detail::use_tuple);
      co_return on_read(ec, n);
    }

    // The engine's input buffer (it reshapes it only now, before a read).
    asio::mutable_buffer read_buffer() {
      reading = true;
      auto space = proto.input_space();
      return asio::buffer(space.data(), space.size());
    }

    result<std::size_t> on_read(std::error_code ec, std::size_t n) {
      reading = false;
      wake();
      if (ec) {
        // Cancelled (a with_timeout() deadline): nothing was lost, go on later.
        if (ec == asio::error::operation_aborted && !stream_closed) return fail(errc::closed);
        peer_ended = true;
        auto e = stream_closed && abort_reason ? abort_reason : detail::normalize_stream_error(ec);
        if (receiving_stopped && !stream_closed) e = errc::closed;
        proto.stop_receiving(e);
        return fail(e);
      }
      proto.commit_input(n, pending);
      schedule_flush();
      return n;
    }

    void stop_receiving() {
      if (receiving_stopped) return;
      receiving_stopped = true;
      if (reading) (void)stream.shutdown(asio::socket_base::shutdown_receive);
    }

    // ---- send -------------------------------------------------------------

    result<void> check_send() const {
      if (write_error) return fail(write_error);
      if (closing || proto.close_sent()) return fail(errc::closed);
      return {};
    }

    bool has_room(std::size_t n) const { return this->fits(n, opts().send_queue_limit); }

    result<void> enqueue(message_view m) {
      if (auto ok = proto.send(m.data, m.kind, pending); !ok) return ok;
      schedule_flush();
      return {};
    }

    result<void> try_send(message_view m) {
      if (auto ok = check_send(); !ok) return ok;
      if (!has_room(m.size())) return fail(errc::backpressure);
      return enqueue(m);
    }

    asio::awaitable<result<void>> send(message_view m) {
      if (auto ok = check_send(); !ok) co_return ok;
      if (!has_room(m.size())) {
        auto self = this->shared_from_this(); // the handle may go while we wait
        switch (opts().slow_consumer) {
        case slow_consumer_policy::drop_newest:
        case slow_consumer_policy::drop_oldest: co_return fail(errc::backpressure);
        case slow_consumer_policy::disconnect:
          abort(errc::backpressure);
          co_return fail(errc::backpressure);
        case slow_consumer_policy::wait:
          while (!has_room(m.size())) {
            co_await wait();
            if (auto ok = check_send(); !ok) co_return ok;
          }
        }
      }
      co_return enqueue(m);
    }

    result<void> ping(std::span<const std::byte> payload) {
      if (auto ok = check_send(); !ok) return ok;
      if (auto ok = proto.ping(payload, pending); !ok) return ok;
      schedule_flush();
      return {};
    }

    // ---- keepalive --------------------------------------------------------

    void start_keepalive() {
      auto& ws = opts().websocket;
      if (ws.ping_interval.count() <= 0) return;
      keepalive = std::make_unique<asio::steady_timer>(stream.get_executor());
      arm_keepalive(std::min(ws.ping_interval, std::max(ws.pong_timeout, ws.ping_interval)));
    }

    void arm_keepalive(std::chrono::milliseconds after) {
      keepalive->expires_after(after);
      keepalive->async_wait([w = this->weak_from_this()](std::error_code ec) {
        auto self = w.lock();
        if (ec || !self || self->stream_closed) return;
        self->on_keepalive();
      });
    }

    void on_keepalive() {
      auto& ws = opts().websocket;
      auto now = std::chrono::steady_clock::now();
      if (proto.take_pong()) ping_outstanding = false;
      if (ping_outstanding) {
        if (now - ping_sent >= ws.pong_timeout) {
          abort(errc::timeout); // no pong in time: the peer or the path is gone
          return;
        }
        arm_keepalive(std::chrono::duration_cast<std::chrono::milliseconds>(ws.pong_timeout -
                                                                            (now - ping_sent)));
        return;
      }
      if (ping({})) {
        ping_outstanding = true;
        ping_sent = now;
      }
      arm_keepalive(ws.ping_interval);
    }

    // ---- close ------------------------------------------------------------

    asio::awaitable<result<void>> close(close_reason why) {
      auto self = this->shared_from_this();
      if (closing || stream_closed) co_return result<void>{};
      closing = true;
      auto deadline = std::chrono::steady_clock::now() + opts().close_timeout;
      asio::steady_timer limit(stream.get_executor(), deadline);
      limit.async_wait([self](std::error_code ec) {
        if (ec || self->stream_closed) return;
        self->close_timed_out = true;
        self->abort(errc::timeout);
      });
      if (!proto.close_sent()) proto.close(why.code, why.reason, pending);
      start_write();
      // The peer's close frame: a pending receive() reads it, else we do.
      // (Not after a failure of ours or the peer's close: receive_error is set.)
      while (!proto.receive_error() && !stream_closed && !receiving_stopped) {
        if (in_receive) {
          co_await wait();
          continue;
        }
        // Data after our close is dropped without touching the message the
        // application may still hold.
        if (!proto.discarding()) {
          proto.discard_messages(pending);
          continue; // what it parsed may have been the peer's close
        }
        close_reading = true;
        auto n = co_await read_once();
        close_reading = false;
        wake();
        if (!n) break;
      }
      while ((writing || !pending.empty()) && !write_error && !stream_closed) co_await wait();
      if (!stream_closed && !write_error) {
        (void)stream.shutdown(asio::socket_base::shutdown_send);
        if (!peer_ended) co_await linger(); // a peer that left reads nothing more
      }
      limit.cancel();
      bool timed_out = close_timed_out;
      auto err = write_error;
      abort(errc::closed);
      if (timed_out) co_return fail(errc::timeout);
      if (err) co_return fail(err);
      co_return result<void>{};
    }

    // After our FIN: the server waits until the peer has our last bytes
    // (closing with unread input would reset them away); the client waits
    // for the server to end the TCP connection, as RFC 6455 section 7.1.1
    // asks.  The close deadline bounds both.
    asio::awaitable<void> linger() {
      if constexpr (detail::has_unacknowledged<Stream>) {
        if (side == role::server) {
          asio::steady_timer tick(stream.get_executor());
          auto pause = std::chrono::milliseconds(1);
          while (stream.unacknowledged_bytes() > 1 && !stream_closed) {
            tick.expires_after(pause);
            pause = std::min(pause * 2, std::chrono::milliseconds(10));
            co_await tick.async_wait(detail::use_tuple);
          }
          co_return;
        }
      }
      std::byte scratch[512];
      while (!stream_closed) {
        auto [ec, n] = co_await stream.async_read_some(asio::buffer(scratch), detail::use_tuple);
        if (ec) break;
      }
      peer_ended = true;
    }

    void abort(std::error_code why) {
      if (stream_closed) return;
      stream_closed = true;
      if (!abort_reason) abort_reason = why;
      if (!write_error) write_error = why;
      receiving_stopped = true;
      if (keepalive) keepalive->cancel();
      stream.close();
      wake();
    }
  };

  std::shared_ptr<state> st_;
};

namespace detail {
// After a refusal: read (and drop) what the client still sends, briefly, so
// that closing with unread input does not reset the response away.
template <stream Stream>
asio::awaitable<void> drain_before_close(Stream& s) {
  std::byte scratch[4096];
  for (std::size_t total = 0; total < 256 * 1024;) {
    auto n = co_await with_timeout(coronet::read_some(s, asio::buffer(scratch)),
                                   std::chrono::milliseconds(200));
    if (!n) co_return;
    total += *n;
  }
}
} // namespace detail

/// Server side of the opening handshake on a freshly accepted stream: reads
/// the request (at most websocket_options::max_header_bytes, else 431),
/// answers it and, if it was a valid upgrade that the origin, path and
/// authorize checks accept, returns the WebSocket.  Otherwise the response
/// (400, 403, 404, 426, the hook's own, or http_handler's page) is sent, the
/// stream closed, and the result is errc::unauthorized (401, 403) or
/// errc::handshake_failed.  `url_path` is the listen URL's path.  Bound it
/// with with_timeout(); the listeners use websocket_options::handshake_timeout.
template <stream Stream>
asio::awaitable<result<websocket<Stream>>>
accept_websocket(Stream s, std::shared_ptr<const endpoint_config> config,
                 std::string_view url_path = "/") {
  auto& wo = config->options.websocket;
  std::string head;
  auto n = co_await read_until(s, head, "\r\n\r\n", wo.max_header_bytes);
  if (!n) {
    if (n.error() == errc::message_too_large) {
      auto refusal = detail::refusal_response(431, wo);
      co_await coronet::write(s, asio::buffer(refusal));
      (void)s.shutdown(asio::socket_base::shutdown_send);
      co_await detail::drain_before_close(s);
    }
    s.close();
    co_return fail(errc::handshake_failed);
  }
  auto d = detail::decide_upgrade(std::string_view(head).substr(0, *n), wo, config->options.paths,
                                  url_path, s.remote());
  auto written = co_await coronet::write(s, asio::buffer(d.response));
  if (!written) co_return fail(written.error());
  if (!d.upgrade) {
    (void)s.shutdown(asio::socket_base::shutdown_send);
    co_await detail::drain_before_close(s);
    s.close();
    co_return fail(d.status == 401 || d.status == 403 ? errc::unauthorized
                                                      : errc::handshake_failed);
  }
  auto initial = std::as_bytes(std::span(head).subspan(*n));
  co_return websocket<Stream>(
      std::move(s), websocket<Stream>::role::server, std::move(config), initial,
      {std::move(d.request), std::move(d.subprotocol), std::move(d.granted)});
}

/// Client side of the opening handshake on a connected stream: sends the
/// upgrade request for `target` ("/chat?room=1") with Host `host` and checks
/// the response (status 101, accept key, subprotocol).  A refusal fails with
/// the status in http_status_category() (its message is the status line);
/// anything else wrong with errc::handshake_failed.  `host` and `target`
/// must stay valid until it completes.
template <stream Stream>
asio::awaitable<result<websocket<Stream>>>
websocket_handshake(Stream s, std::string_view host, std::string_view target,
                    std::shared_ptr<const endpoint_config> config) {
  auto& wo = config->options.websocket;
  auto request = detail::make_upgrade_request(host, target, wo);
  if (!request) co_return fail(request.error());
  auto written = co_await coronet::write(s, asio::buffer(request->bytes));
  if (!written) co_return fail(written.error());
  std::string head;
  auto n = co_await read_until(s, head, "\r\n\r\n", wo.max_header_bytes);
  if (!n)
    co_return fail(n.error() == errc::closed || n.error() == errc::message_too_large
                       ? std::error_code(errc::handshake_failed)
                       : n.error());
  auto chosen =
      detail::check_upgrade_response(std::string_view(head).substr(0, *n), request->key, wo);
  if (!chosen) co_return fail(chosen.error());
  auto initial = std::as_bytes(std::span(head).subspan(*n));
  websocket_info sent;
  sent.request.method = "GET";
  sent.request.target = std::string(target);
  sent.request.path = std::string(target.substr(0, target.find('?')));
  if (auto q = target.find('?'); q != std::string_view::npos)
    sent.request.query = std::string(target.substr(q + 1));
  sent.request.headers = wo.request_headers;
  sent.request.remote = s.remote();
  sent.subprotocol = std::move(*chosen);
  co_return websocket<Stream>(std::move(s), websocket<Stream>::role::client, std::move(config),
                              initial, std::move(sent));
}

// ---- composition points for transports (ws://, wss://, yours) -------------

namespace transports {
/// What a WebSocket channel promises under `o`.
properties websocket_properties(const options& o, bool encrypted);
/// The `option` of a WebSocket scheme: every query key is the application's
/// (tokens, room names) and goes to the server with the request.
result<void> websocket_option(std::string_view key, std::string_view value, options& o,
                              std::string& why);
} // namespace transports

/// The server's side of a WebSocket over `s` (just accepted, or after a TLS
/// handshake) as a channel; see accept_websocket().
template <stream Stream>
asio::awaitable<result<channel>>
accept_websocket_channel(Stream s, std::shared_ptr<const endpoint_config> c, std::string url_path) {
  auto ws = co_await accept_websocket(std::move(s), std::move(c), url_path);
  if (!ws) co_return fail(ws.error());
  co_return channel(std::move(*ws));
}

/// The client's side: the upgrade for `u` (Host is its authority; the
/// target its path and query, less coronet's own options) over the
/// connected `s`, within websocket_options::handshake_timeout, as a channel.
/// `u` must stay valid until it completes.
template <stream Stream>
asio::awaitable<result<channel>>
connect_websocket_channel(Stream s, const url& u, std::shared_ptr<const endpoint_config> c) {
  auto host = u.authority();
  auto target = detail::websocket_target(u);
  auto timeout = c->options.websocket.handshake_timeout;
  auto ws =
      co_await with_timeout(websocket_handshake(std::move(s), host, target, std::move(c)), timeout);
  if (!ws) co_return fail(ws.error());
  co_return channel(std::move(*ws));
}

} // namespace coronet
