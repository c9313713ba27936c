// wss:// is TLS on TCP (the tls module's connect_tls and listen_tls) with
// the WebSocket upgrade over it (the websocket module's channels): nothing
// else is its own.
#include <coronet/tls.hpp>
#include <coronet/transport/registry.hpp>
#include <coronet/websocket.hpp>

namespace coronet::transports {
namespace {

// ALPN: a WebSocket is opened by an HTTP/1.1 request (RFC 8441 aside).
const std::vector<std::string> http11 = {"http/1.1"};

asio::awaitable<result<channel>> connect_wss(url u, options o) {
  auto config = make_endpoint_config(u, o);
  auto s = co_await connect_tls(u, std::move(o), http11);
  if (!s) co_return fail(s.error());
  co_return co_await connect_websocket_channel(std::move(*s), u, std::move(config));
}

result<listener> listen_wss(asio::any_io_executor ex, const url& u, const options& o) {
  return listen_tls(
      std::move(ex), u, o, http11,
      [config = make_endpoint_config(u, o), path = u.path](tls_tcp_stream s) {
        return accept_websocket_channel(std::move(s), config, path);
      },
      o.websocket.handshake_timeout);
}

} // namespace

void register_wss() {
  (void)register_transport({
      .scheme = "wss",
      .syntax = url_syntax::host_port_path,
      .default_port = 443,
      .option = websocket_option,
      .connect = connect_wss,
      .listen = listen_wss,
      .properties = [](const options& o) { return websocket_properties(o, true); },
  });
}

} // namespace coronet::transports
