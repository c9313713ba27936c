// For transport authors: a listener whose connections need a handshake (a
// WebSocket upgrade, TLS) before they are channels.
//
//   return coronet::listen_with_handshake(ex, std::move(*acceptor),
//       [config](coronet::tcp_stream s) { return upgrade(std::move(s), config); },
//       o.websocket.handshake_timeout);
//
// It accepts connections in one loop and runs each handshake as a task of
// its own, bounded in time, so a slow or silent client never holds up the
// others; finished handshakes queue up for accept().  Failed ones are
// counted in listener_stats::refused.  Closing the listener closes the
// acceptor; channels whose handshake finishes later are dropped.
#pragma once

#include <coronet/channel.hpp>
#include <coronet/listener.hpp>
#include <coronet/log.hpp>
#include <coronet/timeout.hpp>

#include <asio/co_spawn.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>

namespace coronet {

namespace detail {

// The compiled part: the queue of finished handshakes, the counters, close.
class handshake_queue : public std::enable_shared_from_this<handshake_queue> {
public:
  handshake_queue(asio::any_io_executor ex, std::chrono::milliseconds timeout);
  virtual ~handshake_queue();

  /// Runs `handshake` as a task of its own, under the deadline; the channel
  /// it yields is queued for accept().
  void start(asio::awaitable<result<channel>> handshake);
  /// The next channel whose handshake finished; errc::closed after close().
  asio::awaitable<result<channel>> next();
  bool is_open() const { return open_; }
  void close();
  listener_stats stats() const;
  virtual std::uint16_t port() const = 0;

  /// A listener handing out what the queue holds.
  static listener make_listener(std::shared_ptr<handshake_queue> q);

protected:
  virtual void close_acceptor() = 0;

private:
  struct state;
  std::unique_ptr<state> st_;
  bool open_ = true;
};

template <class Acceptor, class Handshake>
class handshake_acceptor final : public handshake_queue {
public:
  handshake_acceptor(asio::any_io_executor ex, Acceptor a, Handshake h,
                     std::chrono::milliseconds timeout)
      : handshake_queue(std::move(ex), timeout), acceptor_(std::move(a)), handshake_(std::move(h)) {
  }

  static asio::awaitable<void> accept_loop(std::shared_ptr<handshake_acceptor> self) {
    while (self->is_open()) {
      auto s = co_await self->acceptor_.accept();
      if (!s) break;
      self->start(self->handshake_(std::move(*s)));
    }
  }
  std::uint16_t port() const override { return acceptor_.port(); }

private:
  void close_acceptor() override { acceptor_.close(); }
  Acceptor acceptor_;
  Handshake handshake_;
};

} // namespace detail

/// A listener that accepts from `acceptor` (accept() yielding a stream,
/// port(), close()) and turns each stream into a channel with
/// `handshake(stream)` (a coroutine returning result<channel>), each within
/// `timeout` (zero: no limit).  Runs on `ex`.
template <class Acceptor, class Handshake>
listener listen_with_handshake(asio::any_io_executor ex, Acceptor acceptor, Handshake handshake,
                               std::chrono::milliseconds timeout) {
  using impl = detail::handshake_acceptor<Acceptor, Handshake>;
  auto q = std::make_shared<impl>(ex, std::move(acceptor), std::move(handshake), timeout);
  asio::co_spawn(ex, impl::accept_loop(q), log_failures("a listener's accept loop"));
  return detail::handshake_queue::make_listener(std::move(q));
}

} // namespace coronet
