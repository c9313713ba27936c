// The opening handshake over an in-memory stream with faults: Beast's fail
// loop (operation 0, 1, 2, ... of either side fails, as a dead connection
// would, until the scenario passes), short reads and split writes.  Whatever
// fails, both sides end with an error, promptly: no hang, no crash, no leak.
#include <coronet/memory_stream.hpp>
#include <coronet/timeout.hpp>
#include <coronet/websocket.hpp>

#include "../support/fail_loop.hpp"

#include <catch2/catch.hpp>

using coronet::memory_stream;

namespace {

std::shared_ptr<const coronet::endpoint_config> config() {
  auto c = std::make_shared<coronet::endpoint_config>();
  c->options.websocket.subprotocols = {"chat"};
  c->properties = {.reliable = true, .ordered = true, .preserves_boundaries = true, .scheme = "ws"};
  return c;
}

// A message each way once both handshakes are done, and the close handshake.
asio::awaitable<std::error_code> client_side(memory_stream s) {
  auto ws =
      co_await coronet::websocket_handshake(std::move(s), "example.com", "/chat?room=1", config());
  if (!ws) co_return ws.error();
  if (coronet::info<coronet::websocket_info>(*ws)->subprotocol != "chat")
    co_return coronet::errc::handshake_failed;
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
  if (coronet::info<coronet::websocket_info>(*ws)->request.path != "/chat")
    co_return coronet::errc::handshake_failed;
  auto m = co_await ws->receive();
  if (!m) co_return m.error();
  if (m->text() != "hello") co_return coronet::errc::protocol_error;
  if (auto sent = co_await ws->send("HELLO"); !sent) co_return sent.error();
  if (auto closed = co_await ws->close(); !closed) co_return closed.error();
  co_return std::error_code{};
}

} // namespace

TEST_CASE("ws handshake: short reads and split writes on both sides", "[unit][websocket]") {
  auto faults = GENERATE(coronet::memory_stream_faults{.read_chunk = 1},
                         coronet::memory_stream_faults{.write_chunk = 1},
                         coronet::memory_stream_faults{.read_chunk = 3, .write_chunk = 5});
  auto r = coronet::test::converse(client_side, server_side, faults, faults);
  CHECK_FALSE(r.client);
  CHECK_FALSE(r.server);
}

TEST_CASE("ws handshake: every operation of either side fails in turn", "[unit][websocket]") {
  coronet::test::check_fail_loop(client_side, server_side, {.read_chunk = 16});
}
