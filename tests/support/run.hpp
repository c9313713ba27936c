// Test helpers: run a coroutine to completion on an io_context, bounded in time.
//
// Never write co_await inside a Catch2 assertion (CHECK(co_await f())): the
// macro repeats its expression in a short-circuited operand and GCC 12 still
// evaluates the co_await there, so the operation runs twice.  Await into a
// variable, then check the variable.
#pragma once

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <vector>

namespace coronet::test {

/// Runs `task` on `io` until it completes; fails the test if it takes longer
/// than `limit` (a hang is a bug) or throws.
template <class T>
T run(asio::io_context& io, asio::awaitable<T> task,
      std::chrono::steady_clock::duration limit = std::chrono::seconds(30)) {
  std::optional<T> out;
  std::exception_ptr error;
  bool done = false;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) out.emplace(std::move(v));
    done = true;
  });
  io.restart();
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done && std::chrono::steady_clock::now() < deadline)
    io.run_one_for(std::chrono::milliseconds(50));
  if (!done) FAIL("the test coroutine did not finish in time (hang)");
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

inline void run(asio::io_context& io, asio::awaitable<void> task,
                std::chrono::steady_clock::duration limit = std::chrono::seconds(30)) {
  auto wrapped = [](asio::awaitable<void> t) -> asio::awaitable<bool> {
    co_await std::move(t);
    co_return true;
  };
  run(io, wrapped(std::move(task)), limit);
}

/// Lets the io_context run other work for `d`.
inline asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

/// Raises the open-file limit to the hard limit (many-connection tests).
inline void raise_fd_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

inline std::vector<std::byte> bytes(std::string_view s) {
  auto p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

inline std::string text(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

} // namespace coronet::test
