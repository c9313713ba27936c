#include <coronet/transport/socket_io.hpp>

#include <asio/error.hpp>

#include <cerrno>
#include <sys/socket.h>

namespace coronet {

std::size_t try_send_some(int fd, asio::const_buffer buf, std::error_code& ec) {
  ssize_t n = ::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0) {
    ec = std::error_code(errno, asio::error::get_system_category());
    return 0;
  }
  ec = {};
  return static_cast<std::size_t>(n);
}

std::size_t try_receive_some(int fd, asio::mutable_buffer buf, std::error_code& ec) {
  ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
  if (n < 0) {
    ec = std::error_code(errno, asio::error::get_system_category());
    return 0;
  }
  ec = {};
  return static_cast<std::size_t>(n);
}

std::string address_text(const asio::ip::address& a, std::uint16_t port) {
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(port);
}

} // namespace coronet
