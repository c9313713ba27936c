#include "unix_stream.hpp"

#include <coronet/error.hpp>
#include <coronet/transport/socket_io.hpp>

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
    return *address_ + " (pid " + std::to_string(who.pid) + ")";
  return *address_;
}

std::size_t unix_stream::try_write_some(asio::const_buffer buf, std::error_code& ec) {
  return try_send_some(socket_.native_handle(), buf, ec);
}

std::size_t unix_stream::try_read_some(asio::mutable_buffer buf, std::error_code& ec) {
  return try_receive_some(socket_.native_handle(), buf, ec);
}

} // namespace coronet::transports
