#include "plain_asio_echo.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <memory>
#include <string>
#include <type_traits>

namespace {

using asio::ip::tcp;
using local_stream = asio::local::stream_protocol;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

template <class Socket>
asio::awaitable<void> echo(Socket socket) {
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

template <class Acceptor>
asio::awaitable<void> accept_loop(std::shared_ptr<Acceptor> acceptor, failure_log& failures) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    auto [error, socket] = co_await acceptor->async_accept(use_tuple);
    if (error == asio::error::operation_aborted || !acceptor->is_open()) co_return;
    if (error) continue; // a connection that died before we took it
    if constexpr (std::is_same_v<typename Acceptor::protocol_type, tcp>)
      socket.set_option(tcp::no_delay(true), error);
    asio::co_spawn(ex, echo(std::move(socket)), failures.handler());
  }
}

// Binds `at` and spawns the accept loop; the caller says where it listens.
template <class Endpoint>
coronet::result<asio_service> serve(asio::io_context& ctx, failure_log& failures,
                                    const Endpoint& at) {
  using acceptor_type = typename Endpoint::protocol_type::acceptor;
  std::error_code ec;
  auto acceptor = std::make_shared<acceptor_type>(ctx);
  acceptor->open(at.protocol(), ec);
  if (!ec) acceptor->bind(at, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return coronet::fail(ec);
  asio::co_spawn(ctx, accept_loop(acceptor, failures), failures.handler());
  asio_service service;
  service.stop_accepting = [acceptor] {
    std::error_code ignored;
    acceptor->close(ignored);
  };
  if constexpr (std::is_same_v<Endpoint, tcp::endpoint>)
    service.port = acceptor->local_endpoint().port();
  return service;
}

} // namespace

coronet::result<asio_service> serve_plain_asio_echo(asio::io_context& ctx, failure_log& failures) {
  return serve(ctx, failures, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
}

coronet::result<asio_service>
serve_plain_asio_unix_echo(asio::io_context& ctx, failure_log& failures, std::string_view name) {
  std::string abstract(1, '\0'); // sun_path of an abstract name: a NUL, then the name
  abstract.append(name);
  auto service = serve(ctx, failures, local_stream::endpoint(abstract));
  if (service) service->unix_path.assign("@").append(name);
  return service;
}
