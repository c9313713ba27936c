// TCP: tcp_stream (a coronet stream over a connected socket), connecting with
// DNS resolution and a deadline, and a listening socket that accepts streams.
//
// tcp_stream
// - a coronet stream (<coronet/stream.hpp>): read_some, write, read_exactly
//   and read_until from that header work on it.
// - TCP_NODELAY is on for streams made by tcp_connect and tcp_acceptor
//   (options::tcp_nodelay).
// - One reader and one writer at a time; use it from its executor.
#pragma once

#include <coronet/options.hpp>
#include <coronet/stream.hpp>

#include <asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace coronet {

class tcp_stream {
public:
  using executor_type = asio::ip::tcp::socket::executor_type;

  explicit tcp_stream(asio::ip::tcp::socket s) : socket_(std::move(s)) {}

  executor_type get_executor() { return socket_.get_executor(); }
  asio::ip::tcp::socket& socket() { return socket_; }

  /// Half-close: shutdown_send sends FIN after queued bytes; shutdown_receive
  /// makes a pending read complete with errc::closed.
  result<void> shutdown(shutdown_type how);

  /// Closes the socket; pending operations complete with errc::closed.
  void close();

  /// "address:port" of the peer, or "" once closed.
  std::string remote() const;

  /// Writes what the socket buffer takes now, without waiting; would_block
  /// when nothing fits.  Used by message endpoints to skip a completion.
  std::size_t try_write_some(asio::const_buffer buf, std::error_code& ec);

  /// Reads what is there now, without waiting (0 with would_block when
  /// nothing is, 0 without an error at end of stream).
  std::size_t try_read_some(asio::mutable_buffer buf, std::error_code& ec);

  /// Bytes written but not yet acknowledged by the peer (Linux SIOCOUTQ;
  /// -1 when unknown).  A graceful close waits for 0 before closing.
  long unacknowledged_bytes() const;

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& b, Token&& t) {
    return socket_.async_read_some(b, std::forward<Token>(t));
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& b, Token&& t) {
    return socket_.async_write_some(b, std::forward<Token>(t));
  }

private:
  asio::ip::tcp::socket socket_;
};

/// Resolves `host` (which must stay valid until the operation completes,
/// as it does inside a `co_await tcp_connect(...)` expression) and connects to the first address
/// that accepts, within `o.connect_timeout`.  Fails with errc::resolve_failed,
/// errc::connection_refused, errc::timeout or a system error.
asio::awaitable<result<tcp_stream>> tcp_connect(std::string_view host, std::uint16_t port,
                                                options o = {});

/// A listening TCP socket.
class tcp_acceptor {
public:
  /// Binds and listens on host:port (port 0 picks a free port).  "0.0.0.0"
  /// is every IPv4 address; "::", "*" or an empty host every IPv4 and IPv6
  /// address; "localhost" is 127.0.0.1.
  static result<tcp_acceptor> open(asio::any_io_executor ex, std::string_view host,
                                   std::uint16_t port, const options& o = {});

  /// Completes with the next connection, errc::closed after close().
  asio::awaitable<result<tcp_stream>> accept();

  std::uint16_t port() const;
  void close();

private:
  tcp_acceptor(asio::ip::tcp::acceptor a, bool nodelay)
      : acceptor_(std::move(a)), nodelay_(nodelay) {}
  asio::ip::tcp::acceptor acceptor_;
  bool nodelay_ = true;
};

static_assert(stream<tcp_stream>);

} // namespace coronet
