#include "transports.hpp"

#include <coronet/channel.hpp>
#include <coronet/error.hpp>
#include <coronet/listener.hpp>
#include <coronet/timeout.hpp>

namespace coronet {

asio::awaitable<result<message_view>>
channel::receive(std::chrono::steady_clock::duration timeout) {
  return with_timeout(impl_->receive(), timeout);
}

namespace {

asio::awaitable<result<channel>> fail_now(std::error_code ec) { co_return fail(ec); }

} // namespace

// Not a coroutine itself: it picks the transport's coroutine, which owns
// copies of everything it needs.
asio::awaitable<result<channel>> connect(std::string_view text, options o) {
  auto u = parse_url(text);
  if (!u) return fail_now(u.error());
  auto opts = apply_url_options(*u, std::move(o));
  switch (u->scheme) {
  case scheme::tcp: return detail::tcp_connect_channel(std::move(*u), std::move(opts));
  case scheme::udp: return detail::udp_connect_channel(std::move(*u), std::move(opts));
  case scheme::ws: return detail::ws_connect_channel(std::move(*u), std::move(opts));
  case scheme::tls:
  case scheme::wss: return detail::tls_connect_channel(std::move(*u), std::move(opts));
  }
  return fail_now(errc::unsupported);
}

result<listener> listen(asio::any_io_executor ex, std::string_view text, options o) {
  auto u = parse_url(text);
  if (!u) return fail(u.error());
  o = apply_url_options(*u, std::move(o));
  switch (u->scheme) {
  case scheme::tcp: return detail::tcp_listen(std::move(ex), *u, o);
  case scheme::udp: return detail::udp_listen(std::move(ex), *u, o);
  case scheme::ws: return detail::ws_listen(std::move(ex), *u, o);
  case scheme::tls:
  case scheme::wss: return detail::tls_listen(std::move(ex), *u, o);
  }
  return fail(errc::invalid_url);
}

} // namespace coronet
