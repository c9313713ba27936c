// ws:// end to end over loopback: echo of text and binary, large and
// fragmented messages, the handshake's options and refusals, keepalive,
// close codes both ways.
#include <coronet/coronet.hpp>
#include <coronet/tcp.hpp>
#include <coronet/tls.hpp>
#include <coronet/websocket.hpp>

#include "../support/echo.hpp"
#include "../support/echo_suite.hpp"
#include "../support/log_capture.hpp"
#include "../support/raw_http.hpp"
#include "../support/run.hpp"

#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using coronet::test::echo;
using coronet::test::pattern;
using coronet::test::raw_exchange;
using coronet::test::receive_within;
using coronet::test::run;
using coronet::test::upgrade_request;
using namespace std::chrono_literals;

namespace {

struct ws_fixture {
  coronet::server server;
  std::string path;
  explicit ws_fixture(coronet::server_options o = {}, std::string p = "/echo",
                      coronet::connection_handler h = echo)
      : path(std::move(p)) {
    auto started = server.start("ws://127.0.0.1:0" + path, std::move(h), std::move(o));
    REQUIRE(started);
  }
  std::string url(std::string_view p = {}) const {
    return "ws://127.0.0.1:" + std::to_string(server.port()) + std::string(p.empty() ? path : p);
  }
};

} // namespace

TEST_CASE("ws: echo of text and binary messages, kinds kept", "[integration][ws]") {
  ws_fixture f;
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    CHECK(ch->properties().scheme == "ws");
    CHECK(ch->properties().preserves_boundaries);
    for (int i = 0; i < 40; ++i) {
      auto msg = pattern(static_cast<std::size_t>(i * 97), i);
      auto kind = i % 2 ? coronet::message_kind::binary : coronet::message_kind::text;
      auto sent = co_await ch->send(coronet::message_view(msg, kind));
      REQUIRE(sent);
      auto m = co_await receive_within(*ch, 5s);
      REQUIRE(m);
      CHECK(m->kind == kind);
      CHECK(m->text() == msg);
    }
    auto closed = co_await ch->close();
    CHECK(closed);
  }(f.url()));
}

TEST_CASE("ws: 7-, 16- and 64-bit lengths, 16 MiB, fragmented sends", "[integration][ws]") {
  ws_fixture f;
  asio::io_context io;
  auto fragment = GENERATE(std::size_t(0), std::size_t(1000));
  run(
      io,
      [](std::string url, std::size_t fragment) -> asio::awaitable<void> {
        coronet::options o;
        o.websocket.fragment_size = fragment;
        auto ch = co_await coronet::connect(url, o);
        REQUIRE(ch);
        for (std::size_t size : {0u, 125u, 126u, 65535u, 65536u, 1u << 20, 16u << 20}) {
          auto msg = pattern(size, size);
          auto sent = co_await ch->send(coronet::message_view(msg, coronet::message_kind::binary));
          REQUIRE(sent);
          auto m = co_await receive_within(*ch, 20s);
          REQUIRE(m);
          CHECK(m->size() == size);
          CHECK(m->text() == msg);
        }
        co_await ch->close();
      }(f.url(), fragment),
      60s);
}

TEST_CASE("ws: many messages pipelined in one direction keep their order", "[integration][ws]") {
  ws_fixture f;
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    for (int i = 0; i < 2000; ++i) {
      auto r = co_await ch->send(coronet::message_view(std::to_string(i)));
      REQUIRE(r);
    }
    for (int i = 0; i < 2000; ++i) {
      auto m = co_await receive_within(*ch, 5s);
      REQUIRE(m);
      REQUIRE(m->text() == std::to_string(i));
    }
    co_await ch->close();
  }(f.url()));
}

TEST_CASE("ws: routes, subprotocols and the request hooks", "[integration][ws]") {
  coronet::server_options o;
  o.routes = {{"/echo", echo}, {"/upper", [](coronet::channel ch) -> asio::awaitable<void> {
                                  while (auto m = co_await ch.receive()) {
                                    std::string s(m->text());
                                    for (auto& c : s) c = static_cast<char>(std::toupper(c));
                                    if (!co_await ch.send(coronet::message_view(s))) break;
                                  }
                                }}};
  o.websocket.subprotocols = {"chat.v2", "chat.v1"};
  o.websocket.allowed_origins = {"http://good.example"};
  o.websocket.authorize = [](const coronet::http_request& r) {
    auto token = r.bearer_token();
    std::optional<std::string> q = r.query_value("token");
    if ((token && *token == "s3cret") || (q && *q == "s3cret"))
      return coronet::authorization::allow(std::string("user-of-") + r.path);
    auto refusal = coronet::http_response::error(401);
    refusal.headers.push_back({"WWW-Authenticate", "Bearer"});
    return coronet::authorization::refuse(refusal);
  };
  o.websocket.http_handler = [](const coronet::http_request& r) {
    coronet::http_response page;
    page.content_type = "text/html";
    page.body = "<p>hello from " + r.path + "</p>";
    return page;
  };
  coronet::server server;
  REQUIRE(server.start("ws://127.0.0.1:0", nullptr, o));
  auto base = "ws://127.0.0.1:" + std::to_string(server.port());
  asio::io_context io;

  SECTION("a route with a bearer token, an allowed origin and a subprotocol") {
    run(io, [](std::string base) -> asio::awaitable<void> {
      coronet::options c;
      c.websocket.subprotocols = {"chat.v1", "chat.v2"};
      c.websocket.request_headers = {{"Origin", "http://good.example"},
                                     {"Authorization", "Bearer s3cret"}};
      auto ch = co_await coronet::connect(base + "/upper", c);
      REQUIRE(ch);
      auto ws = ch->info<coronet::websocket_info>();
      REQUIRE(ws);
      CHECK(ws->subprotocol == "chat.v2"); // the server's preference wins
      CHECK(ch->info<coronet::tls_info>() == nullptr);
      auto sent = co_await ch->send("shout");
      REQUIRE(sent);
      auto m = co_await receive_within(*ch, 5s);
      REQUIRE(m);
      CHECK(m->text() == "SHOUT");
      co_await ch->close();
    }(base));
  }
  SECTION("the token in the query string") {
    run(io, [](std::string base) -> asio::awaitable<void> {
      coronet::options c;
      c.websocket.request_headers = {{"Origin", "http://good.example"}};
      auto ch = co_await coronet::connect(base + "/echo?token=s3cret", c);
      REQUIRE(ch);
      auto ws = ch->info<coronet::websocket_info>();
      REQUIRE(ws);
      CHECK(ws->request.path == "/echo");
      CHECK(ws->request.query == "token=s3cret");
      co_await ch->close();
    }(base));
  }
  SECTION("refusals carry the HTTP status") {
    run(io, [](std::string base) -> asio::awaitable<void> {
      coronet::options c;
      c.websocket.request_headers = {{"Origin", "http://good.example"}};
      auto no_token = co_await coronet::connect(base + "/echo", c);
      REQUIRE(!no_token);
      CHECK(no_token.error().category() == coronet::http_status_category());
      CHECK(no_token.error().value() == 401);
      CHECK(no_token.error() == coronet::condition::refused);

      coronet::options evil;
      evil.websocket.request_headers = {{"Origin", "http://evil.example"},
                                        {"Authorization", "Bearer s3cret"}};
      auto bad_origin = co_await coronet::connect(base + "/echo", evil);
      REQUIRE(!bad_origin);
      CHECK(bad_origin.error().value() == 403);

      c.websocket.request_headers.push_back({"Authorization", "Bearer s3cret"});
      auto no_route = co_await coronet::connect(base + "/nowhere", c);
      REQUIRE(!no_route);
      CHECK(no_route.error().value() == 404);
    }(base));
  }
  SECTION("a plain GET is answered by the http handler") {
    auto reply = raw_exchange(server.port(), "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK_THAT(reply, Catch::StartsWith("HTTP/1.1 200 OK\r\n"));
    CHECK_THAT(reply, Catch::Contains("<p>hello from /index.html</p>"));
  }
  for (int i = 0; i < 200 && server.connections() > 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(server.connections() == 0);
}

TEST_CASE("ws: routes conflict with a handler, paths or a URL path", "[integration][ws]") {
  struct conflict {
    const char* what;
    std::string url;
    bool with_handler, with_routes, with_paths;
    const char* logged;
  };
  const conflict cases[] = {
      {"a handler too", "ws://127.0.0.1:0", true, true, false, "both a handler and routes"},
      {"paths too", "ws://127.0.0.1:0", false, true, true, "both routes and paths"},
      {"a path in the URL", "ws://127.0.0.1:0/b", false, true, false, "a path in the URL"},
      {"a scheme without paths", "tcp://127.0.0.1:0", false, true, false, "tcp:// has none"},
      {"neither handler nor routes", "tcp://127.0.0.1:0", false, false, false, "no handler"},
  };
  for (auto& c : cases) {
    INFO(c.what);
    coronet::test::log_capture log;
    coronet::server_options o;
    if (c.with_routes) o.routes = {{"/a", echo}};
    if (c.with_paths) o.paths = {"/b"};
    coronet::server s;
    auto r = s.start(c.url, c.with_handler ? coronet::connection_handler(echo) : nullptr, o);
    REQUIRE_FALSE(r);
    CHECK(r.error() == coronet::errc::invalid_argument);
    auto logged = log.lines();
    REQUIRE(logged.size() == 1);
    CHECK_THAT(logged[0], Catch::Contains(c.logged));
  }
}

TEST_CASE("ws: bad upgrade requests get the right status", "[integration][ws]") {
  coronet::server_options o;
  o.websocket.handshake_timeout = 300ms;
  ws_fixture f(o);
  auto port = f.server.port();
  using Catch::StartsWith;
  CHECK_THAT(raw_exchange(port, "POST /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Key: "
                                "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
             StartsWith("HTTP/1.1 400 "));
  CHECK_THAT(raw_exchange(port, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n\r\n"),
             StartsWith("HTTP/1.1 400 "));
  CHECK_THAT(raw_exchange(port, upgrade_request("/echo", "")
                                    .replace(upgrade_request().find("Connection: Upgrade"), 19,
                                             "Connection: keep-alive")),
             StartsWith("HTTP/1.1 400 "));
  auto bad_key = upgrade_request();
  bad_key.replace(bad_key.find("dGhlIHNhbXBsZSBub25jZQ=="), 24, "short");
  CHECK_THAT(raw_exchange(port, bad_key), StartsWith("HTTP/1.1 400 "));
  auto old_version = upgrade_request();
  old_version.replace(old_version.find("Version: 13"), 11, "Version: 8");
  auto reply = raw_exchange(port, old_version);
  CHECK_THAT(reply, StartsWith("HTTP/1.1 426 "));
  CHECK_THAT(reply, Catch::Contains("Sec-WebSocket-Version: 13"));
  CHECK_THAT(
      raw_exchange(port, upgrade_request("/echo", "X-Big: " + std::string(20000, 'a') + "\r\n")),
      StartsWith("HTTP/1.1 431 "));
  CHECK_THAT(raw_exchange(port, "\x16\x03\x01 not http at all\r\n\r\n"),
             StartsWith("HTTP/1.1 400 "));
  // A handshake that never finishes is cut off at the deadline.
  auto start = std::chrono::steady_clock::now();
  CHECK(raw_exchange(port, "GET /echo HTTP/1.1\r\nHost: x\r\n").empty());
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  // ... and the server still serves.
  auto good = raw_exchange(port, upgrade_request() + std::string("\x88\x82\0\0\0\0\x03\xe8", 8));
  CHECK_THAT(good, StartsWith("HTTP/1.1 101 Switching Protocols\r\n"));
  CHECK_THAT(good, Catch::Contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
}

TEST_CASE("ws: close codes and reasons travel both ways", "[integration][ws]") {
  ws_fixture f({}, "/bye", [](coronet::channel ch) -> asio::awaitable<void> {
    auto m = co_await ch.receive();
    if (m) co_await ch.close({4001, "server says bye"});
  });
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    auto sent = co_await ch->send("hi");
    REQUIRE(sent);
    auto m = co_await receive_within(*ch, 5s);
    REQUIRE(!m);
    CHECK(m.error().category() == coronet::close_code_category());
    CHECK(m.error().value() == 4001);
    CHECK(m.error() == coronet::condition::connection_lost);
    auto closed = co_await ch->close();
    CHECK(closed);
  }(f.url()));
}

TEST_CASE("ws: a message over max_message is refused with 1009", "[integration][ws]") {
  coronet::server_options o;
  o.max_message = 1000;
  ws_fixture f(o);
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    auto sent = co_await ch->send(coronet::message_view(pattern(1001, 1)));
    REQUIRE(sent);
    auto m = co_await receive_within(*ch, 5s);
    REQUIRE(!m);
    CHECK(m.error().value() == 1009);
    co_await ch->close();
  }(f.url()));
}

TEST_CASE("ws: keepalive drops a peer that stops answering pings", "[integration][ws]") {
  // The client here never reads, so it never answers the server's pings.
  coronet::server_options o;
  o.websocket.ping_interval = 100ms;
  o.websocket.pong_timeout = 200ms;
  std::atomic<bool> timed_out{false};
  ws_fixture f(o, "/echo", [&](coronet::channel ch) -> asio::awaitable<void> {
    auto m = co_await ch.receive();
    if (!m && m.error() == coronet::errc::timeout) timed_out = true;
  });
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto s = co_await coronet::tcp_connect(
        "127.0.0.1", static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1))));
    REQUIRE(s);
    auto req = upgrade_request();
    co_await coronet::write(*s, asio::buffer(req));
    co_await coronet::test::sleep_for(1s); // read nothing, answer nothing
  }(f.url()));
  CHECK(timed_out);
}

TEST_CASE("ws: keepalive keeps a live connection open", "[integration][ws]") {
  coronet::server_options o;
  o.websocket.ping_interval = 50ms;
  o.websocket.pong_timeout = 200ms;
  ws_fixture f(o);
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    auto idle = co_await receive_within(*ch, 600ms); // answers pings while waiting
    CHECK(idle.error() == coronet::errc::timeout);
    auto sent = co_await ch->send("still here");
    REQUIRE(sent);
    auto m = co_await receive_within(*ch, 5s);
    REQUIRE(m);
    CHECK(m->text() == "still here");
    co_await ch->close();
  }(f.url()));
}

TEST_CASE("ws: close() with a receive() pending, and with a message held", "[integration][ws]") {
  ws_fixture f({}, "/chatty", [](coronet::channel ch) -> asio::awaitable<void> {
    auto m = co_await ch.receive();
    if (!m) co_return;
    for (int i = 0; i < 200; ++i)
      if (!co_await ch.send(coronet::message_view(pattern(3000, static_cast<std::size_t>(i)))))
        co_return;
    while (co_await ch.receive()) {}
  });
  auto concurrent_reader = GENERATE(false, true);
  asio::io_context io;
  run(io, [](std::string url, bool concurrent_reader) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    auto sent = co_await ch->send("go");
    REQUIRE(sent);
    auto first = co_await receive_within(*ch, 5s);
    REQUIRE(first);
    std::string held(first->text());
    auto view = first->text(); // valid until the next receive()
    bool reader_done = !concurrent_reader;
    if (concurrent_reader) {
      // One reader at a time: close() leaves the reading to this receive()
      // loop instead of reading beside it.
      auto ex = co_await asio::this_coro::executor;
      asio::co_spawn(
          ex,
          [](coronet::channel c, bool& done) -> asio::awaitable<void> {
            while (co_await c.receive()) {}
            done = true;
          }(*ch, reader_done),
          asio::detached);
    }
    auto closed = co_await ch->close();
    CHECK(closed);
    for (int i = 0; i < 100 && !reader_done; ++i) co_await coronet::test::sleep_for(10ms);
    CHECK(reader_done);
    CHECK(held == pattern(3000, 0));
    // Without another receive(), close() read and dropped what followed
    // without moving the message held (under ASan a freed buffer here is an
    // error, not a quiet pass).
    if (!concurrent_reader) CHECK(std::string(view) == held);
  }(f.url(), concurrent_reader));
}

TEST_CASE("ws: ?timeout_ms= bounds each receive()", "[integration][ws]") {
  ws_fixture f;
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url + "?timeout_ms=200");
    REQUIRE(ch);
    auto start = std::chrono::steady_clock::now();
    auto m = co_await ch->receive();
    REQUIRE(!m);
    CHECK(m.error() == coronet::errc::timeout);
    CHECK(std::chrono::steady_clock::now() - start < 2s);
    auto sent = co_await ch->send("after the timeout");
    REQUIRE(sent);
    auto echo = co_await ch->receive();
    REQUIRE(echo);
    CHECK(echo->text() == "after the timeout");
    co_await ch->close();
  }(f.url()));
}

TEST_CASE("ws: server stop ends busy connections promptly, with a clean close",
          "[integration][ws]") {
  coronet::server_options o;
  o.drain_timeout = 3s;
  auto f = std::make_unique<ws_fixture>(o);
  // A client on a thread of its own keeps the server busy; what it saw is
  // checked here, on the test's thread, once it has ended.
  std::atomic<int> echoed{0};
  std::error_code connect_error, ended_with;
  std::thread client([&, url = f->url()] {
    asio::io_context io;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto ch = co_await coronet::connect(url);
          if (!ch) {
            connect_error = ch.error();
            co_return;
          }
          ch->set_receive_timeout(5s);
          for (int i = 0; i < 1'000'000; ++i) {
            auto sent = co_await ch->send("busy");
            if (!sent) {
              ended_with = sent.error();
              co_return;
            }
            auto m = co_await ch->receive();
            if (!m) {
              ended_with = m.error();
              co_return;
            }
            ++echoed;
          }
        },
        asio::detached);
    io.run();
  });
  for (int i = 0; i < 500 && echoed < 100; ++i) std::this_thread::sleep_for(10ms);
  auto start = std::chrono::steady_clock::now();
  f->server.stop();
  auto took = std::chrono::steady_clock::now() - start;
  client.join();
  CHECK_FALSE(connect_error);
  CHECK(echoed >= 100);
  // The server ended the connection with a close frame, not a reset or silence.
  CHECK(ended_with == coronet::errc::closed);
  CHECK(took < 2s);
}

TEST_CASE("ws: the echo suite every transport passes", "[integration][ws]") {
  ws_fixture f;
  asio::io_context io;
  coronet::test::check_echo_suite(io, f.url());
}

TEST_CASE("ws: a server channel keeps its request, less the handshake's own headers",
          "[integration][ws]") {
  // The handler answers with what info<websocket_info>() holds.
  ws_fixture f({}, "/info", [](coronet::channel ch) -> asio::awaitable<void> {
    auto ws = ch.info<coronet::websocket_info>();
    std::string seen = ws ? ws->request.method + " " + ws->request.target + " " + ws->request.path
                          : "no websocket_info";
    if (ws)
      for (auto& [name, value] : ws->request.headers) seen += " | " + name + ": " + value;
    if (auto m = co_await ch.receive()) co_await ch.send(coronet::message_view(seen));
  });
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    coronet::options o;
    o.websocket.request_headers = {{"X-Room", "7"}};
    auto ch = co_await coronet::connect(url + "?room=7", o);
    REQUIRE(ch);
    auto mine = ch->info<coronet::websocket_info>(); // the client's: the request it sent
    REQUIRE(mine);
    CHECK(mine->request.path == "/info");
    CHECK(mine->request.query == "room=7");
    co_await ch->send("what did you get?");
    auto m = co_await receive_within(*ch, 5s);
    REQUIRE(m);
    std::string seen(m->text());
    CHECK_THAT(seen, Catch::StartsWith("GET /info?room=7 /info"));
    CHECK_THAT(seen, Catch::Contains("X-Room: 7"));
    CHECK_THAT(seen, Catch::Contains("Host: "));
    CHECK_THAT(seen, !Catch::Contains("Sec-WebSocket-Key"));
    CHECK_THAT(seen, !Catch::Contains("Upgrade"));
    co_await ch->close();
  }(f.url()));
}
