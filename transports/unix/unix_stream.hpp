// Private to unix://: a coronet stream over a connected Unix-domain stream
// socket, and the listening socket it comes from.
//
// A Unix socket delivers written bytes straight into the peer's receive
// queue, and closing with unread input loses nothing the peer has not read
// yet (it reads the queue, then sees the reset): unacknowledged_bytes() is
// therefore always 0, and a graceful close need not wait for the peer.
#pragma once

#include <coronet/options.hpp>
#include <coronet/stream.hpp>

#include <asio/local/stream_protocol.hpp>

#include <memory>

#include <string>
#include <string_view>
#include <sys/types.h>

namespace coronet::transports {

using unix_socket = asio::local::stream_protocol::socket;

class unix_stream {
public:
  using executor_type = unix_socket::executor_type;

  /// `address`: as the URL wrote it ("/run/app.sock", "@name"), shared by
  /// the connections of one listener.
  unix_stream(unix_socket s, std::shared_ptr<const std::string> address) noexcept
      : socket_(std::move(s)), address_(std::move(address)) {}

  executor_type get_executor() { return socket_.get_executor(); }
  result<void> shutdown(shutdown_type how);
  void close();
  /// The socket's address and the peer's process: "/run/app.sock (pid 42)".
  std::string remote() const;

  std::size_t try_write_some(asio::const_buffer buf, std::error_code& ec);
  std::size_t try_read_some(asio::mutable_buffer buf, std::error_code& ec);
  long unacknowledged_bytes() const { return 0; }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& b, Token&& t) {
    return socket_.async_read_some(b, std::forward<Token>(t));
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& b, Token&& t) {
    return socket_.async_write_some(b, std::forward<Token>(t));
  }

private:
  unix_socket socket_;
  // Shared, not a std::string member: a stream travels by value through
  // co_await expressions, where GCC 12 may move a short string bitwise.
  std::shared_ptr<const std::string> address_;
};

static_assert(stream<unix_stream>);

} // namespace coronet::transports
