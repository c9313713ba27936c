// The two hosts linkem joins: a client network namespace and a server one,
// each with a TUN device whose packets only linkem carries across.
//
//   client ns: linkem0 10.64.0.1/24 ──TUN fd──▶ linkem ──TUN fd──▶ server ns: linkem0 10.64.0.2/24
//
// Nothing here has a name in the filesystem: the namespaces are anonymous
// (held by linkem's file descriptors and by the processes inside them) and
// the TUN devices are not persistent, so when linkem dies, however it dies,
// the kernel takes both down.  The commands run in a PID namespace of their
// own whose first process dies with linkem, so nothing they started lives on.
#pragma once

#include <coronet/result.hpp>

#include <string>
#include <sys/types.h>
#include <vector>

namespace linkem {

inline constexpr const char* client_ip = "10.64.0.1";
inline constexpr const char* server_ip = "10.64.0.2";

/// What the machine lacks to run linkem, one line each; empty when it can.
std::vector<std::string> missing_requirements();

/// One side: its namespace and its TUN device (both file descriptors).
struct host {
  int netns = -1;
  int tun = -1;
};

/// Creates a namespace with its loopback up and a TUN device "linkem0"
/// holding `ip`/24, and returns to the caller's namespace.  Call before any
/// thread is started (namespaces are per thread).
coronet::result<host> make_host(const char* ip);

/// Runs argv (through `sh -c` when it is one string with `shell`) inside
/// `h`'s namespace, in a PID namespace of its own whose processes are all
/// killed when the command exits or linkem dies.  Returns the pid of the
/// process that relays signals and reports the command's exit status.
/// stdin_null: the command reads /dev/null instead of linkem's input.
coronet::result<pid_t> spawn(const host& h, const std::vector<std::string>& argv, bool stdin_null);

/// Whether `pid`, once inside `h`'s namespace, finds there a listening TCP
/// socket or a bound UDP socket (IPv4 or IPv6): the server is ready for
/// its client.
bool has_open_socket(const host& h, pid_t pid);

} // namespace linkem
