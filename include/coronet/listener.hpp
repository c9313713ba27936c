// coronet::listener: accepts channels for any scheme.
//
//   auto l = coronet::listen(ex, "tcp://127.0.0.1:0");
//   for (;;) {
//     auto ch = co_await l->accept();
//     if (!ch) break;                       // errc::closed after close()
//     spawn(handle(std::move(*ch)));
//   }
#pragma once

#include <coronet/channel.hpp>

#include <cstdint>
#include <memory>
#include <string_view>

namespace coronet {

class listener {
public:
  /// The interface behind a listener; implement it to add a transport.
  class acceptor {
  public:
    virtual ~acceptor() = default;
    virtual asio::awaitable<result<channel>> accept() = 0;
    virtual std::uint16_t port() const = 0;
    virtual void close() = 0;
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

private:
  std::unique_ptr<acceptor> impl_;
};

/// Binds `url` on `ex`.  The URL's query options override `o`; options apply
/// to every accepted channel.
result<listener> listen(asio::any_io_executor ex, std::string_view url, options o = {});

} // namespace coronet
