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

TEST_CASE("tcp://, udp:// and ws:// over IPv6 loopback", "[integration][ipv6]") {
  auto [scheme, path] =
      GENERATE(std::pair{"tcp", ""}, std::pair{"udp", ""}, std::pair{"ws", "/six"});
  INFO(scheme);
  coronet::server server;
  auto started = server.start(std::string(scheme) + "://[::1]:0" + path, echo);
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
  }(std::string(scheme) + "://[::1]:" + std::to_string(server.port()) + path));
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
