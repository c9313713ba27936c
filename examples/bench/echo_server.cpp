#include "echo_server.hpp"

#include "reference/beast_ws_echo.hpp"
#include "reference/epoll_echo.h"
#include "reference/mmsg_echo.h"

#include <asio/post.hpp>

#include <cerrno>
#include <cstdio>
#include <optional>
#include <system_error>

void failure_log::record(std::exception_ptr e) {
  ++count_;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    std::fprintf(stderr, "%s: task failed: %s\n", server_.c_str(), x.what());
  } catch (...) {
    std::fprintf(stderr, "%s: task failed with a non-standard exception\n", server_.c_str());
  }
}

namespace {

std::string forced_message(std::chrono::milliseconds grace) {
  return "still running " + std::to_string(grace.count()) +
         " ms after its clients left; stopped by force";
}

class asio_echo_server final : public echo_server {
public:
  explicit asio_echo_server(std::string name) : failures_(std::move(name)) {}

  ~asio_echo_server() override {
    if (thread_ && !stopped_) stop(std::chrono::milliseconds(2000));
  }

  coronet::result<void> start(int cpu, const asio_service_factory& factory) {
    auto service = factory(context_, failures_);
    if (!service) return coronet::fail(service.error());
    service_ = std::move(*service);
    thread_.emplace(cpu, [this] {
      try {
        context_.run();
      } catch (...) {
        failures_.record(std::current_exception());
      }
    });
    return {};
  }

  std::uint16_t port() const override { return service_.port; }
  std::string unix_path() const override { return service_.unix_path; }
  thread_usage usage() const override { return thread_->usage(); }

  std::string stop(std::chrono::milliseconds grace) override {
    stopped_ = true;
    std::string problems;
    asio::post(context_, service_.stop_accepting);
    // run() returns once the accept loop and every connection have ended.
    if (!thread_->wait_for_exit(grace)) {
      context_.stop();
      problems = forced_message(grace);
    }
    thread_->join();
    if (int n = failures_.count()) {
      if (!problems.empty()) problems += "; ";
      problems += std::to_string(n) + " task(s) failed";
    }
    return problems;
  }

private:
  // Destroyed in reverse: the thread is joined before the service and the
  // context it runs go away.
  asio::io_context context_{1};
  failure_log failures_;
  asio_service service_;
  std::optional<server_thread> thread_;
  bool stopped_ = false;
};

// The C servers' common shape, as a traits class per server.
struct epoll_api {
  using handle = epoll_echo;
  static handle* create() { return epoll_echo_create(); }
  static std::uint16_t port(const handle* s) { return epoll_echo_port(s); }
  static int run(handle* s) { return epoll_echo_run(s); }
  static void stop(handle* s) { epoll_echo_stop(s); }
  static void destroy(handle* s) { epoll_echo_destroy(s); }
};

struct mmsg_api {
  using handle = mmsg_echo;
  static handle* create() { return mmsg_echo_create(); }
  static std::uint16_t port(const handle* s) { return mmsg_echo_port(s); }
  static int run(handle* s) { return mmsg_echo_run(s); }
  static void stop(handle* s) { mmsg_echo_stop(s); }
  static void destroy(handle* s) { mmsg_echo_destroy(s); }
};

struct beast_api {
  using handle = beast_echo;
  static handle* create() { return beast_echo_create(); }
  static std::uint16_t port(const handle* s) { return beast_echo_port(s); }
  static int run(handle* s) { return beast_echo_run(s); }
  static void stop(handle* s) { beast_echo_stop(s); }
  static void destroy(handle* s) { beast_echo_destroy(s); }
};

template <class Api>
class c_echo_server final : public echo_server {
public:
  using handle = typename Api::handle;

  explicit c_echo_server(handle* server) : server_(server) {}

  ~c_echo_server() override {
    if (thread_ && !stopped_) stop(std::chrono::milliseconds(2000));
    Api::destroy(server_);
  }

  void start(int cpu) {
    thread_.emplace(cpu, [this] {
      if (Api::run(server_) != 0) run_errno_ = errno;
    });
  }

  std::uint16_t port() const override { return Api::port(server_); }
  thread_usage usage() const override { return thread_->usage(); }

  std::string stop(std::chrono::milliseconds grace) override {
    stopped_ = true;
    std::string problems;
    Api::stop(server_);
    // The loop wakes on the eventfd at once; it cannot be forced any further.
    if (!thread_->wait_for_exit(grace)) problems = "slow to stop";
    thread_->join();
    if (run_errno_ != 0) {
      if (!problems.empty()) problems += "; ";
      problems += "event loop failed: " + std::generic_category().message(run_errno_);
    }
    return problems;
  }

private:
  handle* server_;
  int run_errno_ = 0; // written by the server thread, read after join
  std::optional<server_thread> thread_;
  bool stopped_ = false;
};

template <class Api>
coronet::result<std::unique_ptr<echo_server>> start_c_server(int cpu) {
  auto* raw = Api::create();
  if (!raw) return coronet::fail(std::error_code(errno, std::generic_category()));
  auto server = std::make_unique<c_echo_server<Api>>(raw);
  server->start(cpu);
  return std::unique_ptr<echo_server>(std::move(server));
}

} // namespace

coronet::result<std::unique_ptr<echo_server>> start_asio_server(std::string name, int cpu,
                                                                asio_service_factory factory) {
  auto server = std::make_unique<asio_echo_server>(std::move(name));
  if (auto started = server->start(cpu, factory); !started) return coronet::fail(started.error());
  return std::unique_ptr<echo_server>(std::move(server));
}

coronet::result<std::unique_ptr<echo_server>> start_epoll_server(int cpu) {
  return start_c_server<epoll_api>(cpu);
}

coronet::result<std::unique_ptr<echo_server>> start_mmsg_server(int cpu) {
  return start_c_server<mmsg_api>(cpu);
}

coronet::result<std::unique_ptr<echo_server>> start_beast_ws_server(int cpu) {
  return start_c_server<beast_api>(cpu);
}
