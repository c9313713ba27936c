// with_timeout(): a deadline for operations that have none of their own.
#include <coronet/timeout.hpp>

#include "../support/run.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <catch2/catch.hpp>

using coronet::result;
using coronet::test::run;
using namespace std::chrono_literals;

namespace {

// Takes `d`, deaf to cancellation, then yields 42.
asio::awaitable<result<int>> slow_value(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::bind_cancellation_slot(
      asio::cancellation_slot(), asio::experimental::as_tuple(asio::use_awaitable)));
  co_return 42;
}

// Waits for `d`, as a cancellable operation would.
asio::awaitable<result<int>> cancellable(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  auto [ec] = co_await t.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  if (ec) co_return coronet::fail(coronet::errc::closed);
  co_return 7;
}

} // namespace

TEST_CASE("with_timeout: the operation's value, its deadline, or no deadline", "[unit][timeout]") {
  asio::io_context io;
  run(io, []() -> asio::awaitable<void> {
    auto in_time = co_await coronet::with_timeout(cancellable(1ms), 5s);
    REQUIRE(in_time);
    CHECK(*in_time == 7);
    auto start = std::chrono::steady_clock::now();
    auto late = co_await coronet::with_timeout(cancellable(10s), 20ms);
    REQUIRE_FALSE(late);
    CHECK(late.error() == coronet::errc::timeout);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    auto unbounded = co_await coronet::with_timeout(cancellable(30ms), 0s);
    REQUIRE(unbounded);
    CHECK(*unbounded == 7);
  }());
}

TEST_CASE("with_timeout: the caller's cancellation cancels the operation", "[unit][timeout]") {
  // An || around with_timeout: the timer wins after 20 ms, and the bounded
  // operation, with 10 s of its own deadline left, is cancelled at once.
  using namespace asio::experimental::awaitable_operators;
  asio::io_context io;
  run(io, []() -> asio::awaitable<void> {
    auto start = std::chrono::steady_clock::now();
    asio::steady_timer t(co_await asio::this_coro::executor, 20ms);
    auto first = co_await (coronet::with_timeout(cancellable(10s), 10s) ||
                           t.async_wait(asio::experimental::as_tuple(asio::use_awaitable)));
    CHECK(first.index() == 1);
    CHECK(std::chrono::steady_clock::now() - start < 2s);
  }());
}

TEST_CASE("with_timeout: a value that arrives as the deadline passes is not dropped",
          "[unit][timeout]") {
  // The operation finishes after its deadline fired: its value is the
  // result (a receive that had taken a message must hand it out).
  asio::io_context io;
  run(io, []() -> asio::awaitable<void> {
    auto r = co_await coronet::with_timeout(slow_value(100ms), 10ms);
    REQUIRE(r);
    CHECK(*r == 42);
  }());
}
