#include <coronet/error.hpp>
#include <coronet/memory_stream.hpp>
#include <coronet/timeout.hpp>

#include <asio/detached.hpp>

#include "../support/run.hpp"

#include <catch2/catch.hpp>

using coronet::memory_stream;
using coronet::test::run;

TEST_CASE("memory_stream moves bytes both ways", "[unit][memory_stream]") {
  asio::io_context io;
  auto [a, b] = memory_stream::make_pair(io.get_executor());
  run(io, [](memory_stream& a, memory_stream& b) -> asio::awaitable<void> {
    std::string out = "ping";
    auto r6 = co_await coronet::write(a, asio::buffer(out));
    REQUIRE(r6 == 4u);
    char in[16];
    auto n = co_await coronet::read_some(b, asio::buffer(in));
    INFO((n ? std::to_string(*n) : n.error().message()));
    REQUIRE(n == 4u);
    CHECK(std::string(in, 4) == "ping");
    auto r7 = co_await coronet::write(b, asio::buffer(out));
    REQUIRE(r7 == 4u);
    auto r8 = co_await coronet::read_exactly(a, asio::buffer(in, 4));
    CHECK(r8 == 4u);
  }(a, b));
}

TEST_CASE("memory_stream faults", "[unit][memory_stream]") {
  asio::io_context io;
  SECTION("read_chunk delivers one byte at a time") {
    auto [a, b] = memory_stream::make_pair(io.get_executor(), {}, {.read_chunk = 1});
    run(io, [](memory_stream& a, memory_stream& b) -> asio::awaitable<void> {
      co_await coronet::write(a, asio::buffer(std::string("abc")));
      char c[8];
      for (char want : std::string("abc")) {
        auto n = co_await coronet::read_some(b, asio::buffer(c));
        REQUIRE(n == 1u);
        CHECK(c[0] == want);
      }
    }(a, b));
  }
  SECTION("write_chunk splits writes") {
    auto [a, b] = memory_stream::make_pair(io.get_executor(), {.write_chunk = 2});
    run(io, [](memory_stream& a, memory_stream& b) -> asio::awaitable<void> {
      auto [ec, n] = co_await a.async_write_some(asio::buffer(std::string("abcdef")),
                                                 coronet::detail::use_tuple);
      CHECK_FALSE(ec);
      CHECK(n == 2u);
      CHECK(b.available() == 2u);
      co_await coronet::write(a,
                              asio::buffer(std::string("abcdef"))); // write() loops over the splits
      CHECK(b.available() == 8u);
    }(a, b));
  }
  SECTION("fail_at fails the Nth operation and every later one") {
    auto [a, b] = memory_stream::make_pair(io.get_executor(), {.fail_at = 1});
    run(io, [](memory_stream& a, memory_stream&) -> asio::awaitable<void> {
      auto r9 = co_await coronet::write(a, asio::buffer(std::string("x")));
      CHECK(r9);
      auto second = co_await coronet::write(a, asio::buffer(std::string("y")));
      REQUIRE_FALSE(second);
      CHECK(second.error() == asio::error::connection_reset);
      auto r10 = co_await coronet::write(a, asio::buffer(std::string("z")));
      CHECK_FALSE(r10);
      CHECK(a.operations() == 3u);
    }(a, b));
  }
  SECTION("capacity makes a writer wait for the reader") {
    auto [a, b] = memory_stream::make_pair(io.get_executor(), {.capacity = 4});
    run(io, [](memory_stream& a, memory_stream& b) -> asio::awaitable<void> {
      auto [ec, n] = co_await a.async_write_some(asio::buffer(std::string("abcdefgh")),
                                                 coronet::detail::use_tuple);
      CHECK(n == 4u);
      bool written = false;
      asio::co_spawn(
          co_await asio::this_coro::executor,
          [](memory_stream& a, bool& written) -> asio::awaitable<void> {
            co_await coronet::write(a, asio::buffer(std::string("ijkl")));
            written = true;
          }(a, written),
          asio::detached);
      co_await coronet::test::sleep_for(std::chrono::milliseconds(5));
      CHECK_FALSE(written);
      char buf[8];
      co_await coronet::read_some(b, asio::buffer(buf));
      co_await coronet::test::sleep_for(std::chrono::milliseconds(5));
      CHECK(written);
    }(a, b));
  }
}

TEST_CASE("memory_stream shutdown and close", "[unit][memory_stream]") {
  asio::io_context io;
  auto [a, b] = memory_stream::make_pair(io.get_executor());
  run(io, [](memory_stream& a, memory_stream& b) -> asio::awaitable<void> {
    co_await coronet::write(a, asio::buffer(std::string("end")));
    REQUIRE(a.shutdown(asio::socket_base::shutdown_send));
    char buf[8];
    auto r11 = co_await coronet::read_some(b, asio::buffer(buf));
    CHECK(r11 == 3u);
    auto eof = co_await coronet::read_some(b, asio::buffer(buf));
    REQUIRE_FALSE(eof);
    CHECK(eof.error() == coronet::errc::closed);
    // b can still write: a half-closed stream
    auto r12 = co_await coronet::write(b, asio::buffer(std::string("ok")));
    CHECK(r12);
    auto r13 = co_await coronet::read_some(a, asio::buffer(buf));
    CHECK(r13 == 2u);
    a.close();
    auto after = co_await coronet::write(b, asio::buffer(std::string("x")));
    REQUIRE_FALSE(after);
    CHECK(after.error() == asio::error::connection_reset);
  }(a, b));
}

TEST_CASE("memory_stream read is cancellable", "[unit][memory_stream]") {
  asio::io_context io;
  auto [a, b] = memory_stream::make_pair(io.get_executor());
  run(io, [](memory_stream& b) -> asio::awaitable<void> {
    auto r = co_await coronet::with_timeout(coronet::read_some(b, asio::mutable_buffer()),
                                            std::chrono::milliseconds(1));
    (void)r;
    char buf[4];
    auto timed = co_await coronet::with_timeout(coronet::read_some(b, asio::buffer(buf)),
                                                std::chrono::milliseconds(20));
    REQUIRE_FALSE(timed);
    CHECK(timed.error() == coronet::errc::timeout);
  }(b));
}
