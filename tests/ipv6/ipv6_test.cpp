// The transports over IPv6 loopback.  Where the machine has no IPv6 (a
// container without ::1), this program reports a skip, which CTest and
// meson test show as such, instead of passing silently.
#include <coronet/coronet.hpp>

#include "../support/echo.hpp"
#include "../support/run.hpp"
#include "../support/skip.hpp"

#include <asio/ip/udp.hpp>

#include <catch2/catch.hpp>

using coronet::test::echo;
using coronet::test::receive_within;
using coronet::test::run;
using namespace std::chrono_literals;

TEST_CASE("tcp:// over IPv6 loopback", "[integration][ipv6][tcp]") {
  coronet::server server;
  auto started = server.start("tcp://[::1]:0", echo);
  REQUIRE(started);
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    CHECK_THAT(ch->remote(), Catch::StartsWith("[::1]:"));
    co_await ch->send(coronet::message_view("six"));
    auto r = co_await receive_within(*ch, 5s);
    REQUIRE(r);
    CHECK(r->text() == "six");
  }("tcp://[::1]:" + std::to_string(server.port())));
}

TEST_CASE("udp:// over IPv6 loopback", "[integration][ipv6][udp]") {
  coronet::server server;
  auto started = server.start("udp://[::1]:0", echo);
  REQUIRE(started);
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    CHECK_THAT(ch->remote(), Catch::StartsWith("[::1]:"));
    co_await ch->send(coronet::message_view("v6"));
    auto m = co_await receive_within(*ch, 2s);
    REQUIRE(m);
    CHECK(m->text() == "v6");
  }("udp://[::1]:" + std::to_string(server.port())));
}

TEST_CASE("ws:// over IPv6 loopback", "[integration][ipv6][ws]") {
  coronet::server server;
  auto started = server.start("ws://[::1]:0/six", echo);
  REQUIRE(started);
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    CHECK_THAT(ch->remote(), Catch::StartsWith("[::1]:"));
    co_await ch->send("over six");
    auto r = co_await receive_within(*ch, 5s);
    REQUIRE(r);
    CHECK(r->text() == "over six");
    co_await ch->close();
  }("ws://[::1]:" + std::to_string(server.port()) + "/six"));
}

namespace coronet::test {

std::string skip_reason() {
  asio::io_context io;
  asio::ip::udp::socket s(io);
  std::error_code ec;
  s.open(asio::ip::udp::v6(), ec);
  if (!ec) s.bind({asio::ip::address_v6::loopback(), 0}, ec);
  return ec ? "no IPv6 loopback here (binding [::1]: " + ec.message() + ")" : "";
}

} // namespace coronet::test
