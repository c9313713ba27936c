// udp:// end to end over loopback: peer demultiplexing, limits, truncation,
// loss, IPv6 and multicast.
#include <coronet/coronet.hpp>
#include <coronet/udp.hpp>

#include "../support/echo.hpp"
#include "../support/run.hpp"

#include <asio/detached.hpp>
#include <asio/ip/multicast.hpp>
#include <asio/ip/udp.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <optional>
#include <span>
#include <stdexcept>
#include <thread>
#include <vector>

using coronet::test::echo;
using coronet::test::receive_within;
using coronet::test::run;
using coronet::test::sleep_for;
using namespace std::chrono_literals;

namespace {

struct udp_echo_fixture {
  coronet::server server;
  explicit udp_echo_fixture(coronet::server_options o = {}, coronet::connection_handler h = echo,
                            std::string host = "127.0.0.1") {
    auto started = server.start("udp://" + host + ":0", std::move(h), o);
    REQUIRE(started);
  }
  std::string url(std::string host = "127.0.0.1") const {
    return "udp://" + host + ":" + std::to_string(server.port());
  }
};

// Connects a client to `l`, sends it `datagrams`, waits for them to land in
// the listener's queue, and accepts the channel the listener made.
asio::awaitable<std::pair<coronet::channel, coronet::channel>>
client_and_peer(coronet::listener& l, std::span<const std::string_view> datagrams) {
  auto client = co_await coronet::connect("udp://127.0.0.1:" + std::to_string(l.port()));
  REQUIRE(client);
  for (auto d : datagrams) co_await client->send(coronet::message_view(d));
  co_await sleep_for(50ms);
  auto peer = co_await coronet::with_timeout(l.accept(), 2s);
  REQUIRE(peer);
  co_return std::pair{std::move(*client), std::move(*peer)};
}

} // namespace

TEST_CASE("udp echo and what the channel promises", "[integration][udp]") {
  udp_echo_fixture f;
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    auto& p = ch->properties();
    CHECK_FALSE(p.reliable);
    CHECK_FALSE(p.ordered);
    CHECK(p.preserves_boundaries);
    CHECK(p.max_message_size == coronet::max_udp_payload);
    CHECK(p.scheme == "udp");
    CHECK_THAT(ch->remote(), Catch::StartsWith("127.0.0.1:"));
    for (std::size_t size : {0u, 1u, 64u, 1400u, 9000u, 65507u}) {
      INFO(size);
      std::string msg(size, 'u');
      auto sent = co_await ch->send(coronet::message_view(msg));
      REQUIRE(sent);
      auto m = co_await receive_within(*ch, 2s);
      REQUIRE(m);
      CHECK(m->text() == msg);
    }
    auto closed = co_await ch->close();
    CHECK(closed);
  }(f.url()));
}

TEST_CASE("each side of udp:// sees its peer's address through info<udp_info>()",
          "[integration][udp]") {
  asio::io_context io;
  auto l = coronet::listen(io.get_executor(), "udp://127.0.0.1:0");
  REQUIRE(l);
  run(io, [](coronet::listener& l) -> asio::awaitable<void> {
    const std::string_view hello[] = {"hello"};
    auto [client, peer] = co_await client_and_peer(l, hello);
    auto mine = client.info<coronet::udp_info>();
    auto theirs = peer.info<coronet::udp_info>();
    REQUIRE(mine);
    REQUIRE(theirs);
    CHECK(mine->peer.port() == l.port());
    CHECK(mine->peer.address().to_string() == "127.0.0.1");
    CHECK(theirs->peer.address().to_string() == "127.0.0.1");
    CHECK(peer.remote() == "127.0.0.1:" + std::to_string(theirs->peer.port()));
    CHECK(client.info<coronet::http_request>() == nullptr);
  }(*l));
}

TEST_CASE("200 peers at once each get only their own echoes", "[integration][udp]") {
  udp_echo_fixture f;
  asio::io_context io;
  int good = 0, wrong = 0;
  run(
      io,
      [](std::string url, int& good, int& wrong) -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        int done = 0;
        for (int peer = 0; peer < 200; ++peer)
          asio::co_spawn(
              ex,
              [](std::string url, int peer, int& good, int& wrong) -> asio::awaitable<void> {
                auto ch = co_await coronet::connect(url);
                if (!ch) co_return;
                for (int i = 0; i < 5; ++i) {
                  auto msg = std::to_string(peer) + "/" + std::to_string(i);
                  co_await ch->send(coronet::message_view(msg));
                  auto m = co_await receive_within(*ch, 2s);
                  if (!m) continue; // loopback rarely drops; a drop is not a wrong echo
                  if (m->text() == msg)
                    ++good;
                  else
                    ++wrong;
                }
              }(url, peer, good, wrong),
              [&done](std::exception_ptr) { ++done; });
        for (int i = 0; i < 2000 && done < 200; ++i) co_await sleep_for(5ms);
        CHECK(done == 200);
      }(f.url(), good, wrong),
      60s);
  CHECK(wrong == 0);
  CHECK(good >= 990); // of 1000
  CHECK(f.server.connections() <= 200u);
}

TEST_CASE("an idle peer is dropped and comes back as a new channel", "[integration][udp]") {
  asio::io_context io;
  coronet::options o;
  o.udp.peer_idle_timeout = 100ms;
  auto l = coronet::listen(io.get_executor(), "udp://127.0.0.1:0", o);
  REQUIRE(l);
  run(io, [](coronet::listener& l) -> asio::awaitable<void> {
    auto client = co_await coronet::connect("udp://127.0.0.1:" + std::to_string(l.port()));
    REQUIRE(client);
    co_await client->send(coronet::message_view("hello"));
    auto first = co_await l.accept();
    REQUIRE(first);
    auto m = co_await first->receive();
    REQUIRE(m);
    auto start = std::chrono::steady_clock::now();
    auto idle = co_await receive_within(*first, 5s);
    REQUIRE_FALSE(idle);
    CHECK(idle.error() == coronet::errc::closed);
    CHECK(std::chrono::steady_clock::now() - start >= 90ms);
    co_await client->send(coronet::message_view("again"));
    auto second = co_await l.accept();
    REQUIRE(second);
    CHECK(second->id() != first->id());
    auto again = co_await receive_within(*second, 2s);
    REQUIRE(again);
    CHECK(again->text() == "again");
    CHECK(l.stats().accepted == 2u);
  }(*l));
}

TEST_CASE("peers over the limit are refused and counted", "[integration][udp]") {
  asio::io_context io;
  coronet::options o;
  o.udp.max_peers = 3;
  auto l = coronet::listen(io.get_executor(), "udp://127.0.0.1:0", o);
  REQUIRE(l);
  run(io, [](coronet::listener& l) -> asio::awaitable<void> {
    std::vector<coronet::channel> clients, accepted;
    for (int i = 0; i < 5; ++i) {
      auto c = co_await coronet::connect("udp://127.0.0.1:" + std::to_string(l.port()));
      REQUIRE(c);
      co_await c->send(coronet::message_view("hi"));
      clients.push_back(*c);
    }
    for (int i = 0; i < 3; ++i) {
      auto a = co_await l.accept();
      REQUIRE(a);
      accepted.push_back(*a);
    }
    for (int i = 0; i < 100 && l.stats().refused < 2; ++i) co_await sleep_for(2ms);
    CHECK(l.stats().refused == 2u);
    CHECK(l.stats().accepted == 3u);
    // a peer that leaves frees its place
    co_await accepted[0].close();
    co_await clients[4].send(coronet::message_view("now"));
    auto late = co_await l.accept();
    REQUIRE(late);
  }(*l));
}

TEST_CASE("datagrams over the limit are reported, never cut short", "[integration][udp]") {
  asio::io_context io;
  coronet::options small;
  small.max_message = 100;
  auto l = coronet::listen(io.get_executor(), "udp://127.0.0.1:0", small);
  REQUIRE(l);
  run(io, [](coronet::listener& l) -> asio::awaitable<void> {
    auto c = co_await coronet::connect("udp://127.0.0.1:" + std::to_string(l.port()));
    REQUIRE(c);
    co_await c->send(coronet::message_view(std::string(200, 'x')));
    co_await c->send(coronet::message_view(std::string(100, 'y')));
    auto peer = co_await l.accept();
    REQUIRE(peer);
    auto big = co_await receive_within(*peer, 2s);
    REQUIRE_FALSE(big);
    CHECK(big.error() == coronet::errc::message_too_large);
    auto fits = co_await receive_within(*peer, 2s);
    REQUIRE(fits);
    CHECK(fits->size() == 100u);
    CHECK(l.stats().truncated == 1u);
    // the peer's channel refuses to send more than the limit, before any syscall
    auto over = co_await peer->send(coronet::message_view(std::string(101, 'z')));
    REQUIRE_FALSE(over);
    CHECK(over.error() == coronet::errc::message_too_large);
    // and the client side detects truncation of what it receives too
    coronet::options tiny;
    tiny.max_message = 10;
    auto c2 = co_await coronet::connect("udp://127.0.0.1:" + std::to_string(l.port()), tiny);
    REQUIRE(c2);
    co_await c2->send(coronet::message_view("0123456789"));
    auto peer2 = co_await l.accept();
    REQUIRE(peer2);
    co_await peer2->send(coronet::message_view(std::string(50, 'w')));
    auto cut = co_await receive_within(*c2, 2s);
    REQUIRE_FALSE(cut);
    CHECK(cut.error() == coronet::errc::message_too_large);
  }(*l));
}

TEST_CASE("a send larger than any datagram fails before the syscall", "[integration][udp]") {
  udp_echo_fixture f;
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    auto r =
        co_await ch->send(coronet::message_view(std::string(coronet::max_udp_payload + 1, 'x')));
    REQUIRE_FALSE(r);
    CHECK(r.error() == coronet::errc::message_too_large);
    auto t = ch->try_send(coronet::message_view(std::string(70000, 'x')));
    CHECK(t.error() == coronet::errc::message_too_large);
  }(f.url()));
}

TEST_CASE("a lost reply does not hang a client with a deadline", "[integration][udp]") {
  udp_echo_fixture silent({}, [](coronet::channel ch) -> asio::awaitable<void> {
    while (co_await ch.receive()) {}
  });
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url + "?timeout_ms=100");
    REQUIRE(ch);
    co_await ch->send(coronet::message_view("anyone?"));
    auto start = std::chrono::steady_clock::now();
    auto r = co_await ch->receive();
    REQUIRE_FALSE(r);
    CHECK(r.error() == coronet::errc::timeout);
    CHECK(std::chrono::steady_clock::now() - start < 2s);
  }(silent.url()));
}

TEST_CASE("sending to a closed port reports connection_refused", "[integration][udp]") {
  asio::io_context io;
  asio::ip::udp::socket probe(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto port = probe.local_endpoint().port();
  probe.close();
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect("udp://127.0.0.1:" + std::to_string(port));
    REQUIRE(ch);
    co_await ch->send(coronet::message_view("nobody"));
    auto r = co_await receive_within(*ch, 2s);
    REQUIRE_FALSE(r);
    CHECK(r.error() == coronet::errc::connection_refused);
  }(port));
}

TEST_CASE("a listener joined to a multicast group on loopback", "[integration][udp]") {
  asio::io_context io;
  coronet::options o;
  o.udp.multicast_group = asio::ip::make_address("239.255.77.77");
  o.udp.multicast_interface = asio::ip::make_address_v4("127.0.0.1");
  auto l = coronet::listen(io.get_executor(), "udp://0.0.0.0:0", o);
  REQUIRE(l);
  run(io, [](coronet::listener& l) -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::ip::udp::socket sender(ex, asio::ip::udp::v4());
    sender.set_option(
        asio::ip::multicast::outbound_interface(asio::ip::make_address_v4("127.0.0.1")));
    sender.set_option(asio::ip::multicast::enable_loopback(true));
    std::string hello = "to the group";
    sender.send_to(asio::buffer(hello), {asio::ip::make_address("239.255.77.77"), l.port()});
    auto ch = co_await coronet::with_timeout(l.accept(), 2s);
    REQUIRE(ch);
    auto m = co_await receive_within(*ch, 2s);
    REQUIRE(m);
    CHECK(m->text() == hello);
  }(*l));
}

TEST_CASE("a listener's channel times out a receive and gets the next datagram",
          "[integration][udp]") {
  // The reader hands datagrams to a waiting receive() on its own stack; a
  // deadline must still cut that wait, and the channel must keep working.
  asio::io_context io;
  auto l = coronet::listen(io.get_executor(), "udp://127.0.0.1:0");
  REQUIRE(l);
  run(io, [](coronet::listener& l) -> asio::awaitable<void> {
    const std::string_view sent[] = {"first"};
    auto [client, ch] = co_await client_and_peer(l, sent);
    auto first = co_await receive_within(ch, 2s);
    REQUIRE(first);
    CHECK(first->text() == "first");

    auto start = std::chrono::steady_clock::now();
    auto nothing = co_await receive_within(ch, 50ms);
    REQUIRE_FALSE(nothing);
    CHECK(nothing.error() == coronet::errc::timeout);
    CHECK(std::chrono::steady_clock::now() - start < 2s);

    // A reply sent from the resumed receive leaves at once, then a burst.
    co_await client.send(coronet::message_view("second"));
    auto second = co_await receive_within(ch, 2s);
    REQUIRE(second);
    CHECK(second->text() == "second");
    for (int i = 0; i < 5; ++i) co_await ch.send(coronet::message_view("reply"));
    int replies = 0;
    for (int i = 0; i < 5; ++i) {
      auto r = co_await receive_within(client, 2s);
      if (r && r->text() == "reply") ++replies;
    }
    CHECK(replies == 5);
  }(*l));
}

TEST_CASE("a listener's channel hands out queued datagrams with try_receive",
          "[integration][udp]") {
  asio::io_context io;
  auto l = coronet::listen(io.get_executor(), "udp://127.0.0.1:0");
  REQUIRE(l);
  run(io, [](coronet::listener& l) -> asio::awaitable<void> {
    const std::string_view sent[] = {"a", "b", "c"};
    auto [client, ch] = co_await client_and_peer(l, sent);
    auto first = ch.try_receive();
    REQUIRE(first);
    CHECK(first->text() == "a");
    std::vector<std::string> rest;
    for (auto m = ch.try_receive(); m; m = ch.try_receive()) rest.emplace_back(m->text());
    CHECK(rest == std::vector<std::string>{"b", "c"});
    auto empty = ch.try_receive();
    REQUIRE_FALSE(empty);
    CHECK(empty.error() == coronet::errc::would_block);
    auto none = client.try_receive(); // a client buffers nothing
    REQUIRE_FALSE(none);
    CHECK(none.error() == coronet::errc::would_block);
  }(*l));
}

TEST_CASE("an exception from a handler the reader resumed leaves the listener reading",
          "[integration][udp]") {
  // The reader resumes a waiting handler on its own stack; what the
  // handler's task throws must come out of run(), as it does for any task,
  // and the reader must go on (lib/handoff catches and re-posts whatever a
  // resumed waiter's completion throws).
  asio::io_context io;
  auto l = coronet::listen(io.get_executor(), "udp://127.0.0.1:0");
  REQUIRE(l);
  auto rethrow = [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  };
  asio::co_spawn(
      io,
      [](coronet::listener& l) -> asio::awaitable<void> {
        auto ch = co_await l.accept();
        REQUIRE(ch);
        auto first = co_await ch->receive(); // the first datagram, already queued
        REQUIRE(first);
        auto second = co_await ch->receive(); // resumed by the reader itself
        if (second) throw std::runtime_error("handler failed");
      }(*l),
      rethrow);
  auto port = l->port();
  asio::ip::udp::socket sender(io, {asio::ip::make_address("127.0.0.1"), 0});
  sender.send_to(asio::buffer("one", 3), {asio::ip::make_address("127.0.0.1"), port});
  bool thrown = false;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  bool sent_second = false;
  while (!thrown && std::chrono::steady_clock::now() < deadline) {
    try {
      io.run_one_for(10ms);
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()) == "handler failed");
      thrown = true;
    }
    if (!sent_second) {
      sent_second = true;
      io.run_for(20ms); // the handler is now waiting in receive()
      sender.send_to(asio::buffer("two", 3), {asio::ip::make_address("127.0.0.1"), port});
    }
  }
  REQUIRE(thrown);
  io.restart();
  // The reader goes on: a new peer is still accepted and served.
  run(io, [](coronet::listener& l) -> asio::awaitable<void> {
    const std::string_view sent[] = {"three"};
    auto [client, ch] = co_await client_and_peer(l, sent);
    auto m = co_await receive_within(ch, 2s);
    REQUIRE(m);
    CHECK(m->text() == "three");
  }(*l));
}

TEST_CASE("a context destroyed while a listener's channel waits in receive()",
          "[integration][udp]") {
  // The waiting coroutine holds the state that holds it; the context's
  // shutdown must break that cycle (LeakSanitizer checks under ASan).
  auto io = std::make_unique<asio::io_context>();
  std::optional<coronet::listener> l;
  {
    auto listening = coronet::listen(io->get_executor(), "udp://127.0.0.1:0");
    REQUIRE(listening);
    l.emplace(std::move(*listening));
  }
  bool waiting = false, resumed = false;
  run(*io, [](coronet::listener& l, bool& waiting, bool& resumed) -> asio::awaitable<void> {
    const std::string_view sent[] = {"hello"};
    auto [client, ch] = co_await client_and_peer(l, sent);
    auto hello = co_await receive_within(ch, 2s);
    REQUIRE(hello);
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [](coronet::channel ch, bool& waiting, bool& resumed) -> asio::awaitable<void> {
          waiting = true;
          auto m = co_await ch.receive(); // no deadline: only the shutdown ends it
          resumed = true;
        }(std::move(ch), waiting, resumed),
        asio::detached);
    co_await sleep_for(20ms);
  }(*l, waiting, resumed));
  CHECK(waiting);
  l.reset();  // the parked receive still holds the listener's socket
  io.reset(); // destroys the parked receive without resuming it
  CHECK_FALSE(resumed);
}

TEST_CASE("fault injection: every Nth datagram dropped, and the loss counted",
          "[integration][udp]") {
  coronet::server_options o;
  o.udp.drop_every = 10;
  udp_echo_fixture f(o);
  asio::io_context io;
  int lost = 0;
  run(
      io,
      [](std::string url, int& lost) -> asio::awaitable<void> {
        auto ch = co_await coronet::connect(url);
        REQUIRE(ch);
        for (int i = 0; i < 100; ++i) {
          auto msg = std::to_string(i);
          co_await ch->send(coronet::message_view(msg));
          auto m = co_await receive_within(*ch, 200ms);
          if (!m) {
            CHECK(m.error() == coronet::errc::timeout);
            ++lost;
          }
        }
      }(f.url(), lost),
      60s);
  CHECK(lost == 10);
}

TEST_CASE("udp without batching, and on several threads", "[integration][udp]") {
  coronet::server_options o;
  o.udp.batching = false;
  o.threads = 2;
  udp_echo_fixture f(o);
  asio::io_context io;
  int good = 0;
  run(io, [](std::string url, int& good) -> asio::awaitable<void> {
    for (int c = 0; c < 20; ++c) {
      auto ch = co_await coronet::connect(url);
      REQUIRE(ch);
      for (int i = 0; i < 10; ++i) {
        auto msg = std::to_string(c * 100 + i);
        co_await ch->send(coronet::message_view(msg));
        auto m = co_await receive_within(*ch, 2s);
        if (m && m->text() == msg) ++good;
      }
    }
  }(f.url(), good));
  CHECK(good >= 198);
}

TEST_CASE("udp server stops gracefully", "[integration][udp]") {
  auto f = std::make_unique<udp_echo_fixture>();
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    co_await ch->send(coronet::message_view("x"));
    auto m = co_await receive_within(*ch, 2s);
    REQUIRE(m);
  }(f->url()));
  auto start = std::chrono::steady_clock::now();
  f->server.stop();
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  CHECK(f->server.connections() == 0u);
}
