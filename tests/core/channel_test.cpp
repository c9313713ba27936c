// coronet::channel erases any message endpoint behind one type.
#include <coronet/channel.hpp>

#include <asio/experimental/awaitable_operators.hpp>
#include <coronet/error.hpp>
#include <coronet/framed.hpp>
#include <coronet/memory_stream.hpp>

#include "../support/echo.hpp"
#include "../support/run.hpp"

#include <catch2/catch.hpp>

using coronet::memory_stream;
using coronet::test::receive_within;
using coronet::test::run;
using namespace std::chrono_literals;

namespace {

std::pair<coronet::channel, coronet::channel> channel_pair(asio::io_context& io) {
  auto c = std::make_shared<coronet::endpoint_config>();
  c->properties = {.reliable = true,
                   .ordered = true,
                   .preserves_boundaries = true,
                   .max_message_size = c->options.max_message,
                   .scheme = "memory"};
  auto [x, y] = memory_stream::make_pair(io.get_executor());
  using endpoint = coronet::framed<memory_stream, coronet::length_prefixed_codec>;
  return {coronet::channel(endpoint(std::move(x), c)), coronet::channel(endpoint(std::move(y), c))};
}

} // namespace

static_assert(coronet::message_endpoint<coronet::framed<memory_stream, coronet::raw_codec>>);

TEST_CASE("channel forwards to the endpoint behind it", "[unit][channel]") {
  asio::io_context io;
  auto [a, b] = channel_pair(io);
  CHECK(a.properties().reliable);
  CHECK(a.properties().scheme == "memory");
  CHECK(a.remote() == "memory");
  auto copy = a;
  CHECK(copy.id() == a.id());
  CHECK(copy.id() != b.id());
  CHECK_FALSE(coronet::channel{});

  run(io, [](coronet::channel a, coronet::channel b) -> asio::awaitable<void> {
    auto r1 = co_await a.send(coronet::message_view("hello"));
    REQUIRE(r1);
    REQUIRE(a.try_send(coronet::message_view("again")));
    auto m = co_await b.receive();
    REQUIRE(m);
    CHECK(m->text() == "hello");
    auto r2 = co_await b.receive();
    CHECK((r2)->text() == "again");
  }(a, b));
}

TEST_CASE("channel receive with a deadline", "[unit][channel]") {
  asio::io_context io;
  auto [a, b] = channel_pair(io);
  run(io, [](coronet::channel a, coronet::channel b) -> asio::awaitable<void> {
    auto start = std::chrono::steady_clock::now();
    auto m = co_await receive_within(b, 30ms);
    REQUIRE_FALSE(m);
    CHECK(m.error() == coronet::errc::timeout);
    CHECK(std::chrono::steady_clock::now() - start >= 25ms);
    // the channel is still usable and nothing was lost
    auto r3 = co_await a.send(coronet::message_view("late"));
    REQUIRE(r3);
    auto late = co_await receive_within(b, 1s);
    REQUIRE(late);
    CHECK(late->text() == "late");
  }(a, b));
}

TEST_CASE("channel close ends the peer's receive", "[unit][channel]") {
  asio::io_context io;
  auto [a, b] = channel_pair(io);
  run(io, [](coronet::channel a, coronet::channel b) -> asio::awaitable<void> {
    auto r4 = co_await a.send(coronet::message_view("bye"));
    REQUIRE(r4);
    using namespace asio::experimental::awaitable_operators;
    auto drain = [](coronet::channel b) -> asio::awaitable<int> {
      int n = 0;
      while (co_await b.receive()) ++n;
      co_await b.close();
      co_return n;
    };
    auto [closed, n] = co_await (a.close() && drain(b));
    CHECK(closed);
    CHECK(n == 1);
  }(a, b));
}
