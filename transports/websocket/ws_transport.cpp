// ws:// as channels: a websocket<tcp_stream> after the opening handshake.
#include "../../lib/handshake_listener.hpp"
#include "../../lib/transports.hpp"

#include <coronet/websocket.hpp>

namespace coronet::detail {
namespace {

asio::awaitable<result<channel>> upgrade(tcp_stream s, std::shared_ptr<const endpoint_config> c,
                                         std::string path) {
  auto ws = co_await accept_websocket(std::move(s), std::move(c), path);
  if (!ws) co_return fail(ws.error());
  co_return channel(std::move(*ws));
}

asio::awaitable<result<channel>> connect_and_upgrade(url u, options o) {
  auto config = make_endpoint_config(o, "ws", false);
  auto s = co_await tcp_connect(u.host, u.port, o);
  if (!s) co_return fail(s.error());
  auto host = u.authority();
  auto target = websocket_target(u);
  auto ws = co_await bounded(websocket_handshake(std::move(*s), host, target, config),
                             o.websocket.handshake_timeout);
  if (!ws) co_return fail(ws.error());
  co_return channel(std::move(*ws));
}

} // namespace

asio::awaitable<result<channel>> ws_connect_channel(url u, options o) {
  return connect_and_upgrade(std::move(u), std::move(o));
}

result<listener> ws_listen(asio::any_io_executor ex, const url& u, const options& o) {
  auto config = make_endpoint_config(o, "ws", false);
  return listen_with_handshake(
      std::move(ex), u, o,
      [config, path = u.path](tcp_stream s) { return upgrade(std::move(s), config, path); },
      o.websocket.handshake_timeout);
}

} // namespace coronet::detail
