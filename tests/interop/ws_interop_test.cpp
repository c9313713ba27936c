// WebSocket interop, coronet as the client of real peers' echo servers:
// Python `websockets` (tests/interop/py_peer.py, Debian's python3-websockets)
// and Node `ws` (tests/interop/node_peer.js, installed by scripts/setup.sh).
// Each test starts its peer as a child process on a free loopback port and
// ends it (stdin EOF, then SIGKILL if it lingers).  The peer prints "port N"
// and then one "closed CODE REASON" line per connection, which is how the
// close codes coronet sent are checked.
#include <coronet/coronet.hpp>

#include "../support/child_process.hpp"
#include "../support/echo.hpp"
#include "../support/run.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#ifndef CORONET_SOURCE_DIR
#error "CORONET_SOURCE_DIR must name the source tree (tests/interop/ holds the peers)"
#endif

using coronet::test::receive_within;
using coronet::test::run;
using namespace std::chrono_literals;

namespace {

const std::string interop_dir = std::string(CORONET_SOURCE_DIR) + "/tests/interop";

using peer_process = coronet::test::child_process;

enum class peer_kind { python, node };

// Starts the peer's echo server and returns its ws:// URL.
struct peer_server {
  std::optional<peer_process> proc;
  std::string url;

  explicit peer_server(peer_kind k) {
    if (k == peer_kind::node &&
        !std::filesystem::exists(interop_dir + "/node/node_modules/ws/package.json"))
      FAIL("Node's ws is not installed in " << interop_dir
                                            << "/node/node_modules: run scripts/setup.sh");
    if (k == peer_kind::python)
      proc.emplace(
          std::vector<std::string>{"/usr/bin/python3", interop_dir + "/py_peer.py", "server"});
    else
      proc.emplace(std::vector<std::string>{"node", interop_dir + "/node_peer.js", "server"});
    auto line = proc->read_line(20s);
    if (!line || line->rfind("port ", 0) != 0)
      FAIL("the " << (k == peer_kind::python ? "Python websockets" : "Node ws")
                  << " peer did not start (got \"" << line.value_or("<nothing>")
                  << "\"); see its stderr above, and run scripts/setup.sh");
    url = "ws://127.0.0.1:" + line->substr(5) + "/";
  }
};

// The peer logs each connection's end as "closed CODE REASON" (the code of
// the close frame it received).
void check_peer_printed(peer_server& peer, const std::string& want) {
  bool seen = peer.proc->expect_line(want);
  INFO("wanted [" << want << "], the peer printed: " << peer.proc->seen());
  CHECK(seen);
}

std::vector<std::byte> pattern(std::size_t n, std::size_t seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::byte((seed + i * 7) & 0xff);
  return v;
}

const char* kind_name(coronet::message_kind k) {
  return k == coronet::message_kind::text ? "text" : "binary";
}

// Sends `m` and checks the echo: same bytes, same kind.
asio::awaitable<void> check_echo(coronet::channel& ch, coronet::message_view m) {
  INFO("sent " << m.size() << " bytes of " << kind_name(m.kind));
  auto sent = co_await ch.send(m);
  REQUIRE(sent);
  auto got = co_await receive_within(ch, 10s);
  if (!got) FAIL("no echo: " << got.error().message());
  CHECK(got->kind == m.kind);
  CHECK(got->size() == m.size());
  bool same_bytes = got->text() == m.text(); // not CHECKed directly: 1 MiB in a report
  CHECK(same_bytes);
}

std::string peer_name(peer_kind k) { return k == peer_kind::python ? "python" : "node"; }

} // namespace

TEST_CASE("ws interop: text, binary, 1 MiB, empty, fragmented, kinds kept", "[interop][ws]") {
  auto k = GENERATE(peer_kind::python, peer_kind::node);
  INFO("peer: " << peer_name(k));
  peer_server peer(k);
  auto fragment = GENERATE(std::size_t(0), std::size_t(1000));
  INFO("coronet fragment_size " << fragment);
  asio::io_context io;
  run(
      io,
      [](std::string url, std::size_t fragment) -> asio::awaitable<void> {
        coronet::options o;
        o.websocket.fragment_size = fragment;
        auto ch = co_await coronet::connect(url, o);
        if (!ch) FAIL("connect " << url << ": " << ch.error().message());
        co_await check_echo(*ch, "hello from coronet");
        co_await check_echo(*ch, "h\xc3\xa9llo w\xc3\xb6rld \xe2\x98\x83 \xf0\x9f\x98\x80");
        auto small = pattern(1000, 3);
        co_await check_echo(*ch, coronet::message_view(small, coronet::message_kind::binary));
        // text that looks like anything: still text
        co_await check_echo(*ch, coronet::message_view("0123", coronet::message_kind::text));
        auto as_text = std::string(2000, 'x');
        co_await check_echo(*ch, coronet::message_view(as_text, coronet::message_kind::text));
        auto big = pattern(1u << 20, 5);
        co_await check_echo(*ch, coronet::message_view(big, coronet::message_kind::binary));
        auto big_text = std::string(1u << 20, 'y');
        co_await check_echo(*ch, coronet::message_view(big_text, coronet::message_kind::text));
        co_await check_echo(*ch,
                            coronet::message_view(std::string_view(), coronet::message_kind::text));
        co_await check_echo(*ch, coronet::message_view(std::span<const std::byte>(),
                                                       coronet::message_kind::binary));
        // the peer's fragmented messages arrive whole, kinds kept
        auto asked = co_await ch->send("fragments please");
        REQUIRE(asked);
        auto t = co_await receive_within(*ch, 10s);
        if (!t) FAIL("fragmented text: " << t.error().message());
        CHECK(t->kind == coronet::message_kind::text);
        CHECK(t->text() == "fragmented text");
        auto b = co_await receive_within(*ch, 10s);
        if (!b) FAIL("fragmented binary: " << b.error().message());
        CHECK(b->kind == coronet::message_kind::binary);
        CHECK(b->text() == std::string_view("\x00\x01\x02", 3));
        // pipelined: order kept
        for (int i = 0; i < 200; ++i) {
          auto s = std::to_string(i);
          auto r = co_await ch->send(coronet::message_view(s));
          REQUIRE(r);
        }
        for (int i = 0; i < 200; ++i) {
          auto m = co_await receive_within(*ch, 10s);
          if (!m) FAIL("pipelined " << i << ": " << m.error().message());
          REQUIRE(m->text() == std::to_string(i));
        }
        auto closed = co_await ch->close();
        CHECK(closed);
      }(peer.url, fragment),
      60s);
  check_peer_printed(peer, "closed 1000 ");
}

TEST_CASE("ws interop: the peer server's pings are answered", "[interop][ws]") {
  auto k = GENERATE(peer_kind::python, peer_kind::node);
  INFO("peer: " << peer_name(k));
  peer_server peer(k);
  asio::io_context io;
  run(
      io,
      [](std::string url) -> asio::awaitable<void> {
        auto ch = co_await coronet::connect(url);
        if (!ch) FAIL("connect " << url << ": " << ch.error().message());
        // Idle while receiving: Python's keepalive pings every 0.2 s, Node
        // pings once at the start.  Unanswered, Python would close with 1011.
        auto idle = co_await receive_within(*ch, 1500ms);
        REQUIRE(!idle);
        CHECK(idle.error() == coronet::errc::timeout);
        for (int i = 0; i < 3; ++i) {
          auto sent = co_await ch->send("ping me");
          REQUIRE(sent);
          auto m = co_await receive_within(*ch, 15s);
          if (!m) FAIL("after \"ping me\": " << m.error().message());
          CHECK(m->kind == coronet::message_kind::text);
          CHECK(m->text() == "pong received");
        }
        co_await check_echo(*ch, "still open");
        auto closed = co_await ch->close();
        CHECK(closed);
      }(peer.url),
      60s);
  check_peer_printed(peer, "closed 1000 ");
}

TEST_CASE("ws interop: coronet closes with 1000 and with 4000 \"bye\"", "[interop][ws]") {
  auto k = GENERATE(peer_kind::python, peer_kind::node);
  INFO("peer: " << peer_name(k));
  peer_server peer(k);
  asio::io_context io;
  auto code = GENERATE(std::uint16_t(1000), std::uint16_t(4000));
  std::string reason = code == 1000 ? "" : "bye";
  run(
      io,
      [](std::string url, std::uint16_t code, std::string reason) -> asio::awaitable<void> {
        auto ch = co_await coronet::connect(url);
        if (!ch) FAIL("connect " << url << ": " << ch.error().message());
        co_await check_echo(*ch, "before close");
        auto closed = co_await ch->close({code, reason});
        if (!closed) FAIL("close(" << code << "): " << closed.error().message());
      }(peer.url, code, reason),
      30s);
  auto want = "closed " + std::to_string(code) + " " + reason;
  check_peer_printed(peer, want);
}

TEST_CASE("ws interop: the peer server closes with 4000 \"bye\"", "[interop][ws]") {
  auto k = GENERATE(peer_kind::python, peer_kind::node);
  INFO("peer: " << peer_name(k));
  peer_server peer(k);
  asio::io_context io;
  run(
      io,
      [](std::string url) -> asio::awaitable<void> {
        auto ch = co_await coronet::connect(url);
        if (!ch) FAIL("connect " << url << ": " << ch.error().message());
        co_await check_echo(*ch, "before close");
        auto sent = co_await ch->send("please close");
        REQUIRE(sent);
        auto m = co_await receive_within(*ch, 10s);
        REQUIRE(!m);
        INFO("receive() failed with " << m.error().category().name() << " " << m.error().value()
                                      << ": " << m.error().message());
        CHECK(m.error().category() == coronet::close_code_category());
        CHECK(m.error().value() == 4000);
        CHECK(m.error() == coronet::condition::connection_lost);
        auto again = co_await receive_within(*ch, 1s);
        CHECK(!again);
        auto late = co_await ch->send("too late");
        CHECK(!late);
        auto closed = co_await ch->close();
        INFO("close(): " << (closed ? "ok" : closed.error().message()));
        CHECK(closed);
      }(peer.url),
      30s);
  // The close frame coronet answered with carries the same code.
  check_peer_printed(peer, "closed 4000 bye");
}
