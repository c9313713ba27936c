// framed<Stream, Codec>: a message endpoint made of a byte stream and a
// framing codec (length-prefixed, line or raw).
//
// Contract
// - One reader: at most one receive() in flight.  A message_view returned by
//   receive() is valid until the next receive().
// - Many senders: any number of coroutines on the endpoint's executor may
//   send().  send() copies the message into the endpoint's send queue and
//   completes once it is queued, not once it is on the wire; a write error is
//   reported by the next send() (and close()).
// - One writer: the queue is written by a single chain of writes.  Every
//   message queued while the application runs (for example all the replies to
//   the messages one read produced) goes out in one write.
// - The queue is bounded in bytes (options::send_queue_limit).  When it is
//   full, send() follows options::slow_consumer; try_send() fails with
//   errc::backpressure.
// - close() stops receiving, waits (up to options::close_timeout) for the
//   queue to reach the socket, half-closes, waits for the peer to
//   acknowledge the last bytes, then closes.  Nothing that send() accepted is dropped by a graceful
//   close.
//
// The object is a handle: the per-connection state lives in one shared
// allocation that in-flight writes keep alive; the options are shared by all
// connections of a listener.  Not thread-safe: use it from its executor.
#pragma once

#include <coronet/codec.hpp>
#include <coronet/detail/event.hpp>
#include <coronet/detail/read_buffer.hpp>
#include <coronet/detail/use_result.hpp>
#include <coronet/detail/write_queue.hpp>
#include <coronet/message.hpp>
#include <coronet/options.hpp>
#include <coronet/stream.hpp>
#include <coronet/timeout.hpp>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace coronet {

template <stream Stream, class Codec>
class framed {
public:
  using executor_type = typename Stream::executor_type;
  using next_layer_type = Stream;

  framed(Stream s, std::shared_ptr<const endpoint_config> config)
      : st_(std::make_shared<state>(std::move(s), std::move(config))) {}

  // A handle owns its connection: dropping it without close() drops the
  // connection (writes still in flight end with it).
  framed(framed&&) noexcept = default;
  framed& operator=(framed&&) noexcept = default;
  ~framed() {
    if (st_) st_->abort(errc::closed);
  }

  /// Completes with the next message, errc::closed once the peer has ended
  /// the stream (or close() was called), errc::message_too_large or
  /// errc::protocol_error if the peer broke the framing (the connection is
  /// then unusable), or a system error.  With a receive timeout set,
  /// errc::timeout after that long without a message (nothing is lost).
  asio::awaitable<result<message_view>> receive() {
    auto timeout = st_->receive_timeout;
    if (timeout.count() > 0) return with_timeout(st_->receive(), timeout);
    return st_->receive();
  }

  /// The deadline of each later receive() (zero: none); it starts as
  /// options::receive_timeout.
  void set_receive_timeout(std::chrono::milliseconds timeout) { st_->receive_timeout = timeout; }

  /// The next message if a read already brought it (errc::would_block
  /// otherwise, and while a receive() is pending); see channel::try_receive().
  result<message_view> try_receive() { return st_->try_receive(); }

  /// Queues `m`; see the class comment for when it waits.
  asio::awaitable<result<void>> send(message_view m) { return st_->send(m); }

  /// Queues `m` if the queue has room, else fails with errc::backpressure.
  result<void> try_send(message_view m) { return st_->try_send(m); }

  /// Graceful close; see the class comment.  The reason is not sent: a byte
  /// stream has no close frame.
  asio::awaitable<result<void>> close(close_reason = {}) { return st_->close(); }

  /// Ends receiving now: a pending receive() completes with errc::closed.
  /// Sending goes on until close().
  void stop_receiving() { st_->stop_receiving(); }

  /// Drops the connection at once; queued messages are lost.
  void abort() { st_->abort(errc::closed); }

  const coronet::properties& properties() const { return st_->config->properties; }
  std::string remote() const { return st_->stream.remote(); }
  executor_type get_executor() { return st_->stream.get_executor(); }
  Stream& next_layer() { return st_->stream; }
  /// What the stream keeps (tls_info for tls://); see channel::info().
  const void* info(const std::type_info& type) const { return next_layer_info(st_->stream, type); }

  /// Bytes accepted by send() and not yet written to the stream.
  std::size_t queued_bytes() const { return st_->queued(); }
  /// Messages dropped by slow_consumer_policy::drop_newest.
  std::size_t dropped_messages() const { return st_->dropped; }

private:
  struct state : std::enable_shared_from_this<state>, detail::write_queue<state, Stream> {
    using writer = detail::write_queue<state, Stream>;
    using writer::pending, writer::writing, writer::flush_posted, writer::write_error,
        writer::queued, writer::schedule_flush, writer::start_write, writer::wait, writer::wake;

    Stream stream;
    Codec codec;
    std::shared_ptr<const endpoint_config> config;

    // Receive side: bytes [rbegin, rend) of rbuf are unparsed input.
    std::unique_ptr<std::byte[]> rbuf;
    std::size_t rcap = 0, rbegin = 0, rend = 0, consume_next = 0;
    std::error_code receive_error; // sticky once the framing is broken
    std::chrono::milliseconds receive_timeout;
    bool receiving_stopped = false;
    bool in_receive = false; // a receive() is running: try_receive() stays out

    // Send side (the queue itself is the write_queue base).
    bool send_closed = false;
    std::size_t dropped = 0;

    state(Stream s, std::shared_ptr<const endpoint_config> c)
        : stream(std::move(s)), config(std::move(c)),
          receive_timeout(config->options.receive_timeout) {}

    const options& opts() const { return config->options; }

    // ---- receive ----------------------------------------------------------

    void consume_last() {
      if (!consume_next) return;
      rbegin += consume_next;
      consume_next = 0;
      if (rbegin == rend) rbegin = rend = 0;
    }

    result<message_view> try_receive() {
      if (in_receive || receive_error || stream_closed) return fail(errc::would_block);
      consume_last();
      auto step = codec.decode({rbuf.get() + rbegin, rend - rbegin}, opts().max_message);
      if (!step || !step->consumed) return fail(errc::would_block); // receive() reports errors
      consume_next = step->consumed;
      return message_view({rbuf.get() + rbegin + step->offset, step->length}, message_kind::binary);
    }

    asio::awaitable<result<message_view>> receive() {
      auto self = this->shared_from_this(); // the handle may go while we wait
      struct reader_mark {
        bool& flag;
        explicit reader_mark(bool& f) : flag(f) { flag = true; }
        ~reader_mark() { flag = false; }
      } mark(in_receive);
      if (send_closed && !receiving_stopped) receiving_stopped = true;
      consume_last();
      if (receive_error) co_return fail(receive_error);
      for (;;) {
        if (stream_closed) co_return fail(errc::closed);
        auto step = codec.decode({rbuf.get() + rbegin, rend - rbegin}, opts().max_message);
        if (!step) {
          receive_error = step.error();
          co_return fail(receive_error);
        }
        if (step->consumed) {
          consume_next = step->consumed;
          co_return message_view({rbuf.get() + rbegin + step->offset, step->length},
                                 message_kind::binary);
        }
        if (receiving_stopped) co_return fail(errc::closed);
        // About to wait for input: send the replies queued so far first, as
        // a hand-written read/write loop would, rather than after a read
        // that will most likely find nothing.
        if (flush_posted) {
          start_write();
          // Let the other ready connections run before reading again, as a
          // posted write completion would: under load more input has then
          // arrived, and the read does not come back empty (EAGAIN).
          co_await asio::post(stream.get_executor(), asio::use_awaitable);
        }
        make_room(step->wanted);
        auto [ec, n] = co_await stream.async_read_some(asio::buffer(rbuf.get() + rend, rcap - rend),
                                                       detail::use_tuple);
        if (ec) {
          bool mid_message = rend > rbegin;
          if (receiving_stopped) co_return fail(errc::closed);
          auto e = detail::normalize_stream_error(ec);
          if (e == errc::closed && mid_message) e = errc::protocol_error; // truncated message
          if (ec != asio::error::operation_aborted) receive_error = e;
          co_return fail(e);
        }
        // A read that fills the buffer says a larger one would pay off.
        if (rend + n == rcap) grow_hint = true;
        rend += n;
      }
    }

    bool grow_hint = false;

    // Ensures free space after rend, enough for `wanted` bytes from rbegin when known.
    void make_room(std::size_t wanted) {
      std::size_t have = rend - rbegin;
      std::size_t need = std::max(wanted, have + 1);
      std::size_t cap = rcap;
      if (cap == 0) cap = std::min<std::size_t>(opts().read_buffer_size, 4096);
      if (grow_hint && cap < opts().read_buffer_size)
        cap = std::min(cap * 2, opts().read_buffer_size);
      grow_hint = false;
      // A known size gets room for one more read beyond it, so that reads
      // are not cut at every message boundary.
      if (need > cap) cap = wanted ? need + opts().read_buffer_size : std::max(need, cap * 2);
      detail::reshape_read_buffer(rbuf, rcap, rbegin, rend, cap, need - have);
    }

    void stop_receiving() {
      if (receiving_stopped) return;
      receiving_stopped = true;
      (void)stream.shutdown(asio::socket_base::shutdown_receive);
    }

    // ---- send -------------------------------------------------------------

    result<void> check_send(message_view m) const {
      if (write_error) return fail(write_error);
      if (send_closed) return fail(errc::closed);
      if (m.size() > Codec::max_encodable) return fail(errc::message_too_large);
      if constexpr (requires(const Codec& c, message_view v) { c.check(v); }) return codec.check(m);
      return {};
    }

    bool has_room(std::size_t n) const { return this->fits(n, opts().send_queue_limit); }

    void enqueue(message_view m) {
      codec.encode(m, pending);
      schedule_flush();
    }

    result<void> try_send(message_view m) {
      if (auto ok = check_send(m); !ok) return ok;
      if (!has_room(m.size())) return fail(errc::backpressure);
      enqueue(m);
      return {};
    }

    asio::awaitable<result<void>> send(message_view m) {
      if (auto ok = check_send(m); !ok) co_return ok;
      if (!has_room(m.size())) {
        auto self = this->shared_from_this(); // the handle may go while we wait
        switch (opts().slow_consumer) {
        case slow_consumer_policy::drop_newest:
        case slow_consumer_policy::drop_oldest: ++dropped; co_return fail(errc::backpressure);
        case slow_consumer_policy::disconnect:
          abort(errc::backpressure);
          co_return fail(errc::backpressure);
        case slow_consumer_policy::wait:
          while (!has_room(m.size())) {
            co_await wait();
            if (auto ok = check_send(m); !ok) co_return ok;
          }
        }
      }
      enqueue(m);
      co_return result<void>{};
    }

    // ---- close ------------------------------------------------------------

    asio::awaitable<result<void>> close() {
      auto self = this->shared_from_this(); // keep the state while we wait
      if (send_closed) co_return result<void>{};
      send_closed = true;
      stop_receiving();
      start_write();
      auto deadline = std::chrono::steady_clock::now() + opts().close_timeout;
      {
        // The deadline wakes us like a finished write would; waiting inline
        // (not through with_timeout) leaves no gap in which a wake-up is lost.
        asio::steady_timer limit(stream.get_executor(), deadline);
        limit.async_wait([self](std::error_code ec) {
          if (!ec) self->wake();
        });
        while ((writing || !pending.empty()) && !write_error &&
               std::chrono::steady_clock::now() < deadline)
          co_await wait();
      }
      bool drained = !writing && pending.empty() && !write_error;
      if (drained) {
        (void)stream.shutdown(asio::socket_base::shutdown_send);
        // A peer that ended its side (or broke the connection) left nothing
        // unread here, so closing cannot reset our last bytes away.
        if (!receive_error) co_await linger(deadline);
      }
      auto err = write_error;
      abort(errc::closed);
      if (!drained) co_return fail(err ? err : std::error_code(errc::timeout));
      co_return result<void>{};
    }

    // After our FIN, wait until the peer has everything we sent before the
    // socket is closed: closing with unread input sends a reset, and a reset
    // throws away whatever of ours the peer's kernel has not acknowledged.
    asio::awaitable<void> linger(std::chrono::steady_clock::time_point deadline) {
      if constexpr (detail::has_unacknowledged<Stream>) {
        asio::steady_timer tick(stream.get_executor());
        auto pause = std::chrono::milliseconds(1);
        std::byte scratch[4096];
        // The count includes our FIN; 1 means every data byte is acknowledged
        // (a peer still flooding a zero window may never get to ack the FIN).
        while (stream.unacknowledged_bytes() > 1 && std::chrono::steady_clock::now() < deadline) {
          // Keep reading (and dropping) what the peer still sends: with our
          // receive window shut, its segments, and the acknowledgements they
          // carry, are discarded and our last bytes may never be acked.
          if constexpr (detail::has_try_read<Stream>) {
            std::error_code ec;
            for (int i = 0; i < 256; ++i)
              if (stream.try_read_some(asio::buffer(scratch), ec) == 0 || ec) break;
          }
          tick.expires_after(pause);
          pause = std::min(pause * 2, std::chrono::milliseconds(10));
          co_await tick.async_wait(detail::use_tuple);
        }
      } else {
        // No acknowledgement count: read until the peer ends its side.
        std::byte scratch[1024];
        for (;;) {
          auto left = deadline - std::chrono::steady_clock::now();
          if (left <= left.zero()) co_return;
          auto n = co_await with_timeout(read_into(asio::buffer(scratch)), left);
          if (!n) co_return;
        }
      }
    }

    asio::awaitable<result<std::size_t>> read_into(asio::mutable_buffer b) {
      auto [ec, n] = co_await stream.async_read_some(b, detail::use_tuple);
      if (ec) co_return fail(detail::normalize_stream_error(ec));
      co_return n;
    }

    bool stream_closed = false; // close() or abort() ended it: receive() says closed

    void abort(std::error_code why) {
      stream_closed = true;
      if (!write_error) write_error = why;
      send_closed = true;
      receiving_stopped = true;
      stream.close();
      wake();
    }
  };

  std::shared_ptr<state> st_;
};

} // namespace coronet
