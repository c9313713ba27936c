// For transport authors: the calls that do not wait, which the streams of
// socket transports share (tcp_stream, unix:// 's stream) for their optional
// try_write_some() and try_read_some() (<coronet/stream.hpp>).
#pragma once

#include <asio/buffer.hpp>
#include <asio/ip/address.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

namespace coronet {

/// Writes what the socket buffer of `fd` takes now: the bytes written, or 0
/// with `ec` set (asio::error::would_block when nothing fits).  A peer that
/// went away is an error code, never SIGPIPE.
std::size_t try_send_some(int fd, asio::const_buffer buf, std::error_code& ec);

/// Reads what is there now: the bytes read, 0 with would_block when nothing
/// is, 0 without an error at end of stream.
std::size_t try_receive_some(int fd, asio::mutable_buffer buf, std::error_code& ec);

/// "address:port", "[v6 address]:port": how a peer is shown (remote()).
std::string address_text(const asio::ip::address& a, std::uint16_t port);

} // namespace coronet
