#include "unix_stream.hpp"

#include <coronet/error.hpp>

#include <sys/socket.h>

namespace coronet::transports {

result<void> unix_stream::shutdown(shutdown_type how) {
  std::error_code ec;
  socket_.shutdown(how, ec);
  if (ec) return fail(ec);
  return {};
}

void unix_stream::close() {
  std::error_code ec;
  socket_.close(ec);
}

std::string unix_stream::remote() const {
  if (!socket_.is_open()) return {};
  ucred who{};
  socklen_t size = sizeof who;
  if (::getsockopt(const_cast<unix_socket&>(socket_).native_handle(), SOL_SOCKET, SO_PEERCRED, &who,
                   &size) == 0 &&
      who.pid > 0)
    return address_ + " (pid " + std::to_string(who.pid) + ")";
  return address_;
}

std::size_t unix_stream::try_write_some(asio::const_buffer buf, std::error_code& ec) {
  // MSG_NOSIGNAL: a peer that went away is an error code, never SIGPIPE.
  ssize_t n = ::send(socket_.native_handle(), buf.data(), buf.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0) {
    ec = std::error_code(errno, asio::error::get_system_category());
    return 0;
  }
  ec = {};
  return static_cast<std::size_t>(n);
}

std::size_t unix_stream::try_read_some(asio::mutable_buffer buf, std::error_code& ec) {
  ssize_t n = ::recv(socket_.native_handle(), buf.data(), buf.size(), MSG_DONTWAIT);
  if (n < 0) {
    ec = std::error_code(errno, asio::error::get_system_category());
    return 0;
  }
  ec = {};
  return static_cast<std::size_t>(n);
}

} // namespace coronet::transports
