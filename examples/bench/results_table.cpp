#include "results_table.hpp"

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace {

enum class metric { messages_per_second, p99, cpu_per_message };

// Throughput should be high, the others low: a target bounds the ratio
// from below for the first and from above for the others.
struct target {
  std::string_view scenario; ///< empty: every scenario
  std::string_view server, versus;
  metric what;
  double bound;
  bool strictly = false; ///< below the bound, not merely at most (lower-is-better metrics)
};

constexpr target targets[] = {
    {"", "coronet-channel-raw", "asio-plain", metric::messages_per_second, 0.95},
    {"", "coronet-channel-raw", "asio-plain", metric::p99, 1.05},
    {"", "coronet-channel-raw", "asio-plain", metric::cpu_per_message, 1.05},
    {"pipelined-64", "coronet-channel-length", "coronet-channel-raw", metric::messages_per_second,
     0.90},
    {"", "coronet-channel-raw", "coronet-concrete-raw", metric::messages_per_second, 0.95},
    // Unix sockets: the same echo loop over unix:// against plain Asio over
    // asio::local::stream_protocol.
    {"pipelined-64", "coronet-channel-unix", "asio-plain-unix", metric::messages_per_second, 0.95},
    // WebSocket against coronet's own raw TCP echo: framing costs little
    // when every frame one read produces goes out in one write; a 64 KiB
    // ping-pong waits for whole messages, so about 0.55 is its ceiling.
    {"pingpong-64", "coronet-channel-ws", "coronet-channel-raw", metric::messages_per_second, 0.95},
    {"pipelined-64", "coronet-channel-ws", "coronet-channel-raw", metric::messages_per_second,
     0.85},
    {"pingpong-64k", "coronet-channel-ws", "coronet-channel-raw", metric::messages_per_second,
     0.50},
    {"pipelined-64k", "coronet-channel-ws", "coronet-channel-raw", metric::messages_per_second,
     0.85},
    {"", "coronet-channel-ws", "coronet-concrete-ws", metric::messages_per_second, 0.95},
    // ... and against the familiar C++ WebSocket server, which it should beat.
    {"", "coronet-channel-ws", "beast-ws", metric::messages_per_second, 1.00},
    // UDP: within 5% of plain Asio in ping-pong; with many peers, batching
    // should put coronet near the C recvmmsg/sendmmsg floor (plain Asio
    // reaches about 0.87 of it) at a lower CPU cost per datagram than Asio.
    {"udp-pingpong-64", "udp-coronet-channel", "udp-asio-plain", metric::messages_per_second, 0.95},
    {"udp-pingpong-64", "udp-coronet-channel", "udp-asio-plain", metric::p99, 1.05},
    {"udp-32peers-64", "udp-coronet-channel", "udp-c-mmsg", metric::messages_per_second, 0.95},
    {"udp-32peers-64", "udp-coronet-channel", "udp-asio-plain", metric::cpu_per_message, 1.00,
     true},
};

double value_of(const measurement& m, metric what) {
  switch (what) {
  case metric::messages_per_second: return m.messages_per_second;
  case metric::p99: return m.p99_us;
  case metric::cpu_per_message: return m.cpu_us_per_message;
  }
  return 0;
}

std::string_view label_of(metric what) {
  switch (what) {
  case metric::messages_per_second: return "msgs/s";
  case metric::p99: return "p99";
  case metric::cpu_per_message: return "CPU/msg";
  }
  return "";
}

const measurement* find(const scenario_results& r, std::string_view server) {
  for (auto& m : r.rows)
    if (m.server == server && m.ran) return &m;
  return nullptr;
}

std::optional<double> ratio(const measurement& m, const measurement* base, metric what) {
  if (!m.ran || !base) return std::nullopt;
  double b = value_of(*base, what);
  if (b <= 0) return std::nullopt;
  return value_of(m, what) / b;
}

void print_ratio(std::optional<double> r, int width) {
  if (r)
    std::printf(" %*.2f", width, *r);
  else
    std::printf(" %*s", width, "-");
}

} // namespace

void print_table(const scenario_results& results, const run_settings& settings) {
  auto& s = *results.what;
  bool udp = s.protocol == transport_protocol::udp;
  auto plural = [](int n) { return n == 1 ? "" : "s"; };
  std::printf("\n%s: %d %s%s x %d in flight, %zu B %s (best of %d run%s, %.2f s measured each)\n",
              std::string(s.name).c_str(), s.connections, udp ? "peer" : "connection",
              plural(s.connections), s.in_flight, s.message_size, udp ? "datagrams" : "messages",
              settings.rounds, plural(settings.rounds), settings.duration.count());
  std::vector<std::string_view> references{s.reference};
  if (!s.second_reference.empty()) references.push_back(s.second_reference);
  std::printf("%-24s %10s %9s %7s %8s %8s %8s %10s", "server", "msgs/s", "MB/s", "loss %", "p50 us",
              "p99 us", "p999 us", "CPU us/msg");
  for (auto ref : references)
    std::printf(" | vs %s: %6s %6s %7s", std::string(ref).c_str(), "msgs/s", "p99", "CPU/msg");
  std::printf(" | busy  srv  gen | wait  srv  gen\n");
  bool any_contended = false, any_generator_bound = false;
  std::string late;
  for (auto& m : results.rows) {
    bool contended = m.ran && m.contended();
    bool generator_bound = m.ran && !contended && m.generator_bound();
    any_contended = any_contended || contended;
    any_generator_bound = any_generator_bound || generator_bound;
    std::printf("%-23s%c", std::string(m.server).c_str(),
                contended         ? '*'
                : generator_bound ? '!'
                                  : ' ');
    if (!m.ran) {
      std::printf(" %10s\n", "failed");
      continue;
    }
    char loss[16] = "-";
    if (udp && m.loss > 0 && m.loss < 0.0001)
      std::snprintf(loss, sizeof loss, "<0.01");
    else if (udp)
      std::snprintf(loss, sizeof loss, "%.2f", 100 * m.loss);
    std::printf(" %10.0f %9.1f %7s %8.1f %8.1f %8.1f %10.2f", m.messages_per_second,
                m.megabytes_per_second, loss, m.p50_us, m.p99_us, m.p999_us, m.cpu_us_per_message);
    for (auto ref : references) {
      auto* base = find(results, ref);
      std::printf(" |%*s", static_cast<int>(ref.size()) + 4, ""); // under "vs <ref>:"
      print_ratio(ratio(m, base, metric::messages_per_second), 6);
      print_ratio(ratio(m, base, metric::p99), 6);
      print_ratio(ratio(m, base, metric::cpu_per_message), 7);
    }
    std::printf(" |     %3.0f%% %3.0f%% |     %3.0f%% %3.0f%%\n", 100 * m.server_busy,
                100 * m.generator_busy, 100 * m.server_wait, 100 * m.generator_wait);
    if (m.late_echoes > 0)
      late +=
          (late.empty() ? "" : ", ") + std::string(m.server) + " " + std::to_string(m.late_echoes);
  }
  if (any_contended)
    std::printf("* a thread waited for a CPU over 5%% of the interval: another process took it; "
                "treat as noise\n");
  if (any_generator_bound)
    std::printf(
        "! the load generator was saturated (busy > 95%%): the server may be faster than shown\n");
  if (!late.empty())
    std::printf("late echoes (of datagrams already counted lost; ignored): %s\n", late.c_str());
}

void print_targets(const std::vector<scenario_results>& all) {
  std::printf("\ntargets (reported, not enforced: a shared machine moves these numbers)\n");
  int shown = 0;
  for (auto& t : targets) {
    for (auto& r : all) {
      if (!t.scenario.empty() && t.scenario != r.what->name) continue;
      auto* server = find(r, t.server);
      auto* versus = find(r, t.versus);
      if (!server || !versus) continue;
      auto got = ratio(*server, versus, t.what);
      if (!got) continue;
      bool higher_is_better = t.what == metric::messages_per_second;
      bool pass = higher_is_better ? *got >= t.bound
                  : t.strictly     ? *got < t.bound
                                   : *got <= t.bound;
      bool noisy = server->contended() || versus->contended();
      bool saturated = server->generator_bound() || versus->generator_bound();
      std::printf("  %-15s %-22s / %-22s %-8s %6.3f %s %.2f  %s%s\n",
                  std::string(r.what->name).c_str(), std::string(t.server).c_str(),
                  std::string(t.versus).c_str(), std::string(label_of(t.what)).c_str(), *got,
                  higher_is_better ? ">="
                  : t.strictly     ? "< "
                                   : "<=",
                  t.bound, pass ? "PASS" : "MISS",
                  noisy       ? "  (contended run)"
                  : saturated ? "  (generator-bound)"
                              : "");
      ++shown;
    }
  }
  if (shown == 0) std::printf("  (none: the servers they compare were not all run)\n");
}
