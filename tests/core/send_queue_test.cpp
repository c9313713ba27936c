// The per-endpoint send queue: bounded in bytes, with a slow-consumer policy.
#include <coronet/error.hpp>
#include <coronet/framed.hpp>
#include <coronet/memory_stream.hpp>

#include <asio/detached.hpp>

#include "../support/run.hpp"

#include <catch2/catch.hpp>

using coronet::memory_stream;
using coronet::test::run;
using coronet::test::sleep_for;
using endpoint = coronet::framed<memory_stream, coronet::raw_codec>;
using namespace std::chrono_literals;

namespace {

// A sender whose peer has room for 1 KiB and never reads until told to.
struct slow_consumer_fixture {
  asio::io_context io;
  std::optional<endpoint> tx;
  std::optional<memory_stream> peer_;
  memory_stream& peer;

  explicit slow_consumer_fixture(coronet::slow_consumer_policy policy) : peer(init(policy)) {}

  memory_stream& init(coronet::slow_consumer_policy policy) {
    auto [x, y] = memory_stream::make_pair(io.get_executor(), {.capacity = 1024});
    auto c = std::make_shared<coronet::endpoint_config>();
    c->options.send_queue_limit = 4096;
    c->options.slow_consumer = policy;
    c->options.close_timeout = 100ms;
    tx.emplace(std::move(x), c);
    return peer_.emplace(std::move(y));
  }
};

const std::string kilobyte(1024, 'k');

// Fills the socket (1 KiB) and the queue (4 KiB) with try_send.
asio::awaitable<int> fill(endpoint& tx) {
  int accepted = 0;
  for (int i = 0; i < 100; ++i) {
    auto r = tx.try_send(coronet::message_view(kilobyte));
    if (!r) {
      CHECK(r.error() == coronet::errc::backpressure);
      break;
    }
    ++accepted;
    co_await sleep_for(1ms); // let the writer move bytes into the socket
  }
  co_return accepted;
}

} // namespace

TEST_CASE("try_send fails with backpressure once the queue is full", "[unit][send_queue]") {
  slow_consumer_fixture f(coronet::slow_consumer_policy::wait);
  int accepted = run(f.io, fill(*f.tx));
  CHECK(accepted >= 4);
  CHECK(accepted <= 6);
  CHECK(f.tx->queued_bytes() <= 4096);
}

TEST_CASE("send waits for room under the wait policy", "[unit][send_queue]") {
  slow_consumer_fixture f(coronet::slow_consumer_policy::wait);
  run(f.io, [](slow_consumer_fixture& f) -> asio::awaitable<void> {
    co_await fill(*f.tx);
    bool sent = false;
    asio::co_spawn(
        f.io,
        [](endpoint& tx, bool& sent) -> asio::awaitable<void> {
          auto r = co_await tx.send(coronet::message_view(kilobyte));
          CHECK(r);
          sent = true;
        }(*f.tx, sent),
        asio::detached);
    co_await sleep_for(20ms);
    CHECK_FALSE(sent); // still waiting: nobody reads
    std::vector<char> sink(64 * 1024);
    for (int i = 0; i < 20 && !sent; ++i) {
      co_await coronet::read_some(f.peer, asio::buffer(sink));
      co_await sleep_for(1ms);
    }
    CHECK(sent);
  }(f));
}

TEST_CASE("drop_newest drops and counts", "[unit][send_queue]") {
  slow_consumer_fixture f(coronet::slow_consumer_policy::drop_newest);
  run(f.io, [](slow_consumer_fixture& f) -> asio::awaitable<void> {
    co_await fill(*f.tx);
    auto r = co_await f.tx->send(coronet::message_view(kilobyte));
    REQUIRE_FALSE(r);
    CHECK(r.error() == coronet::errc::backpressure);
    CHECK(f.tx->dropped_messages() == 1u);
    auto again = co_await f.tx->send(coronet::message_view(kilobyte));
    CHECK(f.tx->dropped_messages() == 2u);
    (void)again;
  }(f));
}

TEST_CASE("disconnect drops the slow consumer", "[unit][send_queue]") {
  slow_consumer_fixture f(coronet::slow_consumer_policy::disconnect);
  run(f.io, [](slow_consumer_fixture& f) -> asio::awaitable<void> {
    co_await fill(*f.tx);
    auto r = co_await f.tx->send(coronet::message_view(kilobyte));
    REQUIRE_FALSE(r);
    CHECK(r.error() == coronet::errc::backpressure);
    auto r14 = co_await f.tx->send(coronet::message_view("x"));
    CHECK_FALSE(r14);
    // the peer sees the stream end after what reached it
    std::vector<char> sink(64 * 1024);
    std::size_t got = 0;
    for (;;) {
      auto n = co_await coronet::read_some(f.peer, asio::buffer(sink));
      if (!n) {
        CHECK(n.error() == coronet::errc::closed);
        break;
      }
      got += *n;
    }
    CHECK(got <= 1024u);
  }(f));
}

TEST_CASE("one message larger than the limit fits an empty queue", "[unit][send_queue]") {
  slow_consumer_fixture f(coronet::slow_consumer_policy::wait);
  CHECK(f.tx->try_send(coronet::message_view(std::string(10000, 'b'))));
  CHECK(f.tx->try_send(coronet::message_view("x")).error() == coronet::errc::backpressure);
}
