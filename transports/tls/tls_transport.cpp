// tls:// as channels (framed<tls_stream<tcp_stream>, Codec>), and TLS on TCP
// as the composition point that wss:// builds on.
#include <coronet/error.hpp>
#include <coronet/tls.hpp>
#include <coronet/transport/handshake_listener.hpp>
#include <coronet/transport/registry.hpp>
#include <coronet/transport/stream_transport.hpp>

namespace coronet::transports {
namespace {

asio::awaitable<result<channel>> accept_tls(tcp_stream s, std::shared_ptr<const tls_config> tls,
                                            after_tls then) {
  tls_tcp_stream secured(std::move(s), std::move(tls));
  if (auto ok = co_await secured.handshake(); !ok) {
    secured.close();
    co_return fail(ok.error());
  }
  co_return co_await then(std::move(secured));
}

asio::awaitable<result<channel>> connect_framed(url u, options o) {
  auto config = make_endpoint_config(u, o);
  auto s = co_await connect_tls(u, std::move(o));
  if (!s) co_return fail(s.error());
  co_return make_framed_channel(std::move(*s), std::move(config));
}

asio::awaitable<result<channel>> frame(tls_tcp_stream s, std::shared_ptr<const endpoint_config> c) {
  co_return make_framed_channel(std::move(s), std::move(c));
}

result<listener> listen_framed(asio::any_io_executor ex, const url& u, const options& o) {
  return listen_tls(std::move(ex), u, o, {},
                    [config = make_endpoint_config(u, o)](tls_tcp_stream s) {
                      return frame(std::move(s), config);
                    });
}

} // namespace

asio::awaitable<result<tls_tcp_stream>> connect_tls(const url& u, options o,
                                                    std::vector<std::string> alpn) {
  auto tls = make_tls_config(tls_role::client, o.tls, std::move(alpn));
  if (!tls) co_return fail(tls.error());
  auto s = co_await tcp_connect(u.host, u.port, o);
  if (!s) co_return fail(s.error());
  std::string name = o.tls.server_name.empty() ? u.host : o.tls.server_name.front();
  tls_tcp_stream secured(std::move(*s), std::move(*tls), name);
  auto shaken = co_await with_timeout(secured.handshake(), o.tls.handshake_timeout);
  if (!shaken) co_return fail(shaken.error());
  co_return std::move(secured);
}

result<listener> listen_tls(asio::any_io_executor ex, const url& u, const options& o,
                            std::vector<std::string> alpn, after_tls then,
                            std::chrono::milliseconds then_timeout) {
  auto tls = make_tls_config(tls_role::server, o.tls, std::move(alpn));
  if (!tls) return fail(tls.error());
  auto a = tcp_acceptor::open(ex, u.host, u.port, o);
  if (!a) return fail(a.error());
  return listen_with_handshake(
      std::move(ex), std::move(*a),
      [tls = *tls, then = std::move(then)](tcp_stream s) {
        return accept_tls(std::move(s), tls, then);
      },
      o.tls.handshake_timeout + then_timeout);
}

void register_tls() {
  (void)register_transport({
      .scheme = "tls",
      .option = framing_option,
      .connect = connect_framed,
      .listen = listen_framed,
      .properties = [](const options& o) { return stream_properties(o, true); },
  });
}

} // namespace coronet::transports
