// coronet::listener: accepts channels for any scheme.
//
//   auto l = coronet::listen(ex, "tcp://127.0.0.1:0");
//   for (;;) {
//     auto ch = co_await l->accept();
//     if (!ch) break;                       // errc::closed after close()
//     asio::co_spawn(ex, handle(std::move(*ch)), coronet::log_failures("a handler"));
//   }
#pragma once

#include <coronet/channel.hpp>

#include <cstdint>
#include <memory>
#include <string_view>

namespace coronet {

/// Counters a listener keeps (all since it started).
struct listener_stats {
  std::size_t accepted = 0;  ///< channels handed out by accept()
  std::size_t refused = 0;   ///< peers turned away (udp: over max_peers)
  std::size_t dropped = 0;   ///< datagrams dropped (peer queue full, fault injection)
  std::size_t truncated = 0; ///< datagrams larger than the receive limit
};

class listener {
public:
  /// The interface behind a listener; implement it to add a transport.
  class acceptor {
  public:
    virtual ~acceptor() = default;
    virtual asio::awaitable<result<channel>> accept() = 0;
    virtual std::uint16_t port() const = 0;
    virtual void close() = 0;
    virtual listener_stats stats() const { return {}; }
  };

  listener() = default;
  explicit listener(std::unique_ptr<acceptor> a) : impl_(std::move(a)) {}

  /// The next connection as a channel; errc::closed once close() was called.
  /// Per-connection failures (a reset during accept) are skipped, not returned.
  asio::awaitable<result<channel>> accept() { return impl_->accept(); }
  /// The bound port (useful after listening on port 0).
  std::uint16_t port() const { return impl_->port(); }
  /// Stops accepting; a pending accept() completes with errc::closed.
  void close() { impl_->close(); }
  /// Counters; safe to read from any thread.
  listener_stats stats() const { return impl_->stats(); }

private:
  std::unique_ptr<acceptor> impl_;
};

/// Binds `url` on `ex`.  The URL's query options override `o`; options apply
/// to every accepted channel.
result<listener> listen(asio::any_io_executor ex, std::string_view url, options o = {});

} // namespace coronet
