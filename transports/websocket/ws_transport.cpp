// ws:// as channels: a websocket<tcp_stream> after the opening handshake.
#include <coronet/tcp.hpp>
#include <coronet/transport/handshake_listener.hpp>
#include <coronet/transport/registry.hpp>
#include <coronet/websocket.hpp>

namespace coronet::transports {
namespace {

asio::awaitable<result<channel>> connect_ws(url u, options o) {
  auto config = make_endpoint_config(u, o);
  auto s = co_await tcp_connect(u.host, u.port, o);
  if (!s) co_return fail(s.error());
  co_return co_await connect_websocket_channel(std::move(*s), u, std::move(config));
}

result<listener> listen_ws(asio::any_io_executor ex, const url& u, const options& o) {
  auto a = tcp_acceptor::open(ex, u.host, u.port, o);
  if (!a) return fail(a.error());
  return listen_with_handshake(
      std::move(ex), std::move(*a),
      [config = make_endpoint_config(u, o), path = u.path](tcp_stream s) {
        return accept_websocket_channel(std::move(s), config, path);
      },
      o.websocket.handshake_timeout);
}

} // namespace

properties websocket_properties(const options& o, bool encrypted) {
  return {.reliable = true,
          .ordered = true,
          .preserves_boundaries = true,
          .encrypted = encrypted,
          .max_message_size = o.max_message};
}

result<void> websocket_option(std::string_view, std::string_view, options&, std::string&) {
  return {}; // the query is the application's (tokens, room names): sent with the request
}

void register_websocket() {
  (void)register_transport({
      .scheme = "ws",
      .syntax = url_syntax::host_port_path,
      .default_port = 80,
      .option = websocket_option,
      .connect = connect_ws,
      .listen = listen_ws,
      .properties = [](const options& o) { return websocket_properties(o, false); },
  });
}

} // namespace coronet::transports
