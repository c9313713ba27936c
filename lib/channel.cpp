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

asio::awaitable<result<channel>> connect(std::string_view text, options o) {
  auto u = parse_url(text);
  if (!u) co_return fail(u.error());
  o = apply_url_options(*u, o);
  switch (u->scheme) {
  case scheme::tcp: co_return co_await detail::tcp_connect_channel(*u, o);
  case scheme::tls:
  case scheme::udp:
  case scheme::ws:
  case scheme::wss: co_return fail(errc::unsupported);
  }
  co_return fail(errc::invalid_url);
}

result<listener> listen(asio::any_io_executor ex, std::string_view text, options o) {
  auto u = parse_url(text);
  if (!u) return fail(u.error());
  o = apply_url_options(*u, o);
  switch (u->scheme) {
  case scheme::tcp: return detail::tcp_listen(std::move(ex), *u, o);
  case scheme::tls:
  case scheme::udp:
  case scheme::ws:
  case scheme::wss: return fail(errc::unsupported);
  }
  return fail(errc::invalid_url);
}

} // namespace coronet
