#include <coronet/error.hpp>
#include <coronet/tcp.hpp>
#include <coronet/timeout.hpp>
#include <coronet/transport/listen_address.hpp>
#include <coronet/transport/socket_io.hpp>

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/write.hpp>

#include <sys/ioctl.h>
#include <sys/socket.h>
#if defined(__linux__)
#include <linux/sockios.h>
#endif

namespace coronet {

result<void> tcp_stream::shutdown(shutdown_type how) {
  std::error_code ec;
  socket_.shutdown(how, ec);
  if (ec) return fail(ec);
  return {};
}

void tcp_stream::close() {
  std::error_code ec;
  socket_.close(ec);
}

std::string tcp_stream::remote() const {
  std::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (ec) return {};
  return address_text(ep.address(), ep.port());
}

std::size_t tcp_stream::try_write_some(asio::const_buffer buf, std::error_code& ec) {
  return try_send_some(socket_.native_handle(), buf, ec);
}

std::size_t tcp_stream::try_read_some(asio::mutable_buffer buf, std::error_code& ec) {
  return try_receive_some(socket_.native_handle(), buf, ec);
}

long tcp_stream::unacknowledged_bytes() const {
#if defined(__linux__)
  int n = 0;
  if (::ioctl(const_cast<asio::ip::tcp::socket&>(socket_).native_handle(), SIOCOUTQ, &n) == 0)
    return n;
#endif
  return -1;
}

namespace {

std::error_code map_connect_error(std::error_code ec) {
  if (ec == asio::error::connection_refused) return errc::connection_refused;
  return ec;
}

asio::awaitable<result<tcp_stream>> connect_unbounded(std::string host, std::uint16_t port,
                                                      bool nodelay) {
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(ex);
  auto [rec, endpoints] = co_await resolver.async_resolve(
      host, std::to_string(port), asio::ip::tcp::resolver::numeric_service, detail::use_tuple);
  if (rec) co_return fail(errc::resolve_failed);
  asio::ip::tcp::socket socket(ex);
  auto [ec, ep] = co_await asio::async_connect(socket, endpoints, detail::use_tuple);
  if (ec) co_return fail(map_connect_error(ec));
  if (nodelay) socket.set_option(asio::ip::tcp::no_delay(true), ec);
  co_return tcp_stream(std::move(socket));
}

} // namespace

asio::awaitable<result<tcp_stream>> tcp_connect(std::string_view host, std::uint16_t port,
                                                options o) {
  auto op = connect_unbounded(std::string(host), port, o.tcp_nodelay);
  if (o.connect_timeout.count() > 0)
    co_return co_await with_timeout(std::move(op), o.connect_timeout);
  co_return co_await std::move(op);
}

result<tcp_acceptor> tcp_acceptor::open(asio::any_io_executor ex, std::string_view host,
                                        std::uint16_t port, const options& o) {
  auto address = listen_address(ex, host);
  if (!address) return fail(address.error());
  asio::ip::tcp::endpoint endpoint(*address, port);
  asio::ip::tcp::acceptor acceptor(ex);
  std::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail(ec);
  if (auto e = prepare_to_bind(acceptor, *address, o.reuse_port)) return fail(e);
  acceptor.bind(endpoint, ec);
  if (ec) return fail(ec);
  acceptor.listen(o.backlog, ec);
  if (ec) return fail(ec);
  return tcp_acceptor(std::move(acceptor), o.tcp_nodelay);
}

asio::awaitable<result<tcp_stream>> tcp_acceptor::accept() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(detail::use_tuple);
    if (!ec) {
      if (nodelay_) socket.set_option(asio::ip::tcp::no_delay(true), ec);
      co_return tcp_stream(std::move(socket));
    }
    if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor ||
        !acceptor_.is_open())
      co_return fail(errc::closed);
    // A connection that failed between SYN and accept is not the listener's
    // failure: go on.  Anything else (out of descriptors, memory) gets a
    // pause so that a persistent error does not spin the thread.
    if (ec == asio::error::connection_aborted || ec == asio::error::connection_reset) continue;
    asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(10));
    co_await pause.async_wait(detail::use_tuple);
  }
}

std::uint16_t tcp_acceptor::port() const {
  std::error_code ec;
  return acceptor_.local_endpoint(ec).port();
}

void tcp_acceptor::close() {
  std::error_code ec;
  acceptor_.close(ec);
}

} // namespace coronet
