// idle_connections: what an idle connection costs a coronet server, in
// resident memory.
//
//   idle_connections --echo-server build/examples/echo/echo_server --connections 10000
//
// Starts the echo_server example as a process of its own for each scheme
// (ws://, and tcp:// for comparison), opens the connections from this
// process with plain blocking sockets (for ws://, each completes the
// opening handshake), lets them sit idle, and reads the server's VmRSS from
// /proc before and after: the difference divided by the count is the cost
// of one idle connection (its state, buffers and pending receive; kernel
// socket memory is not in RSS).  Linux only.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

struct child {
  pid_t pid = -1;
  std::uint16_t port = 0;
};

// Starts `server --listen url` and reads the port from its first line.
child start_server(const std::string& server, const std::string& url) {
  int out[2];
  if (::pipe(out) != 0) return {};
  child c;
  c.pid = ::fork();
  if (c.pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::close(out[0]);
    ::close(out[1]);
    ::execl(server.c_str(), server.c_str(), "--listen", url.c_str(), static_cast<char*>(nullptr));
    std::perror("exec");
    ::_exit(127);
  }
  ::close(out[1]);
  std::string line;
  char ch;
  while (line.size() < 512 && ::read(out[0], &ch, 1) == 1 && ch != '\n') line.push_back(ch);
  ::close(out[0]);
  auto colon = line.rfind(':');
  if (colon != std::string::npos)
    c.port = static_cast<std::uint16_t>(std::atoi(line.c_str() + colon + 1));
  return c;
}

long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      long kib = 0;
      status >> kib;
      return kib;
    }
    status.ignore(4096, '\n');
  }
  return -1;
}

int connect_to(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval limit{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// The opening handshake, blocking (bounded by SO_RCVTIMEO).
bool upgrade(int fd) {
  static const char request[] =
      "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  if (::send(fd, request, sizeof request - 1, MSG_NOSIGNAL) != sizeof request - 1) return false;
  std::string reply;
  char buf[512];
  while (reply.find("\r\n\r\n") == std::string::npos) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    reply.append(buf, static_cast<std::size_t>(n));
  }
  return reply.rfind("HTTP/1.1 101 ", 0) == 0;
}

struct figures {
  long before_kib = 0, after_kib = 0;
  int opened = 0;
};

figures measure(const std::string& server, const std::string& url, bool websocket, int count) {
  figures f;
  auto c = start_server(server, url);
  if (c.pid <= 0 || c.port == 0) {
    std::fprintf(stderr, "idle_connections: %s did not start on %s\n", server.c_str(), url.c_str());
    return f;
  }
  std::vector<int> fds;
  // Warm up: the first connections pay for one-time allocations.
  for (int i = 0; i < 10; ++i) {
    int fd = connect_to(c.port);
    if (fd >= 0 && (!websocket || upgrade(fd))) fds.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  f.before_kib = rss_kib(c.pid);
  for (int i = 0; i < count; ++i) {
    int fd = connect_to(c.port);
    if (fd < 0 || (websocket && !upgrade(fd))) {
      if (fd >= 0) ::close(fd);
      std::fprintf(stderr, "idle_connections: connection %d failed: %s\n", i, std::strerror(errno));
      break;
    }
    fds.push_back(fd);
    ++f.opened;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  f.after_kib = rss_kib(c.pid);
  for (int fd : fds) ::close(fd);
  ::kill(c.pid, SIGTERM);
  int status = 0;
  ::waitpid(c.pid, &status, 0);
  return f;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"Resident memory of idle connections on a coronet echo server."};
  std::string server = "build/examples/echo/echo_server";
  int count = 10000;
  app.add_option("--echo-server", server, "path of the echo_server example");
  app.add_option("--connections", count, "idle connections to open")->check(CLI::Range(1, 100000));
  CLI11_PARSE(app, argc, argv);

  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max; // the server inherits it
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
  std::printf("%-34s %11s %11s %9s %14s\n", "server", "connections", "RSS before", "after",
              "per connection");
  int failures = 0;
  for (auto [url, websocket] : {std::pair<const char*, bool>{"ws://127.0.0.1:0/echo", true},
                                {"tcp://127.0.0.1:0?framing=raw", false}}) {
    auto f = measure(server, url, websocket, count);
    if (f.opened < count) ++failures;
    double per = f.opened ? 1024.0 * static_cast<double>(f.after_kib - f.before_kib) / f.opened : 0;
    std::printf("%-34s %11d %8ld KiB %5ld KiB %8.1f KiB\n", url, f.opened, f.before_kib,
                f.after_kib, per / 1024.0);
  }
  return failures ? 1 : 0;
}
