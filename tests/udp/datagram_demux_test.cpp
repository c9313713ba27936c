// datagram_demux is the udp:// listener's demultiplexer and a piece any
// transport over datagrams reuses: here a service of its own (each datagram
// answered reversed) runs on it, with its own peers, a factory that refuses
// some, the peer limit and the idle timeout.
#include <coronet/coronet.hpp>
#include <coronet/transport/datagram_demux.hpp>

#include "../support/echo.hpp"
#include "../support/run.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

using coronet::test::receive_within;
using coronet::test::run;
using coronet::test::sleep_for;
using namespace std::chrono_literals;

namespace {

struct reversing_peer final : coronet::datagram_peer {
  std::vector<std::string>& idle_log;
  reversing_peer(std::shared_ptr<coronet::datagram_demux> d, const asio::ip::udp::endpoint& from,
                 std::vector<std::string>& idle)
      : datagram_peer(std::move(d), from), idle_log(idle) {}

  void on_datagram(std::span<const std::byte> data, bool) override {
    std::vector<std::byte> reply(data.rbegin(), data.rend());
    (void)demux().try_send(reply, &address());
  }
  void on_idle() override { idle_log.push_back(remote()); }
};

// Peers live as long as the service keeps them: here, until idle.
struct reversing_service {
  std::vector<std::shared_ptr<coronet::datagram_peer>> peers;
  std::vector<std::string> idle;
  std::shared_ptr<coronet::datagram_demux> demux;

  reversing_service(asio::io_context& io, coronet::options o) {
    auto u = coronet::parse_url("udp://127.0.0.1:0");
    REQUIRE(u);
    auto opened = coronet::datagram_demux::open(
        io.get_executor(), *u, coronet::make_endpoint_config(*u, o),
        [this](coronet::datagram_demux& d, const asio::ip::udp::endpoint& from,
               std::span<const std::byte> first) -> std::shared_ptr<coronet::datagram_peer> {
          std::string_view text(reinterpret_cast<const char*>(first.data()), first.size());
          if (text.starts_with("no")) return nullptr; // refused: no state is made
          auto p = std::make_shared<reversing_peer>(d.self(), from, idle);
          peers.push_back(p);
          return p;
        });
    REQUIRE(opened);
    demux = *opened;
    demux->start();
  }
  std::string url() const { return "udp://127.0.0.1:" + std::to_string(demux->port()); }
};

} // namespace

TEST_CASE("datagram_demux: a service of its own, with refusals, a peer limit and idle peers",
          "[integration][udp]") {
  asio::io_context io;
  coronet::options o;
  o.udp.max_peers = 2;
  o.udp.peer_idle_timeout = 200ms;
  reversing_service service(io, o);
  run(io, [](reversing_service& s) -> asio::awaitable<void> {
    auto a = co_await coronet::connect(s.url());
    auto b = co_await coronet::connect(s.url());
    auto c = co_await coronet::connect(s.url());
    REQUIRE(a);
    REQUIRE(b);
    REQUIRE(c);
    co_await a->send("abc");
    auto ra = co_await receive_within(*a, 2s);
    REQUIRE(ra);
    CHECK(ra->text() == "cba");
    co_await c->send("nope"); // refused by the factory
    co_await b->send("xy");
    auto rb = co_await receive_within(*b, 2s);
    REQUIRE(rb);
    CHECK(rb->text() == "yx");
    co_await c->send("ok"); // a third peer: over max_peers, never answered
    co_await sleep_for(50ms);
    auto stats = s.demux->stats();
    CHECK(stats.refused == 2);
    CHECK(s.demux->peers() == 2);
    // Silent for the idle timeout: both are dropped, and a new one fits.
    co_await sleep_for(600ms);
    CHECK(s.idle.size() == 2);
    CHECK(s.demux->peers() == 0);
    co_await c->send("late");
    auto late = co_await receive_within(*c, 2s);
    REQUIRE(late);
    CHECK(late->text() == "etal"); // (not "ko": that one was refused)
    s.peers.clear();
    s.demux->stop_accepting();
  }(service));
}
