#include "coronet_echo.hpp"

#include <coronet/codec.hpp>
#include <coronet/framed.hpp>
#include <coronet/listener.hpp>
#include <coronet/tcp.hpp>
#include <coronet/url.hpp>
#include <coronet/websocket.hpp>

#include <asio/co_spawn.hpp>
#include <asio/this_coro.hpp>

#include <memory>
#include <unordered_map>

namespace {

using raw_tcp_endpoint = coronet::framed<coronet::tcp_stream, coronet::raw_codec>;

// Echoes every message; those a read already brought are answered without
// suspending (try_receive, try_send), as the echo example does.
template <class Endpoint>
asio::awaitable<void> echo(Endpoint e) {
  auto m = co_await e.receive();
  while (m) { // errc::closed once the load generator hangs up
    auto sent = e.try_send(*m);
    if (!sent && sent.error() == coronet::errc::backpressure) sent = co_await e.send(*m);
    if (!sent) break;
    m = e.try_receive();
    if (!m && m.error() == coronet::errc::would_block) m = co_await e.receive();
  }
  (void)co_await e.close();
}

asio::awaitable<void> accept_channels(std::shared_ptr<coronet::listener> listener,
                                      failure_log& failures) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    auto ch = co_await listener->accept();
    if (!ch) co_return; // errc::closed after stop_accepting
    asio::co_spawn(ex, echo(std::move(*ch)), failures.handler());
  }
}

// The peer channels of a udp:// listener whose echo loops still run, so
// that stopping the server can end them.  Used on the io_context's thread only.
struct live_peers {
  std::unordered_map<const void*, coronet::channel> channels;
  bool stopping = false;

  void stop() {
    stopping = true;
    for (auto& [id, ch] : channels) ch.stop_receiving();
  }
};

asio::awaitable<void> echo_peer(coronet::channel ch, std::shared_ptr<live_peers> live) {
  struct leave {
    live_peers& live;
    const void* id;
    ~leave() { live.channels.erase(id); }
  } guard{*live, ch.id()};
  live->channels.emplace(ch.id(), ch);
  if (live->stopping) ch.stop_receiving();
  co_await echo(std::move(ch));
}

asio::awaitable<void> accept_peers(std::shared_ptr<coronet::listener> listener,
                                   std::shared_ptr<live_peers> live, failure_log& failures) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    auto ch = co_await listener->accept();
    if (!ch) co_return; // errc::closed after stop_accepting
    asio::co_spawn(ex, echo_peer(std::move(*ch), live), failures.handler());
  }
}

asio::awaitable<void> accept_concrete(std::shared_ptr<coronet::tcp_acceptor> acceptor,
                                      std::shared_ptr<const coronet::endpoint_config> config,
                                      failure_log& failures) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    auto stream = co_await acceptor->accept();
    if (!stream) co_return;
    asio::co_spawn(ex, echo(raw_tcp_endpoint(std::move(*stream), config)), failures.handler());
  }
}

asio::awaitable<void> upgrade_and_echo(coronet::tcp_stream stream,
                                       std::shared_ptr<const coronet::endpoint_config> config) {
  auto ws = co_await coronet::accept_websocket(std::move(stream), config);
  if (ws) co_await echo(std::move(*ws));
}

asio::awaitable<void> accept_concrete_ws(std::shared_ptr<coronet::tcp_acceptor> acceptor,
                                         std::shared_ptr<const coronet::endpoint_config> config,
                                         failure_log& failures) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    auto stream = co_await acceptor->accept();
    if (!stream) co_return;
    asio::co_spawn(ex, upgrade_and_echo(std::move(*stream), config), failures.handler());
  }
}

} // namespace

coronet::result<asio_service> serve_coronet_concrete_ws_echo(asio::io_context& ctx,
                                                             failure_log& failures) {
  // What listen("ws://...") would build, spelled out.
  auto config = std::make_shared<coronet::endpoint_config>();
  config->properties = {.reliable = true,
                        .ordered = true,
                        .preserves_boundaries = true,
                        .encrypted = false,
                        .max_message_size = config->options.max_message,
                        .scheme = "ws"};
  auto opened = coronet::tcp_acceptor::open(ctx.get_executor(), "127.0.0.1", 0, config->options);
  if (!opened) return coronet::fail(opened.error());
  auto acceptor = std::make_shared<coronet::tcp_acceptor>(std::move(*opened));
  auto port = acceptor->port();
  asio::co_spawn(ctx, accept_concrete_ws(acceptor, config, failures), failures.handler());
  return asio_service{.port = port, .stop_accepting = [acceptor] { acceptor->close(); }};
}

coronet::result<asio_service> serve_coronet_channel_echo(asio::io_context& ctx,
                                                         failure_log& failures,
                                                         std::string_view url,
                                                         const coronet::options& o) {
  auto listening = coronet::listen(ctx.get_executor(), url, o);
  if (!listening) return coronet::fail(listening.error());
  auto listener = std::make_shared<coronet::listener>(std::move(*listening));
  asio_service service{.port = listener->port(),
                       .stop_accepting = [listener] { listener->close(); }};
  // A unix:// listener has no port; its address is the URL's path.
  if (auto u = coronet::parse_url(url); u && u->scheme == "unix") service.unix_path = u->path;
  asio::co_spawn(ctx, accept_channels(listener, failures), failures.handler());
  return service;
}

coronet::result<asio_service>
serve_coronet_udp_channel_echo(asio::io_context& ctx, failure_log& failures, std::string_view url) {
  auto listening = coronet::listen(ctx.get_executor(), url);
  if (!listening) return coronet::fail(listening.error());
  auto listener = std::make_shared<coronet::listener>(std::move(*listening));
  auto live = std::make_shared<live_peers>();
  auto port = listener->port();
  asio::co_spawn(ctx, accept_peers(listener, live, failures), failures.handler());
  return asio_service{.port = port, .stop_accepting = [listener, live] {
                        listener->close();
                        live->stop();
                      }};
}

coronet::result<asio_service> serve_coronet_concrete_raw_echo(asio::io_context& ctx,
                                                              failure_log& failures) {
  // What listen("tcp://...?framing=raw") would build, spelled out.
  auto config = std::make_shared<coronet::endpoint_config>();
  config->options.framing = coronet::framing::raw;
  config->properties = {.reliable = true,
                        .ordered = true,
                        .preserves_boundaries = false,
                        .encrypted = false,
                        .max_message_size = config->options.max_message,
                        .scheme = "tcp"};
  auto opened = coronet::tcp_acceptor::open(ctx.get_executor(), "127.0.0.1", 0, config->options);
  if (!opened) return coronet::fail(opened.error());
  auto acceptor = std::make_shared<coronet::tcp_acceptor>(std::move(*opened));
  auto port = acceptor->port();
  asio::co_spawn(ctx, accept_concrete(acceptor, config, failures), failures.handler());
  return asio_service{.port = port, .stop_accepting = [acceptor] { acceptor->close(); }};
}
