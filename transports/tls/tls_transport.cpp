// tls:// and wss:// as channels: framed<tls_stream<tcp_stream>, Codec> and
// websocket<tls_stream<tcp_stream>>, the same endpoints as tcp:// and ws://
// over TLS.
#include "../../lib/handshake_listener.hpp"
#include "../../lib/transports.hpp"

#include <coronet/error.hpp>
#include <coronet/tls.hpp>
#include <coronet/websocket.hpp>

#include <cstdio>

namespace coronet::detail {
namespace {

using tls_tcp = tls_stream<tcp_stream>;

std::vector<std::string> alpn_for(scheme s) {
  if (s == scheme::wss) return {"http/1.1"};
  return {};
}

// The server's side of one connection: TLS, then (wss://) the upgrade.
asio::awaitable<result<channel>> accept_tls(tcp_stream s, std::shared_ptr<const tls_config> tls,
                                            std::shared_ptr<const endpoint_config> c,
                                            bool websocket, std::string path) {
  tls_tcp secured(std::move(s), std::move(tls));
  if (auto ok = co_await secured.handshake(); !ok) {
    secured.close();
    co_return fail(ok.error());
  }
  if (!websocket) co_return make_framed_channel(std::move(secured), std::move(c));
  auto ws = co_await accept_websocket(std::move(secured), std::move(c), path);
  if (!ws) co_return fail(ws.error());
  co_return channel(std::move(*ws));
}

asio::awaitable<result<channel>> connect_tls(url u, options o) {
  std::string why;
  auto tls = make_tls_config(tls_role::client, o.tls, alpn_for(u.scheme), &why);
  if (!tls) {
    std::fprintf(stderr, "coronet: %s\n", why.c_str());
    co_return fail(tls.error());
  }
  bool websocket = u.scheme == scheme::wss;
  auto config = make_endpoint_config(o, websocket ? "wss" : "tls", true);
  auto s = co_await tcp_connect(u.host, u.port, o);
  if (!s) co_return fail(s.error());
  std::string name = o.tls.server_name.empty() ? u.host : o.tls.server_name.front();
  tls_tcp secured(std::move(*s), std::move(*tls), name);
  auto shaken = co_await bounded(secured.handshake(), o.tls.handshake_timeout);
  if (!shaken) co_return fail(shaken.error());
  if (!websocket) co_return make_framed_channel(std::move(secured), std::move(config));
  auto host = u.authority();
  auto target = websocket_target(u);
  auto ws = co_await bounded(websocket_handshake(std::move(secured), host, target, config),
                             o.websocket.handshake_timeout);
  if (!ws) co_return fail(ws.error());
  co_return channel(std::move(*ws));
}

} // namespace

asio::awaitable<result<channel>> tls_connect_channel(url u, options o) {
  return connect_tls(std::move(u), std::move(o));
}

result<listener> tls_listen(asio::any_io_executor ex, const url& u, const options& o) {
  std::string why;
  auto tls = make_tls_config(tls_role::server, o.tls, alpn_for(u.scheme), &why);
  if (!tls) {
    std::fprintf(stderr, "coronet: cannot listen on %s: %s\n", u.to_string().c_str(), why.c_str());
    return fail(tls.error());
  }
  bool websocket = u.scheme == scheme::wss;
  auto config = make_endpoint_config(o, websocket ? "wss" : "tls", true);
  // The TLS handshake and the upgrade share one deadline.
  auto timeout = o.tls.handshake_timeout +
                 (websocket ? o.websocket.handshake_timeout : std::chrono::milliseconds(0));
  return listen_with_handshake(
      std::move(ex), u, o,
      [tls = *tls, config, websocket, path = u.path](tcp_stream s) {
        return accept_tls(std::move(s), tls, config, websocket, path);
      },
      timeout);
}

} // namespace coronet::detail
