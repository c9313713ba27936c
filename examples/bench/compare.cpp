#include "compare.hpp"

#include "bench_certificates.hpp"
#include "compare_progress.hpp"
#include "compare_report.hpp"
#include "compare_server.hpp"
#include "echo_server.hpp"
#include "server_thread.hpp"
#include "tcp_retransmits.hpp"

#include <coronet/impairment.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>

#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;

// Where a --compare-serve listens inside linkem's server namespace.
constexpr int linkem_port = 7000;
constexpr auto server_stop_grace = 2000ms;
// A cell whose threads waited longer than this for a CPU is marked.
constexpr double contended_wait_ms = 20;

// What every cell of a run shares.
struct run_context {
  bool quick = false;
  int rr_hz = 10;
  std::uint64_t seed = 1;
  std::optional<bench_certificates> certs;
  int server_cpu = -1;
  std::string self, linkem;
};

bool is_udp(std::string_view transport) { return transport == "udp"; }
bool has_path(std::string_view transport) { return transport == "ws" || transport == "wss"; }
bool uses_tls(std::string_view transport) { return transport == "tls" || transport == "wss"; }
bool tcp_based(std::string_view transport) { return transport != "udp" && transport != "unix"; }

coronet::options client_options(const std::string& transport, const run_context& ctx) {
  coronet::options o;
  o.close_timeout = 2s; // (bounded: the cell ends, whatever the peer does)
  if (uses_tls(transport) && ctx.certs) o = ctx.certs->client_options(o);
  return o;
}

// The workload's size: quick is about a second a cell.
workload_settings plan(workload_kind kind, const link_condition& c, bool quick, std::uint64_t seed,
                       int rr_hz) {
  workload_settings w;
  w.kind = kind;
  w.impair = c.impair;
  w.seed = seed;
  w.clients = quick ? 4 : 16;
  if (kind == workload_kind::rr) {
    // Sparse clients, many of them: 400 requests a second in all (quick),
    // 1000 (full), at the default 10 per client.
    w.clients = quick ? 40 : 100;
    w.rr_interval = std::chrono::microseconds(1'000'000 / std::clamp(rr_hz, 1, 1000));
  }
  w.grace = grace_of(c);
  if (kind == workload_kind::bulk) {
    w.duration = quick ? 2s : 10s;
    w.bulk_bytes = quick ? 16u << 20 : 32u << 20;
    // On a slow link the messages still on their way when sending stops
    // take a while: wait for them too (2 MiB at 2 Mbit/s is 8.4 s).
    auto spec = coronet::parse_impairment(c.impair);
    if (spec && spec->send.rate_bits_per_second)
      w.grace += std::chrono::milliseconds(bulk_in_flight * bulk_message_size * 8 * 1000 /
                                           spec->send.rate_bits_per_second);
  } else {
    w.duration = quick ? 1s : 10s;
  }
  return w;
}

// Fills `r` with what the client saw and what both sides used.
void summarize(cell_result& r, workload_result w, double client_cpu_ms, double server_cpu_ms) {
  if (!w.ok) {
    r.status = "failed";
    r.note = w.error;
  }
  r.seconds = w.seconds;
  r.sent = w.sent;
  r.delivered = w.delivered;
  r.delivery = w.sent ? static_cast<double>(w.delivered) / static_cast<double>(w.sent) : 0;
  std::sort(w.latency_us.begin(), w.latency_us.end());
  r.p50_ms = quantile(w.latency_us, 0.50) / 1e3;
  r.p99_ms = quantile(w.latency_us, 0.99) / 1e3;
  r.p999_ms = quantile(w.latency_us, 0.999) / 1e3;
  std::sort(w.staleness_us.begin(), w.staleness_us.end());
  r.staleness_p50_ms = quantile(w.staleness_us, 0.50) / 1e3;
  r.staleness_p99_ms = quantile(w.staleness_us, 0.99) / 1e3;
  r.bytes_delivered = w.bytes_delivered;
  if (r.workload == "bulk" && w.seconds > 0)
    r.goodput_mbit = static_cast<double>(w.bytes_delivered) * 8 / w.seconds / 1e6;
  r.client_cpu_ms = client_cpu_ms;
  r.server_cpu_ms = server_cpu_ms;
  if (w.delivered)
    r.cpu_us_per_message = (client_cpu_ms + server_cpu_ms) * 1e3 / static_cast<double>(w.delivered);
  for (auto& v : w.latency_us) v /= 1e3;
  for (auto& v : w.staleness_us) v /= 1e3;
  r.latency_cdf_ms = cdf_of(std::move(w.latency_us));
  r.staleness_cdf_ms = cdf_of(std::move(w.staleness_us));
}

cell_result blank(const compare_cell& cell, const std::string& via) {
  cell_result r;
  r.transport = cell.transport;
  r.condition = cell.condition.name;
  r.workload = std::string(to_string(cell.workload));
  r.via = via;
  r.impair = cell.condition.impair;
  return r;
}

// A cell that cannot be run, and why; nothing if it can.
std::optional<std::string> not_applicable(const compare_cell& cell) {
  if (is_udp(cell.transport) && cell.workload == workload_kind::bulk)
    return "1 MiB messages do not fit a UDP datagram (at most 65507 B)";
  return std::nullopt;
}

// Why a cell of a linkem run goes through the in-process link instead;
// nothing if linkem can carry it.
std::optional<std::string> in_process_instead(const compare_cell& cell) {
  if (cell.transport == "unix")
    return "a Unix socket does not cross a network link: in-process link";
  if (cell.condition.custom) return "a NAME=SPEC condition: in-process link";
  return std::nullopt;
}

std::string listen_url(const std::string& transport, std::size_t index) {
  if (transport == "unix")
    return "unix://@coronet-compare-" + std::to_string(::getpid()) + "-" + std::to_string(index);
  return transport + "://127.0.0.1:0" + (has_path(transport) ? "/" : "");
}

cell_result run_in_process(const compare_cell& cell, std::size_t index, const run_context& ctx) {
  auto r = blank(cell, "impair");
  auto w = plan(cell.workload, cell.condition, ctx.quick, ctx.seed, ctx.rr_hz);
  r.clients = cell.workload == workload_kind::bulk ? 1 : w.clients;
  auto url = listen_url(cell.transport, index);
  coronet::options server_options;
  if (uses_tls(cell.transport) && ctx.certs) server_options = ctx.certs->server_options();
  auto started = start_asio_server("compare-" + cell.transport, ctx.server_cpu,
                                   [&](asio::io_context& io, failure_log& f) {
                                     return serve_compare(io, f, url, server_options);
                                   });
  if (!started) {
    r.status = "failed";
    r.note = "server did not start: " + started.error().message();
    return r;
  }
  auto& server = **started;
  if (cell.transport == "unix")
    w.url = "unix://" + server.unix_path();
  else
    w.url = cell.transport + "://127.0.0.1:" + std::to_string(server.port()) +
            (has_path(cell.transport) ? "/" : "");
  w.options = client_options(cell.transport, ctx);

  auto retrans_before = tcp_retransmitted_segments();
  auto server_before = server.usage();
  auto client_before = current_thread_usage();
  auto result = run_workload(w);
  auto client_used = current_thread_usage() - client_before;
  auto server_used = server.usage() - server_before;
  auto retrans_after = tcp_retransmitted_segments();
  auto trouble = server.stop(server_stop_grace);

  auto ms = [](std::chrono::nanoseconds d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  summarize(r, std::move(result), ms(client_used.on_cpu), ms(server_used.on_cpu));
  if (!trouble.empty()) {
    r.status = "failed";
    r.note += (r.note.empty() ? "server: " : "; server: ") + trouble;
  }
  if (tcp_based(cell.transport) && retrans_before && retrans_after) {
    r.retransmits = static_cast<std::int64_t>(*retrans_after - *retrans_before);
    r.retransmits_source = "host /proc/net/snmp (shared loopback: any TCP on the machine counts)";
  }
  auto note = [&](const char* text) { r.note += (r.note.empty() ? "" : "; ") + std::string(text); };
  bool drops =
      r.impair.find("loss") != std::string::npos || r.impair.find("burst") != std::string::npos;
  if (r.status == "ok" && !is_udp(cell.transport) && drops)
    note("in-process: a reliable transport is only delayed, never loses (--via linkem shows "
         "retransmission)");
  r.cpu_wait_ms = ms(client_used.waiting + server_used.waiting);
  if (r.cpu_wait_ms > contended_wait_ms)
    note("contended: the client or server waited more than 20 ms for a CPU (another process "
         "had it); read its tail latency as noise");
  return r;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// One cell through linkem: a --compare-serve in the server namespace, a
// --compare-client in the client's, the client's JSON line back.
cell_result run_via_linkem(const compare_cell& cell, const run_context& ctx) {
  auto r = blank(cell, "linkem");
  auto scheme = cell.transport;
  auto path = has_path(scheme) ? std::string("/") : std::string();
  std::string certs =
      uses_tls(scheme) && ctx.certs ? " --certs " + shell_quote(ctx.certs->dir) : "";
  auto server = shell_quote(ctx.self) + " --compare-serve " + scheme +
                "://0.0.0.0:" + std::to_string(linkem_port) + path + certs;
  auto client =
      shell_quote(ctx.self) + " --compare-client --url " + scheme +
      "://\"$LINKEM_SERVER_IP\":" + std::to_string(linkem_port) + path + certs + " --transport " +
      scheme + " --condition " + shell_quote(cell.condition.name) + " --workload " +
      std::string(to_string(cell.workload)) + " --seed " + std::to_string(ctx.seed) +
      " --grace-ms " +
      std::to_string(
          plan(cell.workload, cell.condition, ctx.quick, ctx.seed, ctx.rr_hz).grace.count()) +
      " --rr-hz " + std::to_string(ctx.rr_hz) + " --via linkem" + (ctx.quick ? " --quick" : "");
  // linkem counts the bytes that crossed the link, into a file of its own.
  char stats_path[] = "/tmp/coronet-compare-linkem-XXXXXX";
  int stats_fd = ::mkstemp(stats_path);
  if (stats_fd >= 0) ::close(stats_fd);
  std::string command = shell_quote(ctx.linkem) + " run --quiet --seed " + std::to_string(ctx.seed);
  if (stats_fd >= 0) command += " --stats " + shell_quote(stats_path);
  for (auto& a : cell.condition.linkem_args) command += " " + shell_quote(a);
  command += " --server " + shell_quote(server) + " -- sh -c " + shell_quote(client) + " 2>&1";
  auto pipe = ::popen(command.c_str(), "r");
  if (!pipe) {
    r.status = "failed";
    r.note = "cannot run linkem";
    return r;
  }
  std::string line, last_json, output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) {
    line += buffer;
    if (line.empty() || line.back() != '\n') continue;
    line.pop_back();
    if (!line.empty() && line.front() == '{')
      last_json = line;
    else
      output += line + "; ";
    line.clear();
  }
  int status = ::pclose(pipe);
  if (last_json.empty() || !from_json_line(last_json, r)) {
    r = blank(cell, "linkem");
    r.status = "failed";
    r.note = "linkem exited " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
             " without a result: " + output.substr(0, 300);
  }
  r.impair = cell.condition.impair; // (what linkem's flags say, in the same text form)
  if (stats_fd >= 0) {
    std::ifstream in(stats_path);
    auto stats = nlohmann::json::parse(in, nullptr, /*allow_exceptions*/ false);
    if (stats.is_object() && stats.contains("uplink") && stats.contains("downlink")) {
      r.wire_bytes = stats["uplink"].value("bytes", std::int64_t(0)) +
                     stats["downlink"].value("bytes", std::int64_t(0));
      if (r.delivered)
        r.wire_bytes_per_message =
            static_cast<double>(r.wire_bytes) / static_cast<double>(r.delivered);
    }
    ::unlink(stats_path);
  }
  return r;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string machine() {
  utsname u{};
  if (::uname(&u) != 0) return "unknown";
  return std::string(u.sysname) + " " + u.release + " " + u.version + " " + u.machine;
}

std::string linkem_next_to(const std::string& self) {
  auto p = std::filesystem::path(self).parent_path() / ".." / ".." / "tools" / "linkem" / "linkem";
  return p.lexically_normal().string();
}

// The plots (compare_plot.py, copied beside this program by the build) from
// the files just written; says so and goes on when they cannot be drawn.
void draw_plots(const compare_settings& s) {
  if (!s.plots) return;
  auto script = std::filesystem::path(s.self).parent_path() / "compare_plot.py";
  if (::access(script.c_str(), R_OK) != 0 || ::access("/usr/bin/python3", X_OK) != 0) {
    std::printf("no plots: %s or /usr/bin/python3 is missing\n", script.c_str());
    return;
  }
  auto command =
      "/usr/bin/python3 " + shell_quote(script.string()) + " " + shell_quote(s.out) + " --quiet";
  if (std::system(command.c_str()) == 0)
    std::printf("plotted %s/*.png, *.svg (latency CDFs, p99, delivery and staleness against "
                "loss)\n",
                s.out.c_str());
  else
    std::printf("no plots: compare_plot.py failed (matplotlib: Debian's python3-matplotlib, "
                "installed by scripts/setup.sh)\n");
}

bool linkem_works(const std::string& linkem) {
  if (::access(linkem.c_str(), X_OK) != 0) return false;
  auto command = shell_quote(linkem) + " check >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

} // namespace

int run_compare(const compare_settings& s) {
  std::string why;
  auto cells = make_grid(s.grid, why);
  if (!cells) {
    std::fprintf(stderr, "transport_bench: %s\n", why.c_str());
    return 2;
  }
  run_context ctx;
  ctx.quick = s.grid.quick;
  ctx.rr_hz = s.rr_hz;
  ctx.seed = s.seed;
  ctx.self = s.self;
  ctx.linkem = linkem_next_to(s.self);
  std::string via = s.via;
  if (via == "auto") {
    via = linkem_works(ctx.linkem) ? "linkem" : "impair";
    std::printf("--via auto: %s (%s)\n", via.c_str(),
                via == "linkem" ? ("linkem check passed: " + ctx.linkem).c_str()
                                : "linkem not built here or cannot run: in-process impairment");
  } else if (via == "linkem" && !linkem_works(ctx.linkem)) {
    std::fprintf(stderr, "transport_bench: --via linkem: %s missing or `linkem check` fails\n",
                 ctx.linkem.c_str());
    return 2;
  }
  if (std::any_of(cells->begin(), cells->end(),
                  [](const compare_cell& c) { return uses_tls(c.transport); })) {
    ctx.certs = bench_certificates::make();
    if (!ctx.certs) {
      std::fprintf(stderr, "transport_bench: cannot make certificates (is openssl installed?)\n");
      return 1;
    }
  }
  if (via == "impair") {
    // Client on one CPU, servers on the other (not for linkem: its
    // processes would inherit the client's CPU).
    auto usable = usable_cpus();
    if (usable.size() >= 2 && pin_current_thread(usable[0])) ctx.server_cpu = usable[1];
  }
  std::printf("compare: %zu cells via %s, seed %llu%s, results in %s/\n", cells->size(),
              via.c_str(), static_cast<unsigned long long>(s.seed), s.grid.quick ? ", quick" : "",
              s.out.c_str());
  std::fflush(stdout);

  compare_progress progress(cells->size());
  std::vector<cell_result> results;
  for (std::size_t i = 0; i < cells->size(); ++i) {
    auto& cell = (*cells)[i];
    progress.starting(i, cell.transport + " " + cell.condition.name + " " +
                             std::string(to_string(cell.workload)));
    auto started = std::chrono::steady_clock::now();
    cell_result r;
    if (auto reason = not_applicable(cell)) {
      r = blank(cell, via);
      r.status = "n/a";
      r.note = *reason;
    } else if (via == "linkem" && !in_process_instead(cell)) {
      r = run_via_linkem(cell, ctx);
    } else {
      r = run_in_process(cell, i, ctx);
      if (via == "linkem")
        r.note = *in_process_instead(cell) + (r.note.empty() ? "" : "; " + r.note);
    }
    r.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    char outcome[96];
    if (r.status == "ok")
      std::snprintf(outcome, sizeof outcome, "p50 %.2f ms, delivery %.1f%%", r.p50_ms,
                    100 * r.delivery);
    else
      std::snprintf(outcome, sizeof outcome, "%s", r.status.c_str());
    progress.finished(outcome);
    results.push_back(std::move(r));
  }
  progress.done();
  if (ctx.certs) ctx.certs->remove();

  print_table(results);
  run_metadata meta{.command_line = s.command_line,
                    .date = utc_now(),
                    .machine = machine(),
                    .via = via,
                    .seed = s.seed,
                    .cpus = static_cast<unsigned>(::sysconf(_SC_NPROCESSORS_ONLN)),
                    .quick = s.grid.quick,
                    .seconds = progress.elapsed_seconds()};
  bool written = write_results(s.out, results, meta, why);
  auto failed = std::count_if(results.begin(), results.end(),
                              [](const cell_result& r) { return r.status == "failed"; });
  std::printf("\n%zu cells in %.1f s (%s)", results.size(), meta.seconds, via.c_str());
  if (failed) std::printf(", %zd FAILED", static_cast<std::ptrdiff_t>(failed));
  std::printf("\n");
  if (written) {
    std::printf("wrote %s/compare.csv, compare.json, latency_cdf.csv\n", s.out.c_str());
    draw_plots(s);
  } else {
    std::fprintf(stderr, "transport_bench: %s\n", why.c_str());
  }
  for (auto& r : results)
    if (r.status == "failed")
      std::printf("  FAILED %s %s %s: %s\n", r.transport.c_str(), r.condition.c_str(),
                  r.workload.c_str(), r.note.c_str());
  return failed || !written ? 1 : 0;
}

int run_compare_client(const compare_client_settings& s) {
  auto kind = s.workload == "bulk"     ? workload_kind::bulk
              : s.workload == "stream" ? workload_kind::stream
                                       : workload_kind::rr;
  link_condition c;
  c.name = s.condition;
  c.impair = s.impair;
  auto w = plan(kind, c, s.quick, s.seed, s.rr_hz);
  w.grace = std::chrono::milliseconds(std::max(s.grace_ms, 0));
  w.url = s.url;
  w.options.close_timeout = 2s;
  if (!s.certs.empty()) w.options = bench_certificates::in(s.certs).client_options(w.options);

  cell_result r;
  r.transport = s.transport;
  r.condition = s.condition;
  r.workload = s.workload;
  r.via = s.via;
  r.impair = s.impair;
  r.clients = kind == workload_kind::bulk ? 1 : w.clients;
  if (is_udp(s.transport) && kind == workload_kind::bulk) {
    r.status = "n/a";
    r.note = "1 MiB messages do not fit a UDP datagram (at most 65507 B)";
    std::printf("%s\n", to_json_line(r).c_str());
    return 0;
  }
  auto retrans_before = tcp_retransmitted_segments();
  auto client_before = current_thread_usage();
  auto result = run_workload(w);
  auto client_used = current_thread_usage() - client_before;
  auto retrans_after = tcp_retransmitted_segments();
  auto server = query_server_usage(s.url, w.options);
  summarize(r, std::move(result),
            std::chrono::duration<double, std::milli>(client_used.on_cpu).count(),
            server ? server->cpu_ms : 0);
  if (!server) r.note += (r.note.empty() ? "" : "; ") + std::string("server CPU not known");
  if (tcp_based(s.transport) && retrans_before && retrans_after) {
    r.retransmits = static_cast<std::int64_t>(*retrans_after - *retrans_before);
    r.retransmits_source = "client namespace /proc/net/snmp";
    if (server && server->retransmits >= 0) {
      r.retransmits += server->retransmits;
      r.retransmits_source = "both namespaces' /proc/net/snmp (exact under linkem)";
    }
  }
  std::printf("%s\n", to_json_line(r).c_str());
  return r.status == "failed" ? 1 : 0;
}
