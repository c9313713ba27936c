// echo_server: one echo server under test, running on its own thread.
//
// The bench starts a server, points the load generator at its port (or at
// its Unix socket), reads the server thread's CPU clock around the measured
// interval, and stops it once the generator has closed its connections.
// Every implementation runs its whole event loop on that one thread, so the
// thread's CPU time is the server's whole cost.
//
// Asio-based servers (plain Asio and coronet) share one host: an
// asio::io_context(1) on a server_thread.  Each brings only an
// asio_service_factory that binds, spawns its accept loop and says how to
// stop accepting.  The C servers share another: a server_thread that runs
// their loop until they are told to stop.
#pragma once

#include "server_thread.hpp"

#include <coronet/result.hpp>

#include <asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>

class echo_server {
public:
  virtual ~echo_server() = default;

  /// The TCP or UDP port it listens on, on 127.0.0.1 (0 for a Unix socket).
  virtual std::uint16_t port() const = 0;

  /// The Unix socket it listens on, written as in a unix:// URL: a file
  /// path, or "@name" for a name in Linux's abstract namespace (whose
  /// sun_path is a NUL byte, then the name).  Empty if it listens on a port.
  virtual std::string unix_path() const { return {}; }

  /// What the server's thread has used so far.
  virtual thread_usage usage() const = 0;

  /// Stops accepting and waits up to `grace` for the server to finish the
  /// connections its clients have closed, then stops it by force.  Returns
  /// what went wrong during the server's life (a task that threw, a forced
  /// stop), empty if nothing did.  Called once.
  virtual std::string stop(std::chrono::milliseconds grace) = 0;
};

/// The completion handler of every task an Asio-based server spawns: an
/// exception is logged and counted, so a failed task fails the bench
/// instead of vanishing.
class failure_log {
public:
  explicit failure_log(std::string server) : server_(std::move(server)) {}

  auto handler() {
    return [this](std::exception_ptr e) {
      if (e) record(e);
    };
  }
  void record(std::exception_ptr e);
  int count() const { return count_.load(); }

private:
  std::string server_;
  std::atomic<int> count_{0};
};

/// What an Asio-based server hands its host once it is listening.
struct asio_service {
  std::uint16_t port = 0;
  std::string unix_path = {}; ///< instead of a port; see echo_server::unix_path()
  /// Closes the acceptor; run on the io_context's thread.  The server's
  /// connections end by themselves when the load generator closes them.
  /// (UDP peers never close: a UDP server ends its peers here.)
  std::function<void()> stop_accepting;
};

/// Binds on 127.0.0.1 port 0 (or on a Unix socket) and co_spawns the accept
/// loop on `ctx` (which is not running yet), reporting task failures to
/// `failures`.
using asio_service_factory =
    std::function<coronet::result<asio_service>(asio::io_context& ctx, failure_log& failures)>;

/// Runs `factory`'s service on an io_context(1) on a thread pinned to `cpu`.
coronet::result<std::unique_ptr<echo_server>> start_asio_server(std::string name, int cpu,
                                                                asio_service_factory factory);

/// Runs the C epoll echo server (TCP) on a thread pinned to `cpu`.
coronet::result<std::unique_ptr<echo_server>> start_epoll_server(int cpu);

/// Runs the Boost.Beast WebSocket echo server on a thread pinned to `cpu`.
coronet::result<std::unique_ptr<echo_server>> start_beast_ws_server(int cpu);

/// Runs the C recvmmsg/sendmmsg echo server (UDP) on a thread pinned to `cpu`.
coronet::result<std::unique_ptr<echo_server>> start_mmsg_server(int cpu);
