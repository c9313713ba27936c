// tcp:// end to end over loopback: every framing, large messages, many
// connections, failures, timeouts and graceful shutdown.
#include <coronet/coronet.hpp>
#include <coronet/tcp.hpp>

#include "../support/echo.hpp"
#include "../support/echo_suite.hpp"
#include "../support/run.hpp"

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <catch2/catch.hpp>

#include <asio/detached.hpp>

#include <atomic>
#include <mutex>
#include <thread>

using coronet::test::echo;
using coronet::test::pattern;
using coronet::test::receive_within;
using coronet::test::run;
using namespace std::chrono_literals;

namespace {

// An echo server on 127.0.0.1 with a free port.
struct echo_fixture {
  coronet::server server;
  std::string query;
  explicit echo_fixture(std::string q = "", coronet::server_options o = {},
                        coronet::connection_handler h = echo)
      : query(std::move(q)) {
    auto started = server.start("tcp://127.0.0.1:0" + query, std::move(h), o);
    REQUIRE(started);
  }
  std::string url() const { return "tcp://127.0.0.1:" + std::to_string(server.port()) + query; }
};

} // namespace

TEST_CASE("echo over each framing", "[integration][tcp]") {
  auto query = GENERATE(std::string(""), std::string("?framing=line"), std::string("?framing=raw"));
  echo_fixture f(query);
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    CHECK(ch->properties().reliable);
    CHECK(ch->properties().scheme == "tcp");
    CHECK_THAT(ch->remote(), Catch::StartsWith("127.0.0.1:"));
    bool whole = ch->properties().preserves_boundaries;
    for (int i = 0; i < 50; ++i) {
      auto msg = pattern(1 + i * 37, i);
      auto sent = co_await ch->send(coronet::message_view(msg));
      REQUIRE(sent);
      std::string got;
      while (got.size() < msg.size()) {
        auto m = co_await receive_within(*ch, 5s);
        REQUIRE(m);
        got += m->text();
        if (whole) break;
      }
      CHECK(got == msg);
    }
    auto closed = co_await ch->close();
    CHECK(closed);
  }(f.url()));
}

TEST_CASE("a 16 MiB message", "[integration][tcp]") {
  echo_fixture f;
  asio::io_context io;
  run(
      io,
      [](std::string url) -> asio::awaitable<void> {
        auto ch = co_await coronet::connect(url);
        REQUIRE(ch);
        auto big = pattern(16 * 1024 * 1024, 3);
        auto sent = co_await ch->send(coronet::message_view(big));
        REQUIRE(sent);
        auto m = co_await receive_within(*ch, 30s);
        REQUIRE(m);
        CHECK(m->size() == big.size());
        CHECK(m->text() == big);
      }(f.url()),
      60s);
}

TEST_CASE("1,000 concurrent connections", "[integration][tcp]") {
  coronet::test::raise_fd_limit();
  echo_fixture f;
  asio::io_context io;
  int echoed = 0;
  run(
      io,
      [](std::string url, coronet::server& server, int& echoed) -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        std::vector<coronet::channel> open;
        for (int i = 0; i < 1000; ++i) {
          auto ch = co_await coronet::connect(url);
          REQUIRE(ch);
          open.push_back(*ch);
        }
        for (int i = 0; i < 200 && server.connections() < 1000; ++i)
          co_await coronet::test::sleep_for(10ms);
        CHECK(server.connections() == 1000u);
        int done = 0;
        for (std::size_t i = 0; i < open.size(); ++i)
          asio::co_spawn(
              ex,
              [](coronet::channel ch, std::size_t i, int& echoed) -> asio::awaitable<void> {
                auto msg = pattern(100, i);
                co_await ch.send(coronet::message_view(msg));
                auto m = co_await receive_within(ch, 20s);
                if (m && m->text() == msg) ++echoed;
                co_await ch.close();
              }(open[i], i, echoed),
              [&done](std::exception_ptr) { ++done; });
        for (int i = 0; i < 3000 && done < 1000; ++i) co_await coronet::test::sleep_for(10ms);
        CHECK(done == 1000);
      }(f.url(), f.server, echoed),
      60s);
  CHECK(echoed == 1000);
}

TEST_CASE("a peer reset mid-message is an error for that connection only", "[integration][tcp]") {
  std::atomic<int> errors{0};
  std::error_code last;
  std::mutex m;
  echo_fixture f("", {}, [&](coronet::channel ch) -> asio::awaitable<void> {
    for (;;) {
      auto msg = co_await ch.receive();
      if (!msg) {
        std::lock_guard lock(m);
        last = msg.error();
        ++errors;
        co_return;
      }
      co_await ch.send(*msg);
    }
  });
  asio::io_context io;
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::ip::tcp::socket raw(ex);
    auto [ec] = co_await raw.async_connect({asio::ip::make_address("127.0.0.1"), port},
                                           coronet::detail::use_tuple);
    REQUIRE_FALSE(ec);
    const unsigned char partial[] = {0, 0, 0x10, 0, 'a', 'b', 'c'}; // declares 4096 bytes, sends 3
    co_await asio::async_write(raw, asio::buffer(partial), coronet::detail::use_tuple);
    co_await coronet::test::sleep_for(20ms);
    raw.set_option(asio::socket_base::linger(true, 0)); // close with RST
    raw.close();
  }(f.server.port()));
  for (int i = 0; i < 200 && errors == 0; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(errors == 1);
  {
    std::lock_guard lock(m);
    INFO(last.message());
    CHECK((last == asio::error::connection_reset || last == coronet::errc::protocol_error));
  }
  // the server goes on serving
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    co_await ch->send(coronet::message_view("still here"));
    auto r = co_await receive_within(*ch, 5s);
    REQUIRE(r);
    CHECK(r->text() == "still here");
  }(f.url()));
}

TEST_CASE("a declared message over the limit closes that connection", "[integration][tcp]") {
  coronet::server_options o;
  o.max_message = 1024;
  std::atomic<bool> too_large{false};
  echo_fixture f("", o, [&](coronet::channel ch) -> asio::awaitable<void> {
    for (;;) {
      auto msg = co_await ch.receive();
      if (!msg) {
        too_large = msg.error() == coronet::errc::message_too_large;
        co_return;
      }
      co_await ch.send(*msg);
    }
  });
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    co_await ch->send(coronet::message_view(std::string(1025, 'x')));
    auto r = co_await receive_within(*ch, 5s);
    REQUIRE_FALSE(r);
    CHECK(r.error() == coronet::errc::closed);
  }(f.url()));
  CHECK(too_large);
}

TEST_CASE("connecting where nothing listens", "[integration][tcp]") {
  asio::io_context io;
  // a port that was free a moment ago
  asio::ip::tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto port = probe.local_endpoint().port();
  probe.close();
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect("tcp://127.0.0.1:" + std::to_string(port));
    REQUIRE_FALSE(ch);
    CHECK(ch.error() == coronet::errc::connection_refused);
    auto bad = co_await coronet::connect("tcp://127.0.0.1");
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == coronet::errc::invalid_url);
    auto unknown = co_await coronet::connect("tcp://no-such-host.invalid:80");
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error() == coronet::errc::resolve_failed);
  }(port));
}

TEST_CASE("connect timeout", "[integration][tcp]") {
  asio::io_context io;
  // A listener that never accepts, with its backlog full: Linux drops further SYNs.
  asio::ip::tcp::acceptor full(io);
  full.open(asio::ip::tcp::v4());
  full.bind({asio::ip::make_address("127.0.0.1"), 0});
  full.listen(0);
  auto port = full.local_endpoint().port();
  std::vector<asio::ip::tcp::socket> fillers;
  for (int i = 0; i < 4; ++i) {
    fillers.emplace_back(io);
    fillers.back().async_connect({asio::ip::make_address("127.0.0.1"), port},
                                 [](std::error_code) {});
  }
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    co_await coronet::test::sleep_for(50ms);
    auto start = std::chrono::steady_clock::now();
    auto ch =
        co_await coronet::connect("tcp://127.0.0.1:" + std::to_string(port) + "?timeout_ms=200");
    auto took = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(ch);
    CHECK(ch.error() == coronet::errc::timeout);
    CHECK(took >= 150ms);
    CHECK(took < 3s);
  }(port));
  for (auto& s : fillers) s.close();
}

TEST_CASE("receive timeout from the URL, and the connection survives it", "[integration][tcp]") {
  // a server that answers only the second message
  echo_fixture f("", {}, [](coronet::channel ch) -> asio::awaitable<void> {
    auto first = co_await ch.receive();
    auto second = co_await ch.receive();
    if (first && second) co_await ch.send(*second);
  });
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url + "?timeout_ms=100");
    REQUIRE(ch);
    co_await ch->send(coronet::message_view("one"));
    auto r = co_await ch->receive();
    REQUIRE_FALSE(r);
    CHECK(r.error() == coronet::errc::timeout);
    co_await ch->send(coronet::message_view("two"));
    auto r2 = co_await ch->receive();
    REQUIRE(r2);
    CHECK(r2->text() == "two");
  }("tcp://127.0.0.1:" + std::to_string(f.server.port())));
}

TEST_CASE("set_receive_timeout changes one channel's deadline", "[integration][tcp]") {
  // A server that waits 300 ms before each echo.
  echo_fixture f("", {}, [](coronet::channel ch) -> asio::awaitable<void> {
    while (auto m = co_await ch.receive()) {
      std::string copy(m->text());
      co_await coronet::test::sleep_for(300ms);
      if (!co_await ch.send(coronet::message_view(copy))) break;
    }
  });
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url + "?timeout_ms=5000");
    REQUIRE(ch);
    co_await ch->send(coronet::message_view("slow"));
    ch->set_receive_timeout(50ms);
    auto start = std::chrono::steady_clock::now();
    auto early = co_await ch->receive();
    REQUIRE_FALSE(early);
    CHECK(early.error() == coronet::errc::timeout);
    CHECK(std::chrono::steady_clock::now() - start < 250ms);
    ch->set_receive_timeout(0ms); // no deadline: the echo comes
    auto late = co_await ch->receive();
    REQUIRE(late);
    CHECK(late->text() == "slow");
  }("tcp://127.0.0.1:" + std::to_string(f.server.port())));
}

TEST_CASE("server idle timeout closes a silent connection", "[integration][tcp]") {
  coronet::server_options o;
  o.receive_timeout = 100ms;
  echo_fixture f("", o);
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    auto start = std::chrono::steady_clock::now();
    auto r = co_await receive_within(*ch, 5s);
    REQUIRE_FALSE(r);
    CHECK(r.error() == coronet::errc::closed);
    CHECK(std::chrono::steady_clock::now() - start >= 80ms);
  }(f.url()));
}

TEST_CASE("listening on a port in use fails", "[integration][tcp]") {
  echo_fixture f;
  coronet::server second;
  auto r = second.start("tcp://127.0.0.1:" + std::to_string(f.server.port()), echo);
  REQUIRE_FALSE(r);
  CHECK(r.error() == asio::error::address_in_use);
}

TEST_CASE("tcp_stream: half-close, read_exactly, read_until", "[integration][tcp]") {
  asio::io_context io;
  auto acceptor = coronet::tcp_acceptor::open(io.get_executor(), "127.0.0.1", 0);
  REQUIRE(acceptor);
  run(io, [](coronet::tcp_acceptor& acceptor) -> asio::awaitable<void> {
    auto client = co_await coronet::tcp_connect("127.0.0.1", acceptor.port());
    REQUIRE(client);
    auto server = co_await acceptor.accept();
    REQUIRE(server);
    std::string hello = "GET / HTTP/1.1\r\n\r\nBODY";
    auto w = co_await coronet::write(*client, asio::buffer(hello));
    REQUIRE(w == hello.size());
    REQUIRE(client->shutdown(asio::socket_base::shutdown_send)); // half-close
    std::string buf;
    auto head = co_await coronet::read_until(*server, buf, "\r\n\r\n");
    REQUIRE(head);
    CHECK(buf.substr(0, *head) == "GET / HTTP/1.1\r\n\r\n");
    char body[4];
    buf.erase(0, *head);
    std::size_t have = buf.size();
    std::copy(buf.begin(), buf.end(), body);
    if (have < 4) {
      auto rest = co_await coronet::read_exactly(*server, asio::buffer(body + have, 4 - have));
      REQUIRE(rest);
    }
    CHECK(std::string(body, 4) == "BODY");
    char more[8];
    auto eof = co_await coronet::read_some(*server, asio::buffer(more));
    REQUIRE_FALSE(eof);
    CHECK(eof.error() == coronet::errc::closed);
    // the other direction still works after the client's half-close
    auto back = co_await coronet::write(*server, asio::buffer(std::string("OK")));
    REQUIRE(back);
    auto got = co_await coronet::read_exactly(*client, asio::buffer(more, 2));
    REQUIRE(got);
    CHECK(std::string(more, 2) == "OK");
  }(*acceptor));
}

TEST_CASE("graceful shutdown loses no message the server acknowledged", "[integration][tcp]") {
  std::atomic<std::size_t> acknowledged{0};
  echo_fixture f("", {}, [&](coronet::channel ch) -> asio::awaitable<void> {
    while (auto m = co_await ch.receive()) {
      if (!co_await ch.send(*m)) break;
      ++acknowledged;
    }
  });
  asio::io_context io;
  std::size_t received = 0;
  std::thread stopper;
  run(
      io,
      [](std::string url, coronet::server& server, std::size_t& received,
         std::thread& stopper) -> asio::awaitable<void> {
        auto ch = co_await coronet::connect(url);
        REQUIRE(ch);
        auto ex = co_await asio::this_coro::executor;
        // The sender pipelines numbered messages until the stop begins, then
        // finishes the message it is on.  (A peer that keeps flooding a
        // closing server can stall the drain: see docs/tcp.md, close().)
        auto stopping = std::make_shared<bool>(false);
        asio::co_spawn(
            ex,
            [](coronet::channel ch, std::shared_ptr<bool> stopping) -> asio::awaitable<void> {
              for (std::size_t i = 0; i < 100'000 && !*stopping; ++i) {
                auto text = std::to_string(i);
                if (!co_await ch.send(coronet::message_view(text))) break;
                if (i % 64 == 0) co_await asio::post(asio::use_awaitable); // let the reader run
              }
            }(*ch, stopping),
            asio::detached);
        for (;;) {
          auto m = co_await ch->receive();
          if (!m) {
            // a peer that keeps sending into a closing connection may be reset
            // once it has everything: closed or connection_reset, never a cut message
            INFO(m.error().message());
            CHECK(
                (m.error() == coronet::errc::closed || m.error() == asio::error::connection_reset));
            break;
          }
          if (m->text() != std::to_string(received))
            FAIL("echo " << received << " is " << m->text());
          if (++received == 2000) {
            *stopping = true;
            stopper = std::thread([&server] { server.stop(); });
          }
        }
      }(f.url(), f.server, received, stopper),
      60s);
  if (stopper.joinable()) stopper.join();
  CHECK(received >= 2000u);
  CHECK(received == acknowledged.load());
}

TEST_CASE("a handler can stop its own server", "[integration][tcp]") {
  coronet::server* self = nullptr;
  echo_fixture f("", {}, [&self](coronet::channel ch) -> asio::awaitable<void> {
    while (auto m = co_await ch.receive()) {
      if (m->text() == "stop")
        self->request_stop();
      else
        co_await ch.send(*m);
    }
  });
  self = &f.server;
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    co_await ch->send("stop");
    auto r = co_await receive_within(*ch, 5s);
    REQUIRE_FALSE(r);
    CHECK(r.error() == coronet::condition::connection_lost);
  }(f.url()));
  f.server.wait();
  CHECK(f.server.connections() == 0u);
}

TEST_CASE("tcp: the echo suite every transport passes", "[integration][tcp]") {
  echo_fixture f;
  asio::io_context io;
  coronet::test::check_echo_suite(io, f.url());
}
