// For transport authors: what every listening IP socket does before bind()
// (tcp://, udp:// and the transports over them).
#pragma once

#include <coronet/result.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/socket_base.hpp>

#include <sys/socket.h>

#include <string_view>

namespace coronet {

/// The address to bind for `host`: "" / "*" = every IPv4 and IPv6 address,
/// "localhost" = 127.0.0.1, a literal as written, a name resolved once now.
result<asio::ip::address> listen_address(const asio::any_io_executor& ex, std::string_view host);

/// SO_REUSEADDR, SO_REUSEPORT when asked, dual-stack on an unspecified IPv6
/// address.  `socket` is open.
template <class Socket>
std::error_code prepare_to_bind(Socket& socket, const asio::ip::address& address, bool reuse_port) {
  std::error_code ec;
  socket.set_option(asio::socket_base::reuse_address(true), ec);
  if (reuse_port) {
    using option = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
    socket.set_option(option(true), ec);
    if (ec) return ec;
  }
  if (address.is_v6() && address.is_unspecified()) socket.set_option(asio::ip::v6_only(false), ec);
  return {};
}

} // namespace coronet
