// The opening handshake over an in-memory stream with faults: Beast's fail
// loop (operation 0, 1, 2, ... of either side fails, as a dead connection
// would, until the scenario passes), short reads and split writes.  Whatever
// fails, both sides end with an error, promptly: no hang, no crash, no leak.
#include <coronet/memory_stream.hpp>
#include <coronet/timeout.hpp>
#include <coronet/websocket.hpp>

#include "../support/run.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include <catch2/catch.hpp>

using coronet::memory_stream;
using coronet::test::run;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

std::shared_ptr<const coronet::endpoint_config> config() {
  auto c = std::make_shared<coronet::endpoint_config>();
  c->options.websocket.subprotocols = {"chat"};
  c->properties = {.reliable = true, .ordered = true, .preserves_boundaries = true, .scheme = "ws"};
  return c;
}

struct outcome {
  std::error_code client, server; // empty: that side's handshake and message went through
};

// A message each way once both handshakes are done, and the close handshake.
asio::awaitable<std::error_code> client_side(memory_stream s) {
  auto ws =
      co_await coronet::websocket_handshake(std::move(s), "example.com", "/chat?room=1", config());
  if (!ws) co_return ws.error();
  if (ws->details().subprotocol != "chat") co_return coronet::errc::handshake_failed;
  if (auto sent = co_await ws->send("hello"); !sent) co_return sent.error();
  auto m = co_await ws->receive();
  if (!m) co_return m.error();
  if (m->text() != "HELLO") co_return coronet::errc::protocol_error;
  if (auto closed = co_await ws->close(); !closed) co_return closed.error();
  co_return std::error_code{};
}

asio::awaitable<std::error_code> server_side(memory_stream s) {
  auto ws = co_await coronet::accept_websocket(std::move(s), config());
  if (!ws) co_return ws.error();
  if (ws->details().request.path != "/chat") co_return coronet::errc::handshake_failed;
  auto m = co_await ws->receive();
  if (!m) co_return m.error();
  if (m->text() != "hello") co_return coronet::errc::protocol_error;
  if (auto sent = co_await ws->send("HELLO"); !sent) co_return sent.error();
  if (auto closed = co_await ws->close(); !closed) co_return closed.error();
  co_return std::error_code{};
}

// Both sides at once, each bounded: a side still running after 3 s hangs.
outcome handshake(coronet::memory_stream_faults client, coronet::memory_stream_faults server) {
  asio::io_context io;
  auto [a, b] = memory_stream::make_pair(io.get_executor(), client, server);
  auto bounded = [](asio::awaitable<std::error_code> side) -> asio::awaitable<std::error_code> {
    auto wrapped = [](asio::awaitable<std::error_code> s)
        -> asio::awaitable<coronet::result<std::error_code>> { co_return co_await std::move(s); };
    auto r = co_await coronet::with_timeout(wrapped(std::move(side)), 3s);
    co_return r ? *r : r.error();
  };
  auto [c, s] =
      run(io, [](auto c, auto s) -> asio::awaitable<std::tuple<std::error_code, std::error_code>> {
        co_return co_await (std::move(c) && std::move(s));
      }(bounded(client_side(std::move(a))), bounded(server_side(std::move(b)))));
  return {c, s};
}

} // namespace

TEST_CASE("ws handshake: short reads and split writes on both sides", "[unit][websocket]") {
  auto faults = GENERATE(coronet::memory_stream_faults{.read_chunk = 1},
                         coronet::memory_stream_faults{.write_chunk = 1},
                         coronet::memory_stream_faults{.read_chunk = 3, .write_chunk = 5});
  auto r = handshake(faults, faults);
  CHECK_FALSE(r.client);
  CHECK_FALSE(r.server);
}

TEST_CASE("ws handshake: every operation of either side fails in turn", "[unit][websocket]") {
  for (bool client_fails : {true, false}) {
    bool passed = false;
    std::size_t fail_at = 0;
    for (; fail_at < 200 && !passed; ++fail_at) {
      INFO((client_fails ? "client" : "server") << " fails at operation " << fail_at);
      coronet::memory_stream_faults failing{.fail_at = fail_at, .read_chunk = 16};
      coronet::memory_stream_faults healthy{.read_chunk = 16};
      auto r = client_fails ? handshake(failing, healthy) : handshake(healthy, failing);
      // Neither side hangs: each ends, with an error or with its message through.
      CHECK(r.client != coronet::errc::timeout);
      CHECK(r.server != coronet::errc::timeout);
      passed = !r.client && !r.server;
    }
    INFO((client_fails ? "client" : "server"));
    CHECK(passed);      // past the last operation, the scenario goes through
    CHECK(fail_at > 3); // and the loop did fail some operations first
  }
}
