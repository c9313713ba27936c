#include <coronet/channel.hpp>
#include <coronet/error.hpp>
#include <coronet/framed.hpp>
#include <coronet/memory_stream.hpp>

#include "../support/run.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include <catch2/catch.hpp>

using coronet::memory_stream;
using coronet::test::run;
using coronet::test::text;

namespace {

std::shared_ptr<const coronet::endpoint_config> config(coronet::options o = {}) {
  auto c = std::make_shared<coronet::endpoint_config>();
  c->options = o;
  c->properties = {
      .reliable = true, .ordered = true, .preserves_boundaries = true, .scheme = "memory"};
  return c;
}

template <class Codec>
using framed = coronet::framed<memory_stream, Codec>;

// Sends `messages` from one end and receives them on the other.
template <class Codec>
asio::awaitable<std::vector<std::string>> round_trip(framed<Codec>& tx, framed<Codec>& rx,
                                                     std::vector<std::string> messages) {
  for (auto& m : messages) {
    auto sent = co_await tx.send(coronet::message_view(m));
    REQUIRE(sent);
  }
  std::vector<std::string> got;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    auto m = co_await rx.receive();
    if (!m) break;
    got.push_back(std::string(m->text()));
  }
  co_return got;
}

} // namespace

TEST_CASE("framed delivers whole messages whatever the reads and writes", "[unit][framed]") {
  const std::vector<std::string> messages = {"a", "", std::string(10000, 'b'), "end"};
  auto faults =
      GENERATE(coronet::memory_stream_faults{}, coronet::memory_stream_faults{.read_chunk = 1},
               coronet::memory_stream_faults{.read_chunk = 7},
               coronet::memory_stream_faults{.write_chunk = 3});
  asio::io_context io;
  auto [x, y] = memory_stream::make_pair(io.get_executor(), faults, faults);
  framed<coronet::length_prefixed_codec> tx(std::move(x), config()), rx(std::move(y), config());
  CHECK(run(io, round_trip(tx, rx, messages)) == messages);
}

TEST_CASE("framed with line framing", "[unit][framed]") {
  asio::io_context io;
  auto [x, y] = memory_stream::make_pair(io.get_executor(), {}, {.read_chunk = 2});
  framed<coronet::line_codec> tx(std::move(x), config()), rx(std::move(y), config());
  CHECK(run(io, round_trip(tx, rx, {"one", "two", ""})) ==
        std::vector<std::string>{"one", "two", ""});
  run(io, [](framed<coronet::line_codec>& tx) -> asio::awaitable<void> {
    auto r = co_await tx.send(coronet::message_view("a\nb"));
    CHECK(r.error() == coronet::errc::invalid_argument);
  }(tx));
}

TEST_CASE("framed coalesces the messages queued in one turn into one write", "[unit][framed]") {
  asio::io_context io;
  auto [x, y] = memory_stream::make_pair(io.get_executor());
  auto& writer_stream = x;
  framed<coronet::length_prefixed_codec> tx(std::move(x), config()), rx(std::move(y), config());
  run(io, [](auto& tx, auto& rx) -> asio::awaitable<void> {
    for (int i = 0; i < 16; ++i) {
      auto sent = co_await tx.send(coronet::message_view("0123456789"));
      REQUIRE(sent);
    }
    for (int i = 0; i < 16; ++i) {
      auto m = co_await rx.receive();
      REQUIRE(m);
    }
    CHECK(tx.next_layer().operations() == 1u); // one write for sixteen messages
    CHECK(rx.next_layer().operations() == 1u); // and one read
  }(tx, rx));
  (void)writer_stream;
}

TEST_CASE("framed rejects a declared length over the limit before reading it", "[unit][framed]") {
  asio::io_context io;
  auto [x, y] = memory_stream::make_pair(io.get_executor());
  coronet::options small;
  small.max_message = 100;
  framed<coronet::length_prefixed_codec> tx(std::move(x), config()),
      rx(std::move(y), config(small));
  run(io, [](auto& tx, auto& rx) -> asio::awaitable<void> {
    auto r5 = co_await tx.send(coronet::message_view(std::string(101, 'x')));
    REQUIRE(r5);
    auto m = co_await rx.receive();
    REQUIRE_FALSE(m);
    CHECK(m.error() == coronet::errc::message_too_large);
    auto again = co_await rx.receive(); // the framing is lost: the error sticks
    CHECK(again.error() == coronet::errc::message_too_large);
  }(tx, rx));
}

TEST_CASE("framed reports a stream cut inside a message", "[unit][framed]") {
  asio::io_context io;
  auto [x, y] = memory_stream::make_pair(io.get_executor());
  framed<coronet::length_prefixed_codec> rx(std::move(y), config());
  run(io, [](memory_stream& raw, auto& rx) -> asio::awaitable<void> {
    const unsigned char partial[] = {0, 0, 0, 10, 'a', 'b'};
    co_await coronet::write(raw, asio::buffer(partial));
    raw.close();
    auto m = co_await rx.receive();
    REQUIRE_FALSE(m);
    CHECK(m.error() == coronet::errc::protocol_error);
  }(x, rx));
}

TEST_CASE("framed: every failing operation yields an error, never a crash or hang",
          "[unit][framed]") {
  // Beast-style fail loop: fail operation 0, 1, 2, ... until the scenario passes.
  const std::vector<std::string> messages = {"first", std::string(5000, 'm'), "third"};
  bool passed = false;
  for (std::size_t fail_at = 0; fail_at < 100 && !passed; ++fail_at) {
    INFO("fail_at " << fail_at);
    asio::io_context io;
    coronet::memory_stream_faults faults{.fail_at = fail_at, .read_chunk = 1000};
    auto [x, y] = memory_stream::make_pair(io.get_executor(), faults, faults);
    framed<coronet::length_prefixed_codec> tx(std::move(x), config()), rx(std::move(y), config());
    passed = run(io, [](auto& tx, auto& rx, const auto& messages) -> asio::awaitable<bool> {
      for (auto& m : messages)
        if (!co_await tx.send(coronet::message_view(m))) co_return false;
      for (auto& want : messages) {
        auto m = co_await coronet::with_timeout(rx.receive(), std::chrono::milliseconds(200));
        if (!m) {
          CHECK(m.error() !=
                coronet::errc::timeout); // a write failure must surface, not hang the peer
          co_return false;
        }
        CHECK(m->text() == want);
      }
      co_return true;
    }(tx, rx, messages));
  }
  CHECK(passed);
}

TEST_CASE("framed close flushes what send accepted, then ends the stream", "[unit][framed]") {
  asio::io_context io;
  auto [x, y] = memory_stream::make_pair(io.get_executor(), {.write_chunk = 5});
  framed<coronet::length_prefixed_codec> tx(std::move(x), config()), rx(std::move(y), config());
  run(io, [](auto& tx, auto& rx) -> asio::awaitable<void> {
    for (int i = 0; i < 100; ++i) {
      auto sent = co_await tx.send(coronet::message_view(std::to_string(i)));
      REQUIRE(sent);
    }
    auto peer = [](auto& rx) -> asio::awaitable<int> {
      int n = 0;
      while (auto m = co_await rx.receive()) {
        CHECK(m->text() == std::to_string(n));
        ++n;
      }
      co_await rx.close();
      co_return n;
    };
    using namespace asio::experimental::awaitable_operators;
    auto [closed, received] = co_await (tx.close() && peer(rx));
    CHECK(closed);
    CHECK(received == 100);
    auto late = co_await tx.send(coronet::message_view("late"));
    CHECK(late.error() == coronet::errc::closed);
    auto after = co_await tx.receive();
    CHECK(after.error() == coronet::errc::closed);
  }(tx, rx));
}

TEST_CASE("stop_receiving wakes a pending receive with closed", "[unit][framed]") {
  asio::io_context io;
  auto [x, y] = memory_stream::make_pair(io.get_executor());
  framed<coronet::raw_codec> rx(std::move(y), config());
  run(io, [](auto& rx) -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer t(ex, std::chrono::milliseconds(5));
    t.async_wait([&](std::error_code) { rx.stop_receiving(); });
    auto m = co_await rx.receive();
    REQUIRE_FALSE(m);
    CHECK(m.error() == coronet::errc::closed);
  }(rx));
}
