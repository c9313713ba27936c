// coronet::server and coronet::serve: run a handler per connection on N
// threads.
//
//   coronet::serve("tcp://0.0.0.0:7000", [](coronet::channel ch) -> asio::awaitable<void> {
//     while (auto m = co_await ch.receive())
//       if (!co_await ch.send(*m)) break;
//   });
//
// Each thread owns an io_context and its own acceptor on the same port
// (SO_REUSEPORT), so a connection lives on one thread and needs no locks.
// When the handler returns, the channel is closed gracefully (its send queue
// is flushed).  Stopping (stop(), or SIGINT/SIGTERM for serve()) closes the
// acceptors, makes every pending receive() complete with errc::closed, waits
// for the handlers to return and their queues to drain, up to
// server_options::drain_timeout, then drops what is left.
#pragma once

#include <coronet/channel.hpp>
#include <coronet/options.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coronet {

using connection_handler = std::function<asio::awaitable<void>(channel)>;

struct server_options : options {
  unsigned threads = 1;
  /// How long stop() waits for handlers to finish before dropping connections.
  std::chrono::milliseconds drain_timeout{5'000};
  /// serve() only: stop on SIGINT and SIGTERM.
  bool handle_signals = true;
  /// Called for a handler that ended with an exception; the default logs it
  /// (coronet::log_exception, <coronet/log.hpp>).
  std::function<void(std::exception_ptr)> on_error;
  /// A handler per request path ({"/echo", echo}, {"/chat", chat}), for
  /// schemes whose URLs have paths (ws://, wss://): a connection runs the
  /// handler of its path, and requests for other paths get 404 at the
  /// handshake.  The routes are then the only place that says which paths
  /// and handlers there are: start() fails with errc::invalid_argument (the
  /// reason logged) when a handler, options::paths or a URL path other than
  /// "/" is given too.
  std::vector<std::pair<std::string, connection_handler>> routes;
  /// serve() only: called once the port is bound (with the port, useful with port 0).
  std::function<void(std::uint16_t port)> on_listening;
};

class server {
public:
  server();
  ~server(); // stop()s
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Listens on `url` and starts the threads.  Fails if the URL is bad, the
  /// port cannot be bound, there is no handler (nor routes) or the routes
  /// conflict (see server_options::routes).
  result<void> start(std::string_view url, connection_handler handler, server_options o = {});

  /// The port bound (useful with port 0).
  std::uint16_t port() const;

  /// Connections open now, over all threads.
  std::size_t connections() const;

  /// Graceful stop as described above; returns when every thread has ended.
  /// Safe to call from any thread except the server's own, and more than once.
  void stop();

  /// Starts stop() on a thread of its own and returns at once: safe from a
  /// connection handler (where stop() itself would wait for its own thread).
  void request_stop();

  /// Blocks until stop() has completed.
  void wait();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Starts a server and blocks until SIGINT or SIGTERM, then stops it
/// gracefully and returns.  (With o.handle_signals = false nothing can stop
/// it: use coronet::server, whose stop() and request_stop() you control.)
result<void> serve(std::string_view url, connection_handler handler, server_options o = {});

} // namespace coronet
