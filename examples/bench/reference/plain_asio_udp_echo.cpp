#include "plain_asio_udp_echo.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/udp.hpp>
#include <asio/use_awaitable.hpp>

#include <memory>
#include <system_error>

namespace {

using asio::ip::udp;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t buffer_size = 64 * 1024;

// Errors a UDP socket reports for some earlier datagram (an ICMP message);
// they say nothing about the socket itself.
bool is_transient(const std::error_code& ec) {
  return ec == asio::error::connection_refused || ec == asio::error::connection_reset ||
         ec == asio::error::host_unreachable || ec == asio::error::network_unreachable;
}

asio::awaitable<void> echo(std::shared_ptr<udp::socket> socket) {
  // Lives as long as the loop; one allocation, never resized.
  auto buffer = std::make_unique<char[]>(buffer_size);
  udp::endpoint sender;
  for (;;) {
    auto [receive_error, n] = co_await socket->async_receive_from(
        asio::buffer(buffer.get(), buffer_size), sender, use_tuple);
    if (!socket->is_open()) co_return; // closed by stop_accepting
    if (receive_error && is_transient(receive_error)) continue;
    if (receive_error) throw std::system_error(receive_error, "async_receive_from");
    auto [send_error, sent] =
        co_await socket->async_send_to(asio::buffer(buffer.get(), n), sender, use_tuple);
    if (!socket->is_open()) co_return;
    if (send_error && !is_transient(send_error) && send_error != asio::error::no_buffer_space)
      throw std::system_error(send_error, "async_send_to");
  }
}

} // namespace

coronet::result<asio_service> serve_plain_asio_udp_echo(asio::io_context& ctx,
                                                        failure_log& failures) {
  std::error_code ec;
  auto socket = std::make_shared<udp::socket>(ctx);
  udp::endpoint endpoint(asio::ip::address_v4::loopback(), 0);
  socket->open(endpoint.protocol(), ec);
  if (!ec) socket->bind(endpoint, ec);
  if (ec) return coronet::fail(ec);
  auto port = socket->local_endpoint().port();
  asio::co_spawn(ctx, echo(socket), failures.handler());
  return asio_service{.port = port, .stop_accepting = [socket] {
                        std::error_code ignored;
                        socket->close(ignored);
                      }};
}
