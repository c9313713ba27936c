// Test helpers: raw HTTP on a fresh TCP connection, to see exactly what a
// WebSocket server answers (status line, headers) when it refuses.
#pragma once

#include <coronet/tcp.hpp>
#include <coronet/timeout.hpp>

#include "run.hpp"

#include <cstdint>
#include <string>

namespace coronet::test {

// Sends raw bytes on a fresh TCP connection and returns everything the
// server sends back until it closes (bounded).
inline std::string raw_exchange(std::uint16_t port, std::string request) {
  asio::io_context io;
  return run(io, [](std::uint16_t port, std::string request) -> asio::awaitable<std::string> {
    auto s = co_await coronet::tcp_connect("127.0.0.1", port);
    REQUIRE(s);
    auto w = co_await coronet::write(*s, asio::buffer(request));
    REQUIRE(w);
    std::string got;
    char buf[4096];
    for (;;) {
      auto n = co_await coronet::with_timeout(coronet::read_some(*s, asio::buffer(buf)),
                                              std::chrono::seconds(5));
      if (!n) break;
      got.append(buf, *n);
    }
    co_return got;
  }(port, std::move(request)));
}

inline std::string upgrade_request(std::string path = "/echo", std::string extra = "") {
  return "GET " + path +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         extra + "\r\n";
}

} // namespace coronet::test
