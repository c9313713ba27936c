#include "testbed.hpp"

#include <coronet/error.hpp>

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sched.h>
#include <sstream>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace linkem {

namespace {

std::error_code last_error() { return {errno, std::system_category()}; }

// Closes the descriptor when it goes out of scope unless released.
struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};

bool write_file(const char* path, const char* text) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, text, std::strlen(text)) == static_cast<ssize_t>(std::strlen(text));
  ::close(fd);
  return ok;
}

bool set_up(int sock, const char* name) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (::ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) return false;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  return ::ioctl(sock, SIOCSIFFLAGS, &ifr) == 0;
}

bool set_address(int sock, const char* name, unsigned long request, const char* dotted) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  if (::inet_pton(AF_INET, dotted, &a.sin_addr) != 1) return false;
  std::memcpy(&ifr.ifr_addr, &a, sizeof a);
  return ::ioctl(sock, request, &ifr) == 0;
}

// In the calling thread's (new) namespace: loopback up, then the TUN
// device with its address.
coronet::result<int> configure(const char* ip) {
  fd_guard sock{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  if (sock.fd < 0 || !set_up(sock.fd, "lo")) return coronet::fail(last_error());
  // No IPv6 on the link: the kernel would otherwise send router
  // solicitations across it, and the link carries only the commands' traffic.
  write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
  fd_guard tun{::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)};
  if (tun.fd < 0) return coronet::fail(last_error());
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "linkem0", IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI; // bare IP packets, one per read
  if (::ioctl(tun.fd, TUNSETIFF, &ifr) < 0) return coronet::fail(last_error());
  // The kernel's queue towards linkem: deep enough that a burst at loopback
  // speed waits for linkem instead of being dropped before the link sees it
  // (the link's own queue, --queue, is where drops belong).
  ifreq qlen{};
  std::strncpy(qlen.ifr_name, "linkem0", IFNAMSIZ - 1);
  qlen.ifr_qlen = 4096;
  ::ioctl(sock.fd, SIOCSIFTXQLEN, &qlen);
  if (!set_address(sock.fd, "linkem0", SIOCSIFADDR, ip) ||
      !set_address(sock.fd, "linkem0", SIOCSIFNETMASK, "255.255.255.0") ||
      !set_up(sock.fd, "linkem0"))
    return coronet::fail(last_error());
  return tun.release();
}

// Signals a relay passes on to the process it waits for.
volatile pid_t relay_to = 0;
void relay_signal(int sig) {
  if (relay_to > 0) ::kill(relay_to, sig);
}

void relay_signals_to(pid_t pid) {
  relay_to = pid;
  struct sigaction sa {};
  sa.sa_handler = relay_signal;
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) ::sigaction(sig, &sa, nullptr);
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
}

// Waits for `child` (reaping any other process that ends meanwhile: as the
// first process of a PID namespace it inherits orphans) and returns its
// status the way a shell reports it.
int wait_for(pid_t child) {
  for (;;) {
    int status = 0;
    pid_t done = ::waitpid(-1, &status, 0);
    if (done < 0) {
      if (errno == EINTR) continue;
      return 127;
    }
    if (done != child) continue;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
}

[[noreturn]] void run_command(const std::vector<std::string>& argv) {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) ::signal(sig, SIG_DFL);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  std::fprintf(stderr, "linkem: cannot run %s: %s\n", args[0], std::strerror(errno));
  ::_exit(127);
}

} // namespace

std::vector<std::string> missing_requirements() {
  std::vector<std::string> missing;
  if (::access("/dev/net/tun", R_OK | W_OK) != 0)
    missing.push_back(std::string("/dev/net/tun: ") + std::strerror(errno) +
                      " (TUN devices: the tun module, and root)");
  // Namespaces: try one, in a child so this process stays where it is.
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(::unshare(CLONE_NEWNET | CLONE_NEWPID) == 0 ? 0 : errno);
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
    missing.push_back("cannot start a process to try a network namespace");
  else if (WEXITSTATUS(status) != 0)
    missing.push_back(std::string("network and PID namespaces: unshare() failed: ") +
                      std::strerror(WEXITSTATUS(status)) +
                      " (needs root: CAP_SYS_ADMIN and CAP_NET_ADMIN)");
  return missing;
}

coronet::result<host> make_host(const char* ip) {
  fd_guard home{::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)};
  if (home.fd < 0) return coronet::fail(last_error());
  if (::unshare(CLONE_NEWNET) < 0) return coronet::fail(last_error());
  fd_guard netns{::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)};
  auto tun = netns.fd < 0 ? coronet::fail(last_error()) : configure(ip);
  if (::setns(home.fd, CLONE_NEWNET) < 0) {
    std::perror("linkem: cannot return to the original network namespace");
    std::abort(); // (nothing sensible can go on in the wrong namespace)
  }
  if (!tun) return coronet::fail(tun.error());
  return host{netns.release(), *tun};
}

coronet::result<pid_t> spawn(const host& h, const std::vector<std::string>& argv, bool stdin_null) {
  pid_t parent = ::getpid();
  pid_t relay = ::fork();
  if (relay < 0) return coronet::fail(last_error());
  if (relay > 0) return relay;

  // The relay: dies with linkem; takes the namespace; starts the PID
  // namespace's first process and reports its status.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(125); // linkem is already gone
  if (::setns(h.netns, CLONE_NEWNET) < 0) {
    std::perror("linkem: setns");
    ::_exit(125);
  }
  if (stdin_null) {
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0), ::close(null);
  }
  bool own_pids = ::unshare(CLONE_NEWPID) == 0;
  if (!own_pids) run_command(argv); // (without one: the command's children may outlive it)
  pid_t init = ::fork();
  if (init < 0) ::_exit(125);
  if (init == 0) {
    // PID 1 of the new namespace: when it exits, the kernel kills every
    // process left in it.  It dies with the relay.
    // (Its parent is outside its PID namespace: getppid() says 0, so there
    // is no check that the relay is still there; the window is one fork.)
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    pid_t command = ::fork();
    if (command < 0) ::_exit(125);
    if (command == 0) run_command(argv);
    relay_signals_to(command);
    ::_exit(wait_for(command));
  }
  relay_signals_to(init);
  ::_exit(wait_for(init));
}

bool has_open_socket(const host& h, pid_t pid) {
  // Until the process has entered the namespace, its /proc/PID/net is the
  // machine's own, with its own sockets.
  struct stat ns {
  }, theirs{};
  auto path = "/proc/" + std::to_string(pid) + "/ns/net";
  if (::fstat(h.netns, &ns) < 0 || ::stat(path.c_str(), &theirs) < 0 ||
      ns.st_ino != theirs.st_ino || ns.st_dev != theirs.st_dev)
    return false;
  auto any = [&](const char* table, bool listening_only) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/net/" + table);
    std::string line;
    std::getline(in, line); // (the header)
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state;
      fields >> slot >> local >> remote >> state;
      if (!listening_only || state == "0A") return true; // TCP_LISTEN
    }
    return false;
  };
  return any("tcp", true) || any("tcp6", true) || any("udp", false) || any("udp6", false);
}

} // namespace linkem
