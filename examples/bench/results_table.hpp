// results_table: what the bench measured and how it prints it.
//
// One table per scenario (a row per server, with ratios against the
// scenario's reference servers), then the targets coronet is held to, each marked PASS
// or MISS.  Targets are reported, never enforced: the bench runs on shared
// machines where a busy neighbour moves any of these numbers by 10%.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

/// What a scenario's traffic runs over; only the servers for it run in it.
/// `tcp` is a byte stream: servers on a Unix stream socket run there too.
enum class transport_protocol { tcp, udp };

struct scenario {
  std::string_view name;
  transport_protocol protocol;
  int connections; ///< UDP: peers, one socket each
  int in_flight;   ///< per connection
  std::size_t message_size;
  /// Every row is divided by this server's row...
  std::string_view reference;
  /// ...and, when not empty, by this one's too.
  std::string_view second_reference = {};
};

/// One server's best run in one scenario.
struct measurement {
  std::string_view server;
  bool ran = false; ///< false if no run of this server completed
  double messages_per_second = 0;
  double megabytes_per_second = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0;
  double cpu_us_per_message = 0; ///< server thread CPU time / messages, measured interval only
  /// Shares of the measured interval the server and generator threads spent
  /// on a CPU (busy) and runnable without one (wait).  A generator near 100%
  /// busy means the row measures the generator; a wait above a few percent
  /// means another process took the CPU.
  double server_busy = 0, generator_busy = 0;
  double server_wait = 0, generator_wait = 0;
  /// UDP only: the share of the datagrams sent in the measured interval
  /// that were never echoed, and echoes that came after their datagram had
  /// been counted lost.
  double loss = 0;
  std::uint64_t late_echoes = 0;

  /// True when either thread waited for a CPU long enough to distort the row.
  bool contended() const { return server_wait > 0.05 || generator_wait > 0.05; }
  /// True when the generator had no CPU to spare: the server may be faster than shown.
  bool generator_bound() const { return generator_busy > 0.95; }
};

struct scenario_results {
  const scenario* what;
  std::vector<measurement> rows; ///< in registry order
};

struct run_settings {
  std::chrono::duration<double> duration, warmup;
  int rounds;
};

void print_table(const scenario_results& results, const run_settings& settings);

/// Prints every target whose servers and scenario were run.
void print_targets(const std::vector<scenario_results>& all);
