// Deadlines for any coronet operation.
//
//   auto m = co_await with_timeout(ch.receive(), 500ms);
//   if (!m && m.error() == coronet::errc::timeout) ...
//
// The operation is cancelled (per-operation cancellation) when the deadline
// passes, and completes with errc::timeout.  Endpoints stay usable after a
// timed-out receive(): no bytes are lost.
#pragma once

#include <coronet/error.hpp>
#include <coronet/result.hpp>

#include <asio/awaitable.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <variant>

namespace coronet {

/// `op`, cancelled and failing with errc::timeout once `timeout` has passed;
/// a zero (or negative) timeout means no deadline.
template <class T>
asio::awaitable<result<T>> with_timeout(asio::awaitable<result<T>> op,
                                        std::chrono::steady_clock::duration timeout) {
  using namespace asio::experimental::awaitable_operators;
  if (timeout <= timeout.zero()) co_return co_await std::move(op);
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto first = co_await (std::move(op) || timer.async_wait(asio::use_awaitable));
  if (first.index() == 0) co_return std::move(std::get<0>(first));
  co_return fail(errc::timeout);
}

} // namespace coronet
