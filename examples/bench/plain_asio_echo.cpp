#include "plain_asio_echo.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <memory>

namespace {

using asio::ip::tcp;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

asio::awaitable<void> echo(tcp::socket socket) {
  // Lives as long as the connection; one allocation, never resized.
  auto buffer = std::make_unique<char[]>(64 * 1024);
  for (;;) {
    auto [read_error, n] =
        co_await socket.async_read_some(asio::buffer(buffer.get(), 64 * 1024), use_tuple);
    if (read_error) co_return;
    auto [write_error, written] =
        co_await asio::async_write(socket, asio::buffer(buffer.get(), n), use_tuple);
    if (write_error) co_return;
  }
}

asio::awaitable<void> accept_loop(std::shared_ptr<tcp::acceptor> acceptor, failure_log& failures) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    auto [error, socket] = co_await acceptor->async_accept(use_tuple);
    if (error == asio::error::operation_aborted || !acceptor->is_open()) co_return;
    if (error) continue; // a connection that died before we took it
    socket.set_option(tcp::no_delay(true), error);
    asio::co_spawn(ex, echo(std::move(socket)), failures.handler());
  }
}

} // namespace

coronet::result<asio_service> serve_plain_asio_echo(asio::io_context& ctx, failure_log& failures) {
  std::error_code ec;
  auto acceptor = std::make_shared<tcp::acceptor>(ctx);
  tcp::endpoint endpoint(asio::ip::address_v4::loopback(), 0);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return coronet::fail(ec);
  auto port = acceptor->local_endpoint().port();
  asio::co_spawn(ctx, accept_loop(acceptor, failures), failures.handler());
  return asio_service{port, [acceptor] {
                        std::error_code ignored;
                        acceptor->close(ignored);
                      }};
}
