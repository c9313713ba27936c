// Private: the send side that framed<> and websocket<> share.
//
// `pending` collects encoded frames while `inflight` is on the wire: one
// writer, and every frame queued before the endpoint next waits goes out in
// one write (schedule_flush() posts the write instead of starting it).  A
// write that fits the socket buffer completes through try_write_some, with
// no completion to dispatch.  A write error is kept in `write_error` and
// reported by the endpoint's next send().
//
// A base of the endpoint's shared state (CRTP): Derived has a `stream`
// member and is owned by a shared_ptr, which in-flight writes hold.  Not
// thread-safe: used from the endpoint's executor.
#pragma once

#include <coronet/detail/event.hpp>
#include <coronet/detail/use_result.hpp>
#include <coronet/stream.hpp>

#include <asio/post.hpp>
#include <asio/write.hpp>

#include <memory>
#include <system_error>
#include <utility>
#include <vector>

namespace coronet::detail {

template <class Derived, class Stream>
struct write_queue {
  std::vector<std::byte> pending, inflight;
  std::size_t inflight_offset = 0;
  bool writing = false, flush_posted = false;
  std::error_code write_error;
  std::unique_ptr<event> wakeup; // room in the queue, a write done, a read done: made on first wait

  /// Bytes accepted and not yet written to the stream.
  std::size_t queued() const { return pending.size() + inflight.size() - inflight_offset; }

  /// Whether `n` more bytes fit under `limit` (one message always fits an empty queue).
  bool fits(std::size_t n, std::size_t limit) const {
    auto q = queued();
    return q == 0 || q + n <= limit;
  }

  /// Writes what is pending once the application next waits.  (Called
  /// for every message queued, and almost always already done: the test
  /// stays inline, apart from the post and the registers it needs.)
  void schedule_flush() {
    if (pending.empty() || writing || flush_posted) return;
    post_flush();
  }

  void start_write() {
    if (writing || pending.empty() || write_error) return;
    std::swap(pending, inflight);
    pending.clear();
    inflight_offset = 0;
    if constexpr (has_try_write<Stream>) {
      std::error_code ec;
      inflight_offset = stream().try_write_some(asio::buffer(inflight), ec);
      if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
        on_written(ec);
        return;
      }
      if (inflight_offset == inflight.size()) {
        on_written({});
        return;
      }
    }
    writing = true;
    asio::async_write(stream(), asio::buffer(inflight) + inflight_offset,
                      [self = derived().shared_from_this()](std::error_code ec, std::size_t) {
                        self->writing = false;
                        self->on_written(ec);
                      });
  }

  void on_written(std::error_code ec) {
    release(inflight);
    inflight_offset = 0;
    if (ec) {
      write_error = normalize_stream_error(ec);
      release(pending);
    } else if (!pending.empty()) {
      start_write();
    }
    wake();
  }

  /// Suspends until the next wake(); callers re-check their condition.
  asio::awaitable<void> wait() {
    if (!wakeup) wakeup = std::make_unique<event>(stream().get_executor());
    co_await wakeup->wait();
  }
  void wake() {
    if (wakeup) wakeup->notify_all();
  }

  /// Keeps small buffers for reuse and gives back the memory of large messages.
  static void release(std::vector<std::byte>& v) {
    if (v.capacity() > (1u << 20))
      std::vector<std::byte>().swap(v);
    else
      v.clear();
  }

private:
  [[gnu::noinline]] void post_flush() {
    flush_posted = true;
    asio::post(stream().get_executor(), [self = derived().shared_from_this()] {
      self->flush_posted = false;
      self->start_write();
    });
  }

  Derived& derived() { return static_cast<Derived&>(*this); }
  Stream& stream() { return derived().stream; }
};

} // namespace coronet::detail
