// coronet_echo: the coronet echo servers the bench measures.
//
// All run the same loop, written once as a template over the endpoint type:
//
//   for (;;) { auto m = co_await e.receive(); if (!m) break; if (!co_await e.send(*m)) break; }
//
// over coronet::channel (type-erased, chosen by URL) or over the concrete
// framed<tcp_stream, raw_codec>, so that the difference between those two
// rows is the cost of the type erasure and nothing else.  Over udp:// the
// same loop runs once per peer channel.
#pragma once

#include "echo_server.hpp"

#include <coronet/options.hpp>

#include <string_view>

/// Echo over coronet::listen(url) and coronet::channel; `url` is a
/// stream URL on 127.0.0.1 port 0 (tcp://, ws://, tls://...), or a unix://
/// one, whose path becomes the service's unix_path; ?framing= picks the codec.
coronet::result<asio_service> serve_coronet_channel_echo(asio::io_context& ctx,
                                                         failure_log& failures,
                                                         std::string_view url,
                                                         const coronet::options& o = {});

/// Echo over coronet::listen(url) for a udp://127.0.0.1:0 URL: a channel
/// per peer address, each with its own echo loop.  A UDP peer never hangs
/// up, so stop_accepting also stops every peer's receive(), which ends its
/// loop; the listener's socket closes once the last peer is gone.
coronet::result<asio_service>
serve_coronet_udp_channel_echo(asio::io_context& ctx, failure_log& failures, std::string_view url);

/// Echo over coronet::tcp_acceptor and websocket<tcp_stream> directly
/// (accept_websocket, then the loop), without a channel.
coronet::result<asio_service> serve_coronet_concrete_ws_echo(asio::io_context& ctx,
                                                             failure_log& failures);

/// Echo over coronet::tcp_acceptor and framed<tcp_stream, raw_codec>
/// directly, without a channel.
coronet::result<asio_service> serve_coronet_concrete_raw_echo(asio::io_context& ctx,
                                                              failure_log& failures);
