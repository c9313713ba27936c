// websocket<>::try_receive(): the frames one read already brought, taken
// without suspending, and what close() does to them.
#include <coronet/channel.hpp>
#include <coronet/error.hpp>
#include <coronet/memory_stream.hpp>
#include <coronet/timeout.hpp>
#include <coronet/websocket.hpp>

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

// A client's binary frame with an all-zero masking key (payload unchanged).
void put_masked_frame(std::vector<std::byte>& out, std::string_view payload) {
  out.push_back(std::byte{0x82});
  out.push_back(std::byte(0x80 | payload.size())); // payloads under 126 bytes
  out.insert(out.end(), 4, std::byte{0});
  for (char c : payload) out.push_back(std::byte(c));
}

asio::awaitable<void> write_raw(memory_stream& to, const std::vector<std::byte>& bytes) {
  auto [ec, n] = co_await asio::async_write(to, asio::buffer(bytes), coronet::detail::use_tuple);
  REQUIRE_FALSE(ec);
  (void)n;
}

} // namespace

TEST_CASE("websocket try_receive takes the frames one read brought", "[unit][websocket]") {
  asio::io_context io;
  auto [client, server_side] = memory_stream::make_pair(io.get_executor());
  coronet::websocket<memory_stream> server(
      std::move(server_side), coronet::websocket<memory_stream>::role::server, config());
  run(io, [](memory_stream& client, auto& server) -> asio::awaitable<void> {
    std::vector<std::byte> frames;
    for (std::string_view m : {"one", "two", "three"}) put_masked_frame(frames, m);
    auto [ec, n] =
        co_await asio::async_write(client, asio::buffer(frames), coronet::detail::use_tuple);
    REQUIRE_FALSE(ec);
    auto first = co_await server.receive();
    REQUIRE(first);
    CHECK(first->text() == "one");
    std::vector<std::string> rest;
    for (auto m = server.try_receive(); m; m = server.try_receive()) rest.emplace_back(m->text());
    CHECK(rest == std::vector<std::string>{"two", "three"});
    auto empty = server.try_receive();
    REQUIRE_FALSE(empty);
    CHECK(empty.error() == coronet::errc::would_block);
    (void)n;
  }(client, server));
}

TEST_CASE("websocket: a message begun while close() reads, after two messages were taken",
          "[unit][websocket]") {
  // Regression: the start of the message in progress was left stale while
  // close() discarded data frames, and the next receive() compacted the
  // arena with it (a memmove of "size - start" bytes, underflowing).
  asio::io_context io;
  auto [client, server_side] = memory_stream::make_pair(io.get_executor());
  coronet::websocket<memory_stream> server(
      std::move(server_side), coronet::websocket<memory_stream>::role::server, config());
  run(io, [](memory_stream& client, auto& server) -> asio::awaitable<void> {
    std::vector<std::byte> two; // 3000 bytes, then 10, in one write
    two.push_back(std::byte{0x82});
    two.push_back(std::byte{0x80 | 126});
    two.push_back(std::byte{3000 >> 8});
    two.push_back(std::byte{3000 & 0xff});
    two.insert(two.end(), 4, std::byte{0});
    two.insert(two.end(), 3000, std::byte{'x'});
    put_masked_frame(two, "0123456789");
    co_await write_raw(client, two);
    auto a = co_await server.receive();
    REQUIRE(a);
    CHECK(a->size() == 3000);
    auto b = co_await server.receive();
    REQUIRE(b);
    CHECK(b->size() == 10);
    // A receive() that finds nothing empties the arena (and times out).
    auto none = co_await coronet::with_timeout(server.receive(), std::chrono::milliseconds(10));
    REQUIRE_FALSE(none);
    CHECK(none.error() == coronet::errc::timeout);

    bool closed = false;
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [](auto& server, bool& closed) -> asio::awaitable<void> {
          (void)co_await server.close();
          closed = true;
        }(server, closed),
        asio::detached);
    co_await sleep_for(std::chrono::milliseconds(5));
    // A text frame without FIN: a message begins while close() reads.
    std::vector<std::byte> start = {std::byte{0x01}, std::byte{0x83}, std::byte{0},
                                    std::byte{0},    std::byte{0},    std::byte{0},
                                    std::byte{'a'},  std::byte{'b'},  std::byte{'c'}};
    co_await write_raw(client, start);
    co_await sleep_for(std::chrono::milliseconds(5));
    std::optional<std::error_code> ended;
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [](auto& server, std::optional<std::error_code>& ended) -> asio::awaitable<void> {
          auto m = co_await server.receive(); // compacts the arena first
          ended = m ? std::error_code{} : m.error();
        }(server, ended),
        asio::detached);
    co_await sleep_for(std::chrono::milliseconds(5));
    // The peer's close frame (code 1000) ends the handshake.
    const std::vector<std::byte> close_frame = {std::byte{0x88}, std::byte{0x82}, std::byte{0},
                                                std::byte{0},    std::byte{0},    std::byte{0},
                                                std::byte{0x03}, std::byte{0xe8}};
    co_await write_raw(client, close_frame);
    client.close(); // and the peer's end of the stream
    for (int i = 0; i < 200 && !(closed && ended); ++i)
      co_await sleep_for(std::chrono::milliseconds(2));
    CHECK(closed);
    REQUIRE(ended);
    CHECK(*ended == coronet::errc::closed);
  }(client, server));
}
