// websocket<>'s receive buffer: a frame that is a whole message is unmasked
// where it was read and handed out from there; one cut by a read is kept
// until the rest arrives (binary, up to 4 x read_buffer_size) or copied
// into the engine as it comes (text, larger frames).  Every cut, size and
// buffer setting must give back the same messages.
#include <coronet/error.hpp>
#include <coronet/memory_stream.hpp>
#include <coronet/timeout.hpp>
#include <coronet/websocket.hpp>

#include "../support/run.hpp"

#include <asio/detached.hpp>
#include <asio/write.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

using coronet::memory_stream;
using coronet::test::run;
using coronet::test::sleep_for;
using server_ws = coronet::websocket<memory_stream>;

namespace {

std::shared_ptr<const coronet::endpoint_config> config(std::size_t read_buffer_size) {
  auto c = std::make_shared<coronet::endpoint_config>();
  c->properties = {
      .reliable = true, .ordered = true, .preserves_boundaries = true, .scheme = "memory"};
  c->options.read_buffer_size = read_buffer_size;
  return c;
}

// What message `i` holds: `size` bytes that depend on i and on the offset.
std::vector<std::byte> payload_of(std::size_t i, std::size_t size, bool text) {
  std::vector<std::byte> p(size);
  for (std::size_t j = 0; j < size; ++j)
    p[j] = text ? std::byte('a' + (i + j) % 26) : std::byte((i * 131 + j * 7) & 0xff);
  return p;
}

// A client's frame: FIN, `opcode`, masked with a key that differs per frame.
void put_frame(std::vector<std::byte>& out, std::uint8_t opcode, std::span<const std::byte> data,
               std::uint32_t key, bool fin = true) {
  auto n = data.size();
  out.push_back(std::byte((fin ? 0x80 : 0) | opcode));
  if (n < 126) {
    out.push_back(std::byte(0x80 | n));
  } else if (n < 65536) {
    out.push_back(std::byte{0x80 | 126});
    out.push_back(std::byte(n >> 8));
    out.push_back(std::byte(n & 0xff));
  } else {
    out.push_back(std::byte{0x80 | 127});
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(std::byte((n >> shift) & 0xff));
  }
  std::byte k[4] = {std::byte(key), std::byte(key >> 8), std::byte(key >> 16),
                    std::byte(key >> 24)};
  out.insert(out.end(), k, k + 4);
  for (std::size_t j = 0; j < n; ++j) out.push_back(data[j] ^ k[j % 4]);
}

asio::awaitable<void> write_raw(memory_stream& to, const std::vector<std::byte>& bytes) {
  auto [ec, n] = co_await asio::async_write(to, asio::buffer(bytes), coronet::detail::use_tuple);
  REQUIRE_FALSE(ec);
  (void)n;
}

struct expected_message {
  std::vector<std::byte> data;
  coronet::message_kind kind;
};

} // namespace

TEST_CASE("websocket: messages of every size come out whole however the reads cut them",
          "[unit][websocket]") {
  // Sizes around each length encoding and around the largest frame kept
  // (4 x read_buffer_size: 64 KiB and 256 KiB here), and one beyond both.
  const std::vector<std::size_t> sizes = {0,     1,     125,   126,   127,    4000,
                                          65535, 65536, 70000, 16384, 300000, 3};
  auto read_buffer = GENERATE(std::size_t{16 * 1024}, std::size_t{64 * 1024});
  auto chunk = GENERATE(std::size_t{0}, std::size_t{1500}, std::size_t{7});
  CAPTURE(read_buffer, chunk);

  std::vector<std::byte> wire;
  std::vector<expected_message> want;
  std::uint32_t key = 0x01020304;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    bool text = i % 3 == 1;
    auto p = payload_of(i, sizes[i], text);
    if (i == 5) { // a fragmented message with a ping inside it
      auto half = p.size() / 2;
      put_frame(wire, 0x2, std::span(p).first(half), key++, false);
      put_frame(wire, 0x9, {}, key++);
      put_frame(wire, 0x0, std::span(p).subspan(half), key++);
    } else {
      put_frame(wire, text ? 0x1 : 0x2, p, key++);
    }
    want.push_back(
        {std::move(p), text ? coronet::message_kind::text : coronet::message_kind::binary});
  }

  asio::io_context io;
  auto [client, server_side] =
      memory_stream::make_pair(io.get_executor(), {}, {.read_chunk = chunk});
  server_ws server(std::move(server_side), server_ws::role::server, config(read_buffer));
  run(io,
      [](memory_stream& client, server_ws& server, const std::vector<std::byte>& wire,
         const std::vector<expected_message>& want) -> asio::awaitable<void> {
        co_await write_raw(client, wire);
        for (std::size_t i = 0; i < want.size(); ++i) {
          CAPTURE(i);
          auto m = server.try_receive();
          if (!m && m.error() == coronet::errc::would_block) m = co_await server.receive();
          REQUIRE(m);
          CHECK(m->kind == want[i].kind);
          REQUIRE(m->size() == want[i].data.size());
          CHECK(std::equal(m->data.begin(), m->data.end(), want[i].data.begin()));
        }
      }(client, server, wire, want));
}

TEST_CASE("websocket: the message last taken stays as it was while close() reads on",
          "[unit][websocket]") {
  // close() reads for the peer's close frame and drops the data before it;
  // the message the application holds lives in the receive buffer, which
  // those reads must neither move nor overwrite (ASan sees a move that
  // frees it; the comparison sees an overwrite).
  asio::io_context io;
  auto [client, server_side] = memory_stream::make_pair(io.get_executor(), {}, {.read_chunk = 600});
  server_ws server(std::move(server_side), server_ws::role::server, config(4096));
  run(io, [](memory_stream& client, server_ws& server) -> asio::awaitable<void> {
    auto first = payload_of(1, 500, false);
    std::vector<std::byte> wire;
    put_frame(wire, 0x2, first, 0x0badf00d);
    put_frame(wire, 0x2, payload_of(2, 300, false), 0x12345678); // cut by the first read
    co_await write_raw(client, wire);
    auto held = co_await server.receive();
    REQUIRE(held);
    REQUIRE(held->size() == first.size());

    bool closed = false;
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [](server_ws& server, bool& closed) -> asio::awaitable<void> {
          (void)co_await server.close();
          closed = true;
        }(server, closed),
        asio::detached);
    // Far more data than the buffer holds, then the peer's close frame.
    std::vector<std::byte> after;
    for (std::size_t i = 0; i < 20; ++i) put_frame(after, 0x2, payload_of(10 + i, 3000, false), 7);
    const std::byte close_payload[] = {std::byte{0x03}, std::byte{0xe8}};
    put_frame(after, 0x8, close_payload, 9);
    co_await write_raw(client, after);
    client.close();
    for (int i = 0; i < 500 && !closed; ++i) co_await sleep_for(std::chrono::milliseconds(2));
    CHECK(closed);
    CHECK(std::equal(held->data.begin(), held->data.end(), first.begin()));
  }(client, server));
}

TEST_CASE("websocket: a receive cut by its deadline while a frame is half read loses nothing",
          "[unit][websocket]") {
  asio::io_context io;
  auto [client, server_side] = memory_stream::make_pair(io.get_executor());
  server_ws server(std::move(server_side), server_ws::role::server, config(64 * 1024));
  run(io, [](memory_stream& client, server_ws& server) -> asio::awaitable<void> {
    auto p = payload_of(3, 20000, false);
    std::vector<std::byte> wire;
    put_frame(wire, 0x2, p, 0xa5a5a5a5);
    auto cut = wire.size() / 3;
    co_await write_raw(client, std::vector<std::byte>(wire.begin(), wire.begin() + cut));
    auto early = co_await coronet::with_timeout(server.receive(), std::chrono::milliseconds(20));
    REQUIRE_FALSE(early);
    CHECK(early.error() == coronet::errc::timeout);
    co_await write_raw(client, std::vector<std::byte>(wire.begin() + cut, wire.end()));
    auto m = co_await coronet::with_timeout(server.receive(), std::chrono::seconds(5));
    REQUIRE(m);
    REQUIRE(m->size() == p.size());
    CHECK(std::equal(m->data.begin(), m->data.end(), p.begin()));
  }(client, server));
}

TEST_CASE("websocket: close() before any receive() finds the peer's close among the handshake's "
          "bytes",
          "[unit][websocket]") {
  // Bytes read past the handshake (a message, then the peer's close frame)
  // are parsed by close() too; else it would wait for a close frame that
  // already came, until close_timeout.
  std::vector<std::byte> initial;
  put_frame(initial, 0x2, payload_of(4, 10, false), 1);
  const std::byte close_payload[] = {std::byte{0x03}, std::byte{0xe8}};
  put_frame(initial, 0x8, close_payload, 2);
  auto c = std::make_shared<coronet::endpoint_config>(*config(4096));
  c->options.close_timeout = std::chrono::seconds(3);
  asio::io_context io;
  auto [client, server_side] = memory_stream::make_pair(io.get_executor());
  server_ws server(std::move(server_side), server_ws::role::server, c, initial);
  run(io, [](memory_stream& client, server_ws& server) -> asio::awaitable<void> {
    // The peer ends the TCP connection a little later (after our close frame).
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [](memory_stream& client) -> asio::awaitable<void> {
          co_await sleep_for(std::chrono::milliseconds(50));
          client.close();
        }(client),
        asio::detached);
    auto started = std::chrono::steady_clock::now();
    auto closed = co_await server.close();
    auto took = std::chrono::steady_clock::now() - started;
    CHECK(closed);
    CHECK(took < std::chrono::seconds(1));
    CHECK(server.close_status().code == 1000);
  }(client, server));
}
