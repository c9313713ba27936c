// Deadlines for operations that have none of their own: accept(), a read
// on a raw stream, a connect of your own transport.
//
//   auto ch = co_await with_timeout(listener.accept(), 500ms);
//   if (!ch && ch.error() == coronet::errc::timeout) ...
//
// A channel's receive() has its own deadline (options::receive_timeout,
// ?timeout_ms=, channel::set_receive_timeout()): use that, not this.
#pragma once

#include <coronet/error.hpp>
#include <coronet/result.hpp>

#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>

namespace coronet {

/// `op`, cancelled once `timeout` has passed; a zero (or negative) timeout
/// means no deadline.  The result is always the operation's own: a value
/// that arrives as the deadline passes is returned, not dropped, and a
/// failure after the deadline (the cancellation) is errc::timeout.  The
/// operation must honour per-operation cancellation, as coronet's do.  A
/// cancellation of the caller (an || around this, an outer deadline)
/// cancels the operation too.
template <class T>
asio::awaitable<result<T>> with_timeout(asio::awaitable<result<T>> op,
                                        std::chrono::steady_clock::duration timeout) {
  if (timeout <= timeout.zero()) co_return co_await std::move(op);
  auto ex = co_await asio::this_coro::executor;
  struct deadline {
    explicit deadline(asio::steady_timer t) : timer(std::move(t)) {}
    asio::steady_timer timer;
    asio::cancellation_signal cancel;
    bool passed = false;
  };
  auto d = std::make_shared<deadline>(asio::steady_timer(ex, timeout));
  d->timer.async_wait([d](std::error_code ec) {
    if (ec) return;
    d->passed = true;
    d->cancel.emit(asio::cancellation_type::terminal);
  });
  // The caller's cancellation reaches the operation through the same signal.
  asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  auto caller = state.slot();
  if (caller.is_connected())
    caller.assign([d](asio::cancellation_type type) { d->cancel.emit(type); });
  // (co_spawn wants a default-constructible value: an optional holds it.)
  auto run = [](asio::awaitable<result<T>> o) -> asio::awaitable<std::optional<result<T>>> {
    co_return co_await std::move(o);
  };
  auto [e, r] = co_await asio::co_spawn(
      ex, run(std::move(op)),
      asio::bind_cancellation_slot(d->cancel.slot(),
                                   asio::experimental::as_tuple(asio::use_awaitable)));
  if (caller.is_connected()) caller.clear();
  d->timer.cancel();
  // (Cancelled between two operations, a coroutine throws at the next one.)
  if (d->passed && (e || !*r)) co_return fail(errc::timeout);
  if (e) std::rethrow_exception(e);
  co_return std::move(*r);
}

} // namespace coronet
