// try_receive(): the messages one read already brought, taken without
// suspending, for framed<> and a channel that has no buffering.
#include <coronet/channel.hpp>
#include <coronet/error.hpp>
#include <coronet/framed.hpp>
#include <coronet/memory_stream.hpp>
#include <coronet/timeout.hpp>

#include "../support/run.hpp"

#include <asio/detached.hpp>
#include <asio/write.hpp>

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

using coronet::memory_stream;
using coronet::test::run;
using coronet::test::sleep_for;

namespace {

std::shared_ptr<const coronet::endpoint_config> config() {
  auto c = std::make_shared<coronet::endpoint_config>();
  c->properties = {
      .reliable = true, .ordered = true, .preserves_boundaries = true, .scheme = "memory"};
  return c;
}

template <class Codec>
using framed = coronet::framed<memory_stream, Codec>;

} // namespace

TEST_CASE("try_receive takes the messages a read already brought, and only those",
          "[unit][framed]") {
  asio::io_context io;
  auto [x, y] = memory_stream::make_pair(io.get_executor());
  framed<coronet::length_prefixed_codec> tx(std::move(x), config()), rx(std::move(y), config());
  run(io, [](auto& tx, auto& rx) -> asio::awaitable<void> {
    auto nothing = rx.try_receive(); // nothing read yet
    REQUIRE_FALSE(nothing);
    CHECK(nothing.error() == coronet::errc::would_block);
    for (std::string_view m : {"one", "two", "three"}) {
      auto sent = tx.try_send(coronet::message_view(m)); // one turn: one write
      REQUIRE(sent);
    }
    auto first = co_await rx.receive();
    REQUIRE(first);
    CHECK(first->text() == "one");
    auto second = rx.try_receive();
    REQUIRE(second);
    CHECK(second->text() == "two");
    auto third = rx.try_receive();
    REQUIRE(third);
    CHECK(third->text() == "three");
    auto empty = rx.try_receive();
    REQUIRE_FALSE(empty);
    CHECK(empty.error() == coronet::errc::would_block);

    // While a receive() waits, try_receive() stays out of its way.
    std::optional<std::string> got;
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [](auto& rx, std::optional<std::string>& got) -> asio::awaitable<void> {
          auto m = co_await rx.receive();
          if (m) got = std::string(m->text());
        }(rx, got),
        asio::detached);
    co_await sleep_for(std::chrono::milliseconds(5));
    auto busy = rx.try_receive();
    REQUIRE_FALSE(busy);
    CHECK(busy.error() == coronet::errc::would_block);
    auto sent = co_await tx.send(coronet::message_view("four"));
    REQUIRE(sent);
    for (int i = 0; i < 100 && !got; ++i) co_await sleep_for(std::chrono::milliseconds(1));
    CHECK(got == "four");
  }(tx, rx));
}

TEST_CASE("a channel without try_receive of its own answers would_block", "[unit][framed]") {
  struct minimal : coronet::channel::endpoint {
    asio::awaitable<coronet::result<coronet::message_view>> receive() override {
      co_return coronet::fail(coronet::errc::closed);
    }
    asio::awaitable<coronet::result<void>> send(coronet::message_view) override {
      co_return coronet::result<void>{};
    }
    coronet::result<void> try_send(coronet::message_view) override { return {}; }
    asio::awaitable<coronet::result<void>> close(coronet::close_reason) override {
      co_return coronet::result<void>{};
    }
    void set_receive_timeout(std::chrono::milliseconds) override {}
    void stop_receiving() override {}
    void abort() override {}
    const coronet::properties& properties() const override { return props; }
    std::string remote() const override { return "nowhere"; }
    asio::any_io_executor get_executor() override { return ex; }
    coronet::properties props;
    asio::any_io_executor ex;
  };
  coronet::channel ch(std::make_shared<minimal>());
  auto r = ch.try_receive();
  REQUIRE_FALSE(r);
  CHECK(r.error() == coronet::errc::would_block);
}
