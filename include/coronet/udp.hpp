// UDP: udp://host:port as a coronet::channel.
//
// One datagram is one message.  properties(): not reliable, not ordered,
// boundaries preserved, max_message_size = the largest payload accepted.
//
// - connect("udp://host:port") makes a connected socket: only datagrams from
//   that peer are delivered.  An ICMP "port unreachable" for an earlier send
//   surfaces as errc::connection_refused from a later receive() or send().
// - listen("udp://host:port") owns one socket and demultiplexes by peer
//   address: the first datagram from a new address yields a new channel from
//   accept(); later ones go to that channel.  A peer idle longer than
//   options::udp.peer_idle_timeout is dropped (its receive() completes with
//   errc::closed); past options::udp.max_peers new peers are refused and
//   counted (listener::stats()).
// - A datagram larger than the receive limit (options::max_message, at most
//   max_udp_payload) is detected (MSG_TRUNC) and receive() fails with
//   errc::message_too_large for it, never delivering it cut short; the
//   channel stays usable.  A send larger than the limit fails with
//   errc::message_too_large before any syscall.
// - On Linux, datagrams are read with recvmmsg and written with sendmmsg in
//   batches (options::udp.batching); every reply queued in one turn of the
//   event loop goes out in one sendmmsg.
#pragma once

#include <coronet/channel.hpp>
#include <coronet/options.hpp>

#include <asio/ip/udp.hpp>

#include <cstddef>

namespace coronet {

/// The largest UDP payload over IPv4 (65535 - 20 - 8).
inline constexpr std::size_t max_udp_payload = 65'507;

/// The peer of a udp:// channel (channel::info<udp_info>()): the address a
/// listener's channel talks to, or the one a client is connected to.
struct udp_info {
  asio::ip::udp::endpoint peer;
};

} // namespace coronet
