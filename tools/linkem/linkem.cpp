// linkem: a bad network between two programs on one machine.
//
//   linkem run --delay 25ms --loss 2% --server 'echo_server --listen tcp://0.0.0.0:7000'
//       -- sh -c 'echo_client --connect tcp://$LINKEM_SERVER_IP:7000'
//
// The server runs in one network namespace, the client in another; the only
// way between them is a pair of TUN devices whose packets linkem carries,
// applying per direction what the flags say (the same impairment model as
// coronet's in-process ?impair=, here on real IP packets, so TCP really
// retransmits).  linkem exits with the client's status.  `linkem check`
// says whether this machine can run it.
#include "forwarder.hpp"
#include "testbed.hpp"

#include <coronet/impair.hpp>

#include <CLI/CLI.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using steady = std::chrono::steady_clock;

constexpr int cannot_run = 125; // (as env(1): linkem itself failed)

// One flag's three spellings: --X for both directions, --uplink-X
// (client→server) and --downlink-X (server→client) for one.
struct flag {
  const char* name;
  const char* key; // in parse_impairment()'s text form
  const char* help;
  std::string both, up, down;
};

// Applies a flag's value through parse_impairment(), so linkem and ?impair=
// read "25ms", "2%" and "10mbit" the same way.
bool apply(const flag& f, const std::string& value, coronet::impairment& into) {
  if (value.empty()) return true;
  if (std::string_view(f.key) == "trace") {
    auto trace = coronet::load_delivery_trace(value);
    if (!trace) {
      std::fprintf(stderr, "linkem: --%s %s: %s\n", f.name, value.c_str(),
                   trace.error() == coronet::errc::invalid_argument
                       ? "not a delivery trace (one ascending millisecond timestamp per line)"
                       : trace.error().message().c_str());
      return false;
    }
    into.trace = *trace;
    return true;
  }
  auto text = std::string(f.key) + ":" + value;
  if (std::string_view(f.key) == "queue" &&
      value.find_first_not_of("0123456789") == std::string::npos)
    text += "p"; // (a bare number counts packets)
  if (std::string_view(f.key) == "burst" && !value.starts_with("gilbert("))
    text = "burst:gilbert(" + value + ")";
  auto spec = coronet::parse_impairment(text);
  if (!spec) {
    std::fprintf(stderr, "linkem: --%s %s: %s\n", f.name, value.c_str(), f.help);
    return false;
  }
  auto& one = spec->send;
  if (one.loss > 0) into.loss = one.loss;
  if (one.burst_p > 0)
    into.burst_p = one.burst_p, into.burst_r = one.burst_r, into.burst_loss = one.burst_loss;
  if (one.delay.count()) into.delay = one.delay;
  if (one.jitter.count()) into.jitter = one.jitter;
  if (one.reorder > 0) into.reorder = one.reorder;
  if (one.reorder_delay.count()) into.reorder_delay = one.reorder_delay;
  if (one.duplicate > 0) into.duplicate = one.duplicate;
  if (one.rate_bits_per_second) into.rate_bits_per_second = one.rate_bits_per_second;
  if (one.queue_packets) into.queue_packets = one.queue_packets, into.queue_bytes = 0;
  if (one.queue_bytes) into.queue_bytes = one.queue_bytes, into.queue_packets = 0;
  return true;
}

std::string describe(const coronet::impairment& i) {
  auto text = coronet::to_string({i, i});
  if (i.trace) text += (text.empty() ? "" : ",") + std::string("trace");
  return text.empty() ? "clean" : text;
}

void print_summary(const char* name, const linkem::direction_stats& s) {
  auto percent = [&](std::uint64_t n) { return s.packets ? 100.0 * n / s.packets : 0.0; };
  std::fprintf(stderr,
               "linkem: %s: %llu packets (%llu bytes), lost %llu (%.2f%%), in bursts %llu, "
               "queue-dropped %llu, duplicated %llu, reordered %llu\n",
               name, (unsigned long long)s.packets, (unsigned long long)s.bytes,
               (unsigned long long)s.model.lost, percent(s.model.lost),
               (unsigned long long)s.model.burst_lost, (unsigned long long)s.model.queue_dropped,
               (unsigned long long)s.model.duplicated, (unsigned long long)s.model.reordered);
}

int check() {
  auto missing = linkem::missing_requirements();
  if (missing.empty()) {
    std::printf("linkem can run here (TUN devices, network and PID namespaces)\n");
    return 0;
  }
  for (auto& m : missing) std::printf("linkem cannot run here: %s\n", m.c_str());
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"linkem: an emulated network link (delay, jitter, loss, reordering, duplication, "
               "a rate limit with a queue, delivery traces) between a server and a client on one "
               "machine, on TUN devices between two network namespaces.  Needs root."};
  app.require_subcommand(1);
  auto* check_cmd = app.add_subcommand("check", "say whether this machine can run linkem");
  auto* run = app.add_subcommand(
      "run", "run SERVER CMD in the server namespace and CLIENT CMD in the client namespace, "
             "joined by the emulated link; exit with the client's status (125 when linkem "
             "itself fails).  Both see LINKEM_SERVER_IP (" +
                 std::string(linkem::server_ip) + ") and LINKEM_CLIENT_IP (" + linkem::client_ip +
                 ").  Each flag applies to both directions; --uplink-FLAG "
                 "(client to server) or --downlink-FLAG to one.");
  std::vector<flag> flags = {
      {"delay", "delay", "a duration: 25ms, 500us, 1s (one way)", {}, {}, {}},
      {"jitter", "jitter", "a duration: plus uniform 0..jitter, order kept", {}, {}, {}},
      {"loss", "loss", "a probability: 2% or 0.02 (Bernoulli)", {}, {}, {}},
      {"burst", "burst", "gilbert(p,r) or p,r: Gilbert-Elliott bursts of loss", {}, {}, {}},
      {"reorder", "reorder", "a probability: that packet held back and overtaken", {}, {}, {}},
      {"reorder-delay",
       "reorder-delay",
       "a duration: how long a reordered packet is held",
       {},
       {},
       {}},
      {"dup", "dup", "a probability: a second copy", {}, {}, {}},
      {"rate", "rate", "bits per second: 10mbit, 512kbit, 1gbit", {}, {}, {}},
      {"queue",
       "queue",
       "packets waiting for the rate-limited link (or 64kb): tail drop",
       {},
       {},
       {}},
      {"trace", "trace", "a mahimahi delivery trace file (instead of --rate)", {}, {}, {}},
  };
  for (auto& f : flags) {
    run->add_option(std::string("--") + f.name, f.both, f.help);
    run->add_option(std::string("--uplink-") + f.name, f.up, "client to server only");
    run->add_option(std::string("--downlink-") + f.name, f.down, "server to client only");
  }
  std::uint64_t seed = 1;
  run->add_option("--seed", seed, "the impairment's seed (uplink; downlink uses seed + 1)")
      ->capture_default_str();
  std::string server_cmd;
  run->add_option("--server", server_cmd,
                  "the server's command line, run by sh -c in the server namespace");
  double ready_timeout = 10;
  run->add_option("--ready-timeout", ready_timeout,
                  "seconds to wait for the server to open a listening TCP or a UDP socket "
                  "before starting the client")
      ->capture_default_str();
  std::string stats_file;
  run->add_option("--stats", stats_file, "write what the link did, as JSON, to this file");
  bool quiet = false;
  run->add_flag("--quiet", quiet, "no summary on standard error");
  std::vector<std::string> client;
  run->add_option("client", client, "the client's command and arguments (after --)")->required();

  CLI11_PARSE(app, argc, argv);
  if (*check_cmd) return check();

  linkem::forwarder_options o;
  o.seed = seed;
  o.uplink.queue_packets = o.downlink.queue_packets = 1000; // (--queue's default)
  for (auto& f : flags)
    if (!apply(f, f.both, o.uplink) || !apply(f, f.both, o.downlink) || !apply(f, f.up, o.uplink) ||
        !apply(f, f.down, o.downlink))
      return cannot_run;

  auto missing = linkem::missing_requirements();
  if (!missing.empty()) {
    for (auto& m : missing) std::fprintf(stderr, "linkem: cannot run here: %s\n", m.c_str());
    return cannot_run;
  }
  auto client_host = linkem::make_host(linkem::client_ip);
  auto server_host = client_host ? linkem::make_host(linkem::server_ip) : client_host;
  if (!client_host || !server_host) {
    auto e = client_host ? server_host.error() : client_host.error();
    std::fprintf(stderr, "linkem: cannot set up the link: %s\n", e.message().c_str());
    return cannot_run;
  }

  // Signals arrive as events in the packet loop.
  sigset_t events;
  sigemptyset(&events);
  for (int sig : {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&events, sig);
  ::sigprocmask(SIG_BLOCK, &events, nullptr);
  int signals = ::signalfd(-1, &events, SFD_NONBLOCK | SFD_CLOEXEC);
  ::setenv("LINKEM_SERVER_IP", linkem::server_ip, 1);
  ::setenv("LINKEM_CLIENT_IP", linkem::client_ip, 1);
  if (!quiet)
    std::fprintf(stderr, "linkem: uplink %s; downlink %s; seed %llu\n", describe(o.uplink).c_str(),
                 describe(o.downlink).c_str(), (unsigned long long)seed);

  linkem::forwarder link(client_host->tun, server_host->tun, o);
  pid_t server = 0, client_pid = 0;
  int client_status = -1, server_status = -1, stop_signal = 0;
  auto started = steady::now();
  if (!server_cmd.empty()) {
    auto s = linkem::spawn(*server_host, {"/bin/sh", "-c", server_cmd}, /*stdin_null*/ true);
    if (!s) {
      std::fprintf(stderr, "linkem: cannot start the server: %s\n", s.error().message().c_str());
      return cannot_run;
    }
    server = *s;
  }
  bool ready = server == 0; // (no server: nothing to wait for)
  auto ready_by = steady::now() + std::chrono::duration_cast<steady::duration>(
                                      std::chrono::duration<double>(ready_timeout));

  // Reaps what has ended; false once the client has (the loop's end).
  auto on_event = [&]() {
    signalfd_siginfo info;
    while (::read(signals, &info, sizeof info) == sizeof info)
      if (info.ssi_signo != SIGCHLD) {
        stop_signal = static_cast<int>(info.ssi_signo);
        for (pid_t p : {client_pid, server})
          if (p > 0) ::kill(p, stop_signal);
      }
    int status = 0;
    pid_t done;
    while ((done = ::waitpid(-1, &status, WNOHANG)) > 0) {
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (done == server) {
        server_status = code, server = 0;
        if (!quiet && !stop_signal && client_pid > 0)
          std::fprintf(stderr, "linkem: the server exited with status %d\n", code);
      } else if (done == client_pid) {
        client_status = code, client_pid = 0;
      }
    }
    return client_status < 0 && !(stop_signal && client_pid == 0 && server == 0);
  };

  // Until the server has a socket open the link still runs (it may talk to
  // nothing yet), checked every 10 ms.
  while (!ready) {
    on_event();
    if (server > 0 && !stop_signal && linkem::has_open_socket(*server_host, server)) break;
    if (server == 0 || stop_signal) {
      std::fprintf(stderr, "linkem: the server exited (status %d) before opening a socket\n",
                   server_status);
      return stop_signal ? 128 + stop_signal : cannot_run;
    }
    if (steady::now() > ready_by) {
      std::fprintf(stderr,
                   "linkem: the server opened no listening TCP or UDP socket in %g s; starting "
                   "the client anyway\n",
                   ready_timeout);
      break;
    }
    ::usleep(10'000);
  }

  auto c = linkem::spawn(*client_host, client, /*stdin_null*/ false);
  if (!c) {
    std::fprintf(stderr, "linkem: cannot start the client: %s\n", c.error().message().c_str());
    if (server) ::kill(server, SIGTERM);
    return cannot_run;
  }
  client_pid = *c;
  link.run(signals, on_event);

  // The client is done (or linkem was told to stop): the server gets
  // SIGTERM, then SIGKILL after 2 s; the link carries its last packets
  // meanwhile.
  if (server > 0) {
    ::kill(server, SIGTERM);
    auto deadline = steady::now() + std::chrono::seconds(2);
    while (server > 0 && steady::now() < deadline) {
      on_event();
      if (server > 0) ::usleep(10'000);
    }
    if (server > 0) {
      ::kill(server, SIGKILL);
      ::waitpid(server, nullptr, 0);
    }
  }
  if (client_pid > 0) {
    ::kill(client_pid, SIGKILL);
    ::waitpid(client_pid, nullptr, 0);
  }

  auto up = link.uplink(), down = link.downlink();
  if (!quiet) {
    print_summary("uplink (client to server)", up);
    print_summary("downlink (server to client)", down);
  }
  if (!stats_file.empty()) {
    if (std::FILE* f = std::fopen(stats_file.c_str(), "w")) {
      std::fprintf(
          f,
          "{\"uplink\": %s,\n \"downlink\": %s,\n \"settings\": {\"uplink\": \"%s\", "
          "\"downlink\": \"%s\"},\n \"seed\": %llu, \"client_status\": %d, \"seconds\": %.3f}\n",
          to_json(up).c_str(), to_json(down).c_str(), describe(o.uplink).c_str(),
          describe(o.downlink).c_str(), (unsigned long long)seed, client_status,
          std::chrono::duration<double>(steady::now() - started).count());
      std::fclose(f);
    } else {
      std::fprintf(stderr, "linkem: cannot write %s: %s\n", stats_file.c_str(),
                   std::strerror(errno));
    }
  }
  if (client_status < 0) return stop_signal ? 128 + stop_signal : cannot_run;
  return client_status;
}
