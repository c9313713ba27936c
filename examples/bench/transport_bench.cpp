// transport_bench: coronet's TCP, Unix-socket and UDP endpoints side by side
// with plain Asio and raw C servers, under the same load generator, on
// loopback.
//
//   transport_bench --quick                  # ~0.4 s per row, for CI
//   transport_bench --scenario pipelined-64 --server asio-plain --server coronet-channel-raw
//   transport_bench --scenario udp-32peers-64
//   transport_bench --scenario pipelined-64 --server asio-plain-unix --server coronet-channel-unix
//
//   transport_bench --compare --quick        # every transport under a grid of conditions
//                                            # (compare.hpp; README.md, "--compare")
//
// Exit status: 0 unless an echo was wrong or a server failed (to start, in
// a task, or to stop).  Missed performance targets and lost datagrams do
// not fail the run.
// See README.md for how to read the output.
#include "bench_certificates.hpp"
#include "compare.hpp"
#include "compare_server.hpp"
#include "echo_server.hpp"
#include "load_generator.hpp"
#include "results_table.hpp"
#include "server_registry.hpp"
#include "server_thread.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;

using enum transport_protocol;

constexpr scenario scenarios[] = {
    {"pingpong-64", tcp, 1, 1, 64, "asio-plain"},
    {"pipelined-64", tcp, 100, 16, 64, "asio-plain"},
    {"pingpong-64k", tcp, 1, 1, 65536, "asio-plain"},
    {"pipelined-64k", tcp, 1, 8, 65536, "asio-plain"},
    {"udp-pingpong-64", udp, 1, 1, 64, "udp-asio-plain"},
    {"udp-32peers-64", udp, 32, 1, 64, "udp-asio-plain", "udp-c-mmsg"},
};

constexpr auto stop_grace = 2000ms;

struct placement {
  int generator_cpu = -1, server_cpu = -1;
};

// The row of a run that completed with every echo verified.
measurement summarize(std::string_view server, const load_report& report,
                      const thread_usage& server_used, const thread_usage& generator_used) {
  auto us = [&](double q) { return static_cast<double>(report.latency.percentile(q)) / 1e3; };
  auto share = [&](std::chrono::nanoseconds part) {
    return static_cast<double>(part.count()) / static_cast<double>(report.measured.count());
  };
  measurement m{.server = server, .ran = true};
  m.messages_per_second = report.messages_per_second();
  m.megabytes_per_second = report.megabytes_per_second();
  m.p50_us = us(0.50);
  m.p99_us = us(0.99);
  m.p999_us = us(0.999);
  m.cpu_us_per_message = std::chrono::duration<double, std::micro>(server_used.on_cpu).count() /
                         static_cast<double>(report.messages);
  m.server_busy = share(server_used.on_cpu);
  m.generator_busy = share(generator_used.on_cpu);
  m.server_wait = share(server_used.waiting);
  m.generator_wait = share(generator_used.waiting);
  m.loss = report.loss();
  m.late_echoes = report.late_echoes;
  return m;
}

// Runs one server through one scenario: start it, load it, stop it.
// Problems (start failure, echo errors, failed tasks) go to `problems`.
measurement run_once(const scenario& s, const server_kind& kind, const run_settings& settings,
                     const placement& cpus, std::vector<std::string>& problems) {
  measurement m{.server = kind.name};
  std::string name(kind.name);
  auto started = kind.start(cpus.server_cpu);
  if (!started) {
    problems.push_back(name + ": failed to start: " + started.error().message());
    return m;
  }
  auto& server = **started;
  // The hooks run on the generator's thread, so current_thread_usage() is the generator's.
  thread_usage server_begin, server_end, generator_begin, generator_end;
  load_config config{
      .port = server.port(),
      .unix_path = server.unix_path(),
      .connections = s.connections,
      .in_flight = s.in_flight,
      .message_size = s.message_size,
      .framing = kind.framing,
      .warmup = std::chrono::duration_cast<std::chrono::nanoseconds>(settings.warmup),
      .duration = std::chrono::duration_cast<std::chrono::nanoseconds>(settings.duration),
      .on_measure_begin =
          [&] {
            server_begin = server.usage();
            generator_begin = current_thread_usage();
          },
      .on_measure_end =
          [&] {
            generator_end = current_thread_usage();
            server_end = server.usage();
          }};
  auto report = load_generator(std::move(config)).run();
  if (auto trouble = server.stop(stop_grace); !trouble.empty())
    problems.push_back(name + ": " + trouble);
  if (report.errors > 0) {
    problems.push_back(name + " in " + std::string(s.name) + ": " + std::to_string(report.errors) +
                       " echo error(s); first: " + report.first_error);
    return m;
  }
  if (report.messages == 0) {
    problems.push_back(name + " in " + std::string(s.name) +
                       ": no echo completed in the measured interval");
    return m;
  }
  return summarize(kind.name, report, server_end - server_begin, generator_end - generator_begin);
}

// Whether run `m` should replace `best` as a server's row: a run no other
// process disturbed beats one that was, then the higher msgs/s wins.
bool better(const measurement& m, const measurement& best) {
  if (!m.ran) return false;
  if (!best.ran || best.contended() != m.contended()) return !m.contended() || !best.ran;
  return m.messages_per_second > best.messages_per_second;
}

// Runs every selected server that speaks the scenario's protocol `rounds`
// times, alternating the order (forward, reversed, forward, ...) so that a
// slow spell of a shared machine does not always hit the same server, and
// keeps each server's best run (see better(); its latency and CPU figures
// come from that same run).  A failure in any run is a problem, whichever
// run is kept.
scenario_results run_scenario(const scenario& s, const std::vector<const server_kind*>& chosen,
                              const run_settings& settings, const placement& cpus,
                              std::vector<std::string>& problems) {
  std::vector<const server_kind*> servers;
  for (auto* k : chosen)
    if (protocol_of(*k) == s.protocol) servers.push_back(k);
  scenario_results results{.what = &s, .rows = {}};
  for (auto* k : servers) results.rows.push_back({.server = k->name});
  for (int round = 0; round < settings.rounds; ++round) {
    for (std::size_t i = 0; i < servers.size(); ++i) {
      auto at = round % 2 == 0 ? i : servers.size() - 1 - i;
      auto m = run_once(s, *servers[at], settings, cpus, problems);
      if (better(m, results.rows[at])) results.rows[at] = m;
    }
  }
  return results;
}

template <class Named>
std::vector<std::string> names_of(const Named& table) {
  std::vector<std::string> names;
  for (auto& x : table) names.emplace_back(x.name);
  return names;
}

bool selected(const std::vector<std::string>& chosen, std::string_view name) {
  return chosen.empty() || std::find(chosen.begin(), chosen.end(), name) != chosen.end();
}

std::string command_line_of(int argc, char** argv) {
  std::string line;
  for (int i = 0; i < argc; ++i) (line += i ? " " : "") += argv[i];
  return line;
}

std::string this_program(const char* argv0) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(argv0) : self.string();
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"Echo benchmark: coronet's transports side by side with plain Asio and raw C "
               "servers, on loopback."};
  bool quick = false;
  double duration = 3.0, warmup = 0.5;
  int rounds = 2;
  std::vector<std::string> scenario_names, server_names;
  app.add_flag("--quick", quick,
               "Short runs (~0.4 s per row, warm-up included), for CI and the README");
  app.add_option("--duration", duration, "Measured seconds per run")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "Seconds of traffic before each measured interval")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--rounds", rounds,
                 "Runs per server and scenario, in alternating order; the best is kept")
      ->check(CLI::Range(1, 10));
  app.add_option("--scenario", scenario_names, "Run only this scenario (repeatable; default: all)")
      ->check(CLI::IsMember(names_of(scenarios)));
  app.add_option("--server", server_names, "Run only this server (repeatable; default: all)")
      ->check(CLI::IsMember(names_of(server_kinds())));

  // --compare: one workload over every transport under a grid of conditions.
  bool compare = false;
  compare_settings cmp;
  auto* grid = app.add_option_group("compare", "transport_bench --compare (see README.md)");
  grid->add_flag("--compare", compare,
                 "Compare the transports under a grid of network conditions (with --quick: "
                 "a small grid, under 2 minutes)");
  grid->add_option("--transports", cmp.grid.transports, "tcp,tls,udp,ws,wss,unix (default: all)")
      ->delimiter(',');
  grid->add_option("--workloads", cmp.grid.workloads, "rr,stream,bulk (default: all)")
      ->delimiter(',');
  grid->add_option("--conditions", cmp.grid.conditions,
                   "clean,delay-20ms,delay-50ms,delay-25ms,loss-2%-delay-25ms,loss-0.5%,loss-1%,"
                   "loss-2%,loss-5%,burst-2%,rate-2mbit-deep, or NAME=SPEC (docs/impair.md)")
      ->delimiter(',');
  grid->add_option("--seed", cmp.seed, "Seed of the impairment (the same for every transport)")
      ->capture_default_str();
  grid->add_option("--out", cmp.out, "Directory for compare.csv, compare.json, latency_cdf.csv")
      ->capture_default_str();
  grid->add_option("--rr-hz", cmp.rr_hz,
                   "rr: requests a second per client (sparse: a loss has no later message "
                   "to reveal it, as for an interactive client)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  grid->add_flag(
      "--no-plots", [&](std::int64_t) { cmp.plots = false; },
      "Do not draw the plots (compare_plot.py) after the run");
  grid->add_option("--via", cmp.via,
                   "impair (in-process), linkem (packet level), auto (linkem when `linkem "
                   "check` passes)")
      ->check(CLI::IsMember({"impair", "linkem", "auto"}))
      ->capture_default_str();
  // The two halves of a cell as processes of their own (what --via linkem runs).
  std::string serve_url, certs_dir;
  bool client_mode = false;
  compare_client_settings client;
  auto* split = app.add_option_group("compare processes", "one cell as two processes");
  split->add_option("--compare-serve", serve_url,
                    "Serve every workload on URL until SIGTERM (prints \"listening on PORT\")");
  split->add_flag("--compare-client", client_mode,
                  "Run one cell's client against --url; print its result as one JSON line");
  split->add_option("--url", client.url, "--compare-client: the server's URL");
  split->add_option("--transport", client.transport, "--compare-client: the row's transport");
  split->add_option("--condition", client.condition, "--compare-client: the row's condition");
  split->add_option("--workload", client.workload, "--compare-client: rr, stream or bulk")
      ->check(CLI::IsMember({"rr", "stream", "bulk"}));
  split->add_option("--impair", client.impair,
                    "--compare-client: impair the link in this process (docs/impair.md)");
  split->add_option("--grace-ms", client.grace_ms,
                    "--compare-client: wait this long at the end for what is on its way");
  split->add_option("--certs", certs_dir, "bench certificates made by the parent (tls, wss)");
  CLI11_PARSE(app, argc, argv);
  if (!serve_url.empty()) {
    coronet::options o;
    if (!certs_dir.empty()) o = bench_certificates::in(certs_dir).server_options();
    return run_compare_serve(serve_url, o);
  }
  if (client_mode) {
    client.certs = certs_dir;
    client.seed = cmp.seed;
    client.quick = quick;
    client.rr_hz = cmp.rr_hz;
    client.via = cmp.via == "linkem" ? "linkem" : "impair"; // (the row's label)
    if (client.transport.empty()) client.transport = client.url.substr(0, client.url.find(':'));
    if (client.workload.empty()) client.workload = "rr";
    return run_compare_client(client);
  }
  if (compare) {
    cmp.grid.quick = quick;
    cmp.self = this_program(argv[0]);
    cmp.command_line = command_line_of(argc, argv);
    return run_compare(cmp);
  }
  if (quick) {
    if (app.count("--duration") == 0) duration = 0.15;
    if (app.count("--warmup") == 0) warmup = 0.05;
  }
  run_settings settings{.duration = std::chrono::duration<double>(duration),
                        .warmup = std::chrono::duration<double>(warmup),
                        .rounds = rounds};

  // Read the usable CPUs before pinning ourselves narrows the answer.
  placement cpus;
  auto usable = usable_cpus();
  if (usable.size() >= 2 && pin_current_thread(usable[0])) {
    cpus.generator_cpu = usable[0];
    cpus.server_cpu = usable[1];
    std::printf("load generator pinned to CPU %d, servers to CPU %d\n", cpus.generator_cpu,
                cpus.server_cpu);
  } else {
    std::printf("not pinned (%zu usable CPU%s): generator and server share the machine\n",
                usable.size(), usable.size() == 1 ? "" : "s");
  }
  std::printf("servers:\n");
  std::vector<const server_kind*> servers;
  for (auto& k : server_kinds()) {
    if (!selected(server_names, k.name)) continue;
    servers.push_back(&k);
    std::printf("  %-24.*s %.*s\n", static_cast<int>(k.name.size()), k.name.data(),
                static_cast<int>(k.description.size()), k.description.data());
  }

  std::vector<std::string> problems;
  std::vector<scenario_results> all;
  for (auto& s : scenarios) {
    if (!selected(scenario_names, s.name)) continue;
    if (std::none_of(servers.begin(), servers.end(),
                     [&](const server_kind* k) { return protocol_of(*k) == s.protocol; })) {
      std::printf("\n%s: skipped, no selected server speaks %s\n", std::string(s.name).c_str(),
                  s.protocol == transport_protocol::udp ? "UDP" : "a stream (TCP, Unix)");
      continue;
    }
    all.push_back(run_scenario(s, servers, settings, cpus, problems));
    print_table(all.back(), settings);
    std::fflush(stdout);
  }
  print_targets(all);

  if (!problems.empty()) {
    std::printf("\nFAILED: %zu problem(s)\n", problems.size());
    for (auto& p : problems) std::printf("  %s\n", p.c_str());
    return 1;
  }
  std::printf("\nall echoes verified\n");
  return 0;
}
