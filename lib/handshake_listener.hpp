// Private: listeners whose connections need a handshake (ws://, tls://,
// wss://) before they are channels, and helpers their transports share.
//
// The listener accepts TCP connections in one loop and runs each handshake
// as a task of its own, bounded in time, so a slow or silent client never
// holds up the others; finished handshakes queue up for accept().  Failed
// ones are counted in listener_stats::refused.
#pragma once

#include <coronet/channel.hpp>
#include <coronet/codec.hpp>
#include <coronet/framed.hpp>
#include <coronet/listener.hpp>
#include <coronet/tcp.hpp>
#include <coronet/timeout.hpp>
#include <coronet/url.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace coronet::detail {

/// Turns an accepted TCP stream into a channel.  Called once per
/// connection; the coroutine it returns owns everything it needs.
using stream_handshake = std::function<asio::awaitable<result<channel>>(tcp_stream)>;

result<listener> listen_with_handshake(asio::any_io_executor ex, const url& u, const options& o,
                                       stream_handshake handshake,
                                       std::chrono::milliseconds timeout);

/// `op`, failing with errc::timeout after `limit` (zero: no limit).
template <class T>
asio::awaitable<result<T>> bounded(asio::awaitable<result<T>> op, std::chrono::milliseconds limit) {
  if (limit.count() > 0) co_return co_await with_timeout(std::move(op), limit);
  co_return co_await std::move(op);
}

/// What every endpoint of one listener or connect() shares.
std::shared_ptr<const endpoint_config>
make_endpoint_config(const options& o, std::string_view scheme, bool encrypted);

/// A stream framed by the codec options::framing names (tcp://, tls://).
template <stream S>
channel make_framed_channel(S s, std::shared_ptr<const endpoint_config> c) {
  switch (c->options.framing) {
  case framing::line: return channel(framed<S, line_codec>(std::move(s), std::move(c)));
  case framing::raw: return channel(framed<S, raw_codec>(std::move(s), std::move(c)));
  case framing::length_prefixed: break;
  }
  return channel(framed<S, length_prefixed_codec>(std::move(s), std::move(c)));
}

/// The request target a WebSocket client sends for `u`: its path and its
/// query, less coronet's own options.
std::string websocket_target(const url& u);

} // namespace coronet::detail
