#include "beast_ws_echo.hpp"

#include <utility> // Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <exception>

namespace net = boost::asio;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;

struct beast_echo {
  net::io_context context{1};
  tcp::acceptor acceptor{context};
  std::atomic<int> failures{0};
};

namespace {

void note_failure(beast_echo& s, std::exception_ptr e) {
  if (!e) return;
  ++s.failures;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    std::fprintf(stderr, "beast-ws: task failed: %s\n", x.what());
  } catch (...) {
    std::fprintf(stderr, "beast-ws: task failed\n");
  }
}

net::awaitable<void> session(tcp::socket socket) {
  websocket::stream<tcp::socket> ws(std::move(socket));
  ws.auto_fragment(false);
  boost::system::error_code ec;
  co_await ws.async_accept(net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return;
  boost::beast::flat_buffer buffer;
  for (;;) {
    co_await ws.async_read(buffer, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return; // the load generator hung up
    ws.binary(!ws.got_text());
    co_await ws.async_write(buffer.data(), net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;
    buffer.consume(buffer.size());
  }
}

net::awaitable<void> accept_loop(beast_echo& s) {
  for (;;) {
    boost::system::error_code ec;
    auto socket = co_await s.acceptor.async_accept(net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;
    socket.set_option(tcp::no_delay(true), ec);
    net::co_spawn(s.context, session(std::move(socket)),
                  [&s](std::exception_ptr e) { note_failure(s, e); });
  }
}

} // namespace

beast_echo* beast_echo_create() {
  auto* s = new beast_echo;
  boost::system::error_code ec;
  tcp::endpoint at(net::ip::make_address_v4("127.0.0.1"), 0);
  s->acceptor.open(at.protocol(), ec);
  if (!ec) s->acceptor.bind(at, ec);
  if (!ec) s->acceptor.listen(1024, ec);
  if (ec) {
    delete s;
    errno = ec.value();
    return nullptr;
  }
  net::co_spawn(s->context, accept_loop(*s), [s](std::exception_ptr e) { note_failure(*s, e); });
  return s;
}

std::uint16_t beast_echo_port(const beast_echo* s) {
  boost::system::error_code ec;
  return s->acceptor.local_endpoint(ec).port();
}

int beast_echo_run(beast_echo* s) {
  s->context.run();
  return s->failures.load() == 0 ? 0 : (errno = EPROTO, -1);
}

void beast_echo_stop(beast_echo* s) {
  net::post(s->context, [s] {
    boost::system::error_code ignored;
    s->acceptor.close(ignored);
  });
}

void beast_echo_destroy(beast_echo* s) { delete s; }
