// The echo checks that every reliable transport keeping message boundaries
// passes, whatever its scheme: the tcp://, unix://, ws:// and tls:// tests
// run them, and so does a transport a user registers (core/registry_test.cpp,
// mem://).  `url` must reach a server that runs coronet::test::echo.
#pragma once

#include "echo.hpp"
#include "run.hpp"

#include <coronet/channel.hpp>
#include <coronet/url.hpp>

#include <asio/co_spawn.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace coronet::test {

namespace detail {

inline asio::awaitable<void> echo_sizes_and_order(std::string url, coronet::options o) {
  auto ch = co_await coronet::connect(url, o);
  REQUIRE(ch);
  auto& p = ch->properties();
  CHECK(p.reliable);
  CHECK(p.ordered);
  CHECK(p.preserves_boundaries);
  CHECK(p.scheme == coronet::parse_url(url)->scheme);
  ch->set_receive_timeout(std::chrono::seconds(10));
  // Sizes around every length encoding, up to 1 MiB; the empty message too.
  for (std::size_t size : {0u, 1u, 125u, 126u, 65535u, 65536u, 1u << 20}) {
    INFO("size " << size);
    auto m = pattern(size, size);
    auto sent = co_await ch->send(coronet::message_view(m, coronet::message_kind::binary));
    REQUIRE(sent);
    auto r = co_await ch->receive();
    REQUIRE(r);
    CHECK(r->text() == m);
  }
  // 500 messages sent before any is read come back whole and in order.
  for (int i = 0; i < 500; ++i) {
    auto sent = co_await ch->send(coronet::message_view(pattern(40 + i % 50, i)));
    REQUIRE(sent);
  }
  for (int i = 0; i < 500; ++i) {
    auto r = co_await ch->receive();
    REQUIRE(r);
    REQUIRE(r->text() == pattern(40 + i % 50, i));
  }
  auto closed = co_await ch->close();
  CHECK(closed);
  auto after = co_await ch->receive();
  REQUIRE_FALSE(after);
  CHECK(after.error() == coronet::errc::closed);
}

inline asio::awaitable<void> echo_one_connection(std::string url, coronet::options o, int id,
                                                 int& done) {
  auto ch = co_await coronet::connect(url, o);
  REQUIRE(ch);
  ch->set_receive_timeout(std::chrono::seconds(10));
  for (int i = 0; i < 50; ++i) {
    auto m = pattern(100, id * 1000 + i);
    auto sent = co_await ch->send(coronet::message_view(m));
    REQUIRE(sent);
    auto r = co_await ch->receive();
    REQUIRE(r);
    REQUIRE(r->text() == m);
  }
  co_await ch->close();
  ++done;
}

inline asio::awaitable<void> echo_concurrently(std::string url, coronet::options o) {
  auto ex = co_await asio::this_coro::executor;
  int done = 0;
  constexpr int connections = 16;
  for (int id = 0; id < connections; ++id)
    asio::co_spawn(ex, echo_one_connection(url, o, id, done), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  for (int i = 0; i < 2000 && done < connections; ++i)
    co_await sleep_for(std::chrono::milliseconds(5));
  CHECK(done == connections);
}

} // namespace detail

/// Sizes from 0 to 1 MiB, 500 pipelined messages in order, 16 connections
/// at once, and a clean close, as a client of `url` with options `o`.
inline void check_echo_suite(asio::io_context& io, const std::string& url,
                             coronet::options o = {}) {
  INFO("echo suite over " << url);
  run(io, detail::echo_sizes_and_order(url, o));
  run(io, detail::echo_concurrently(url, o));
}

} // namespace coronet::test
