// tls_bench: what TLS costs, side by side in one run.
//
//   tls_bench                 # 1 MiB echo over tcp://, tls://, ws://, wss://; TLS handshakes/s
//   tls_bench --quick         # short runs, for CI
//
// The echo server runs on its own thread (pinned to one CPU, its CPU time
// read from its clock), the client (coronet::connect, 4 messages in flight
// on one connection) on another.  Every echoed byte is checked.  The
// handshake row opens and closes tls:// connections from 8 client
// coroutines at once and counts completed handshakes per second of wall
// time and of server CPU.  Certificates (ECDSA P-256) are made at start-up
// with the openssl command into a temporary directory.
#include "bench_certificates.hpp"
#include "coronet_echo.hpp"
#include "echo_server.hpp"
#include "server_thread.hpp"

#include <coronet/coronet.hpp>

#include <CLI/CLI.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct row {
  std::string name;
  double mb_per_s = 0, cpu_us_per_mib = 0;
  bool ok = false;
};

// 1 MiB messages, `in_flight` outstanding, for `duration`; returns MiB echoed.
asio::awaitable<std::size_t> bulk_client(std::string url, coronet::options o,
                                         clock_type::duration duration, int in_flight, bool& ok) {
  auto ch = co_await coronet::connect(url, o);
  if (!ch) {
    std::fprintf(stderr, "tls_bench: cannot connect to %s: %s\n", url.c_str(),
                 ch.error().message().c_str());
    co_return 0;
  }
  std::vector<std::byte> msg(1 << 20);
  for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = std::byte((i * 131 + 7) & 0xff);
  bool whole = ch->properties().preserves_boundaries;
  std::size_t sent = 0, echoed = 0;
  std::size_t got_in_message = 0;
  auto end = clock_type::now() + duration;
  ch->set_receive_timeout(10s);
  for (int i = 0; i < in_flight; ++i, ++sent)
    if (!co_await ch->send(coronet::message_view(msg))) co_return 0;
  while (echoed < sent) {
    auto m = co_await ch->receive();
    if (!m) {
      std::fprintf(stderr, "tls_bench: %s: %s\n", url.c_str(), m.error().message().c_str());
      co_return 0;
    }
    // Check the bytes where they belong in the 1 MiB message.
    if (got_in_message + m->size() > msg.size() ||
        std::memcmp(m->data.data(), msg.data() + got_in_message, m->size()) != 0) {
      std::fprintf(stderr, "tls_bench: %s: echo mismatch\n", url.c_str());
      co_return 0;
    }
    got_in_message += m->size();
    if (whole && got_in_message != msg.size()) {
      std::fprintf(stderr, "tls_bench: %s: a message came back cut\n", url.c_str());
      co_return 0;
    }
    if (got_in_message < msg.size()) continue;
    got_in_message = 0;
    ++echoed;
    if (clock_type::now() < end) {
      if (!co_await ch->send(coronet::message_view(msg))) co_return 0;
      ++sent;
    }
  }
  co_await ch->close();
  ok = true;
  co_return echoed;
}

row run_bulk(const std::string& name, const std::string& listen_url, const std::string& path,
             const bench_certificates& certs, int cpu, clock_type::duration duration) {
  row r{.name = name};
  auto so = certs.server_options();
  auto started = start_asio_server(name, cpu, [&](asio::io_context& ctx, failure_log& f) {
    return serve_coronet_channel_echo(ctx, f, listen_url, so);
  });
  if (!started) {
    std::fprintf(stderr, "tls_bench: %s: %s\n", name.c_str(), started.error().message().c_str());
    return r;
  }
  auto& server = **started;
  auto scheme = listen_url.substr(0, listen_url.find(':'));
  auto url = scheme + "://localhost:" + std::to_string(server.port()) + path;
  asio::io_context io(1);
  bool ok = false;
  std::size_t echoed = 0;
  auto before = server.usage();
  auto start = clock_type::now();
  asio::co_spawn(io, bulk_client(url, certs.client_options(), duration, 4, ok),
                 [&](std::exception_ptr e, std::size_t n) {
                   if (!e) echoed = n;
                 });
  io.run();
  auto seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  auto used = server.usage() - before;
  if (auto trouble = server.stop(2000ms); !trouble.empty())
    std::fprintf(stderr, "tls_bench: %s: %s\n", name.c_str(), trouble.c_str());
  r.ok = ok && echoed > 0;
  if (r.ok) {
    r.mb_per_s = static_cast<double>(echoed) * 1.048576 / seconds;
    r.cpu_us_per_mib = std::chrono::duration<double, std::micro>(used.on_cpu).count() /
                       static_cast<double>(echoed);
  }
  return r;
}

asio::awaitable<void> handshake_client(std::string url, coronet::options o,
                                       clock_type::time_point end, std::size_t& done,
                                       std::size_t& failed) {
  while (clock_type::now() < end) {
    auto ch = co_await coronet::connect(url, o);
    if (!ch) {
      ++failed;
      co_return;
    }
    ++done;
    ch->abort(); // the handshake is what is measured
  }
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"TLS cost side by side: 1 MiB echo over tcp/tls/ws/wss, and TLS handshakes/s."};
  bool quick = false;
  double duration = 2.0;
  std::vector<std::string> only;
  app.add_flag("--quick", quick, "short runs, for CI");
  app.add_option("--scheme", only, "run only these bulk rows (tcp, tls, ws, wss; repeatable)");
  bool skip_handshakes = false;
  app.add_flag("--no-handshakes", skip_handshakes, "skip the handshake row");
  app.add_option("--duration", duration, "seconds per row")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (quick && app.count("--duration") == 0) duration = 0.2;
  auto span =
      std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(duration));

  auto made = bench_certificates::make();
  if (!made) {
    std::fprintf(stderr, "tls_bench: cannot make certificates (is openssl installed?)\n");
    return 1;
  }
  auto& certs = *made;
  int server_cpu = -1;
  auto cpus = usable_cpus();
  if (cpus.size() >= 2 && pin_current_thread(cpus[0])) server_cpu = cpus[1];

  auto wanted = [&](const char* scheme) {
    return only.empty() || std::find(only.begin(), only.end(), scheme) != only.end();
  };
  std::vector<row> rows(4);
  const char* schemes[] = {"tcp", "tls", "ws", "wss"};
  for (int i = 0; i < 4; ++i) {
    std::string scheme = schemes[i];
    rows[i].name = scheme + "://";
    if (!wanted(schemes[i])) continue;
    bool ws = scheme[0] == 'w';
    rows[i] = run_bulk(scheme + "://", scheme + "://127.0.0.1:0" + (ws ? "/" : ""), ws ? "/" : "",
                       certs, server_cpu, span);
  }

  std::printf("1 MiB messages, 4 in flight, one connection (%.2f s each)\n", duration);
  std::printf("%-8s %10s %16s\n", "scheme", "MB/s", "server CPU/MiB");
  bool failed = false;
  for (int i = 0; i < 4; ++i) {
    auto& r = rows[i];
    if (!wanted(schemes[i])) continue;
    if (!r.ok) {
      std::printf("%-8s %10s\n", r.name.c_str(), "failed");
      failed = true;
      continue;
    }
    std::printf("%-8s %10.1f %13.0f us\n", r.name.c_str(), r.mb_per_s, r.cpu_us_per_mib);
  }
  if (rows[0].ok && rows[1].ok)
    std::printf("tls / tcp throughput: %.2f (target >= 0.40)\n",
                rows[1].mb_per_s / rows[0].mb_per_s);
  if (rows[2].ok && rows[3].ok)
    std::printf("wss / ws throughput:  %.2f\n", rows[3].mb_per_s / rows[2].mb_per_s);

  if (skip_handshakes) {
    certs.remove();
    return failed ? 1 : 0;
  }
  // Handshakes: 8 clients connecting and dropping in a loop.
  auto so = certs.server_options();
  auto started =
      start_asio_server("tls-handshakes", server_cpu, [&](asio::io_context& ctx, failure_log& f) {
        return serve_coronet_channel_echo(ctx, f, "tls://127.0.0.1:0", so);
      });
  if (!started) {
    std::fprintf(stderr, "tls_bench: handshake server: %s\n", started.error().message().c_str());
    return 1;
  }
  auto& server = **started;
  auto url = "tls://localhost:" + std::to_string(server.port());
  asio::io_context io(1);
  std::size_t done = 0, refused = 0;
  auto before = server.usage();
  auto start = clock_type::now();
  for (int i = 0; i < 8; ++i)
    asio::co_spawn(io, handshake_client(url, certs.client_options(), start + span, done, refused),
                   [&](std::exception_ptr e) {
                     if (e) ++refused;
                   });
  io.run();
  auto seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  auto used = std::chrono::duration<double>((server.usage() - before).on_cpu).count();
  server.stop(2000ms);
  std::printf("\nTLS handshakes (ECDSA P-256, ECDHE, full handshakes, client and server on one CPU "
              "each)\n");
  std::printf("  %zu in %.2f s: %.0f/s wall, %.0f per second of server CPU%s\n", done, seconds,
              static_cast<double>(done) / seconds,
              used > 0 ? static_cast<double>(done) / used : 0.0, refused ? "  (some failed)" : "");
  certs.remove();
  return failed || refused || done == 0 ? 1 : 0;
}
