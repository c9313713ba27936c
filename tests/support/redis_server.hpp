// A redis-server of the test's own: on a free loopback port (and a Unix
// socket in a fresh directory), no persistence (--save "" --appendonly no),
// stopped by PID when the test ends.  kill() and start() again on the same
// port make an outage.  No test uses a Redis it did not start.
#pragma once

#include "child_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

namespace coronet::test {

class redis_server {
public:
  struct options {
    std::string password; ///< --requirepass
  };

  /// redis-server on PATH (Debian's redis-server package)?
  static bool available() { return std::system("command -v redis-server >/dev/null 2>&1") == 0; }

  explicit redis_server(options o = {}) : opts_(std::move(o)) {
    char dir[] = "/tmp/coronet-redis-XXXXXX";
    REQUIRE(::mkdtemp(dir));
    dir_ = dir;
    for (int tries = 0; tries < 5 && !proc_; ++tries) {
      port_ = free_port();
      start();
    }
    REQUIRE(proc_);
  }
  ~redis_server() {
    proc_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  /// Starts it (again) on its port; waits until it answers PING.
  void start() {
    std::vector<std::string> argv{"redis-server",
                                  "--port",
                                  std::to_string(port_),
                                  "--bind",
                                  "127.0.0.1",
                                  "--save",
                                  "",
                                  "--appendonly",
                                  "no",
                                  "--daemonize",
                                  "no",
                                  "--loglevel",
                                  "warning",
                                  "--unixsocket",
                                  socket_path(),
                                  "--unixsocketperm",
                                  "700"};
    if (!opts_.password.empty()) {
      argv.push_back("--requirepass");
      argv.push_back(opts_.password);
    }
    proc_.emplace(argv, child_options{.merge_stderr = true, .stop_signal = SIGTERM});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!answers_ping()) {
      if (std::chrono::steady_clock::now() > deadline ||
          proc_->wait_exit(std::chrono::milliseconds(0))) {
        proc_.reset(); // the port was taken meanwhile, most likely
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  /// SIGKILL, as a crash: no goodbye to its clients.
  void kill() {
    if (!proc_) return;
    ::kill(proc_->pid(), SIGKILL);
    proc_.reset();
  }
  /// SIGSTOP / SIGCONT: a Redis that hangs without closing its sockets.
  void pause() { ::kill(proc_->pid(), SIGSTOP); }
  void resume() { ::kill(proc_->pid(), SIGCONT); }

  std::uint16_t port() const { return port_; }
  std::string url(int db = 0) const {
    return "redis://" + (opts_.password.empty() ? "" : ":" + opts_.password + "@") +
           "127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
  }
  std::string socket_path() const { return dir_ + "/redis.sock"; }

  /// redis-cli (a real client) against this server; its output, trimmed.
  std::string cli(const std::string& args) const {
    auto cmd = "redis-cli -p " + std::to_string(port_) +
               (opts_.password.empty() ? "" : " --no-auth-warning -a " + opts_.password) + " " +
               args + " 2>&1";
    std::string out;
    if (auto* f = ::popen(cmd.c_str(), "r")) {
      char buf[4096];
      while (auto n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
      ::pclose(f);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

private:
  static std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
  }

  bool answers_ping() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      std::string req = opts_.password.empty() ? "" : "AUTH " + opts_.password + "\r\n";
      req += "PING\r\n";
      timeval tv{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == ssize_t(req.size())) {
        std::string got;
        char buf[256];
        while (got.find("PONG") == std::string::npos) {
          auto n = ::recv(fd, buf, sizeof buf, 0);
          if (n <= 0) break;
          got.append(buf, static_cast<std::size_t>(n));
        }
        ok = got.find("+PONG") != std::string::npos;
      }
    }
    ::close(fd);
    return ok;
  }

  options opts_;
  std::string dir_;
  std::uint16_t port_ = 0;
  std::optional<child_process> proc_;
};

} // namespace coronet::test
