// dashboard_load: dashboard_bench.py's subscribers.  N WebSocket
// connections to a dashboard_server's /live, each following K buildings
// (as a browser follows a few), count the readings they get and time each
// one from the sensor's clock ("ts", ms since the epoch; the sensors run on
// this machine) to its arrival.  Prints one JSON line at the end.
//
//   dashboard_load --url ws://127.0.0.1:8080/live --subscribers 100 --follow 2
//                  --buildings 20 --seconds 20 --warmup 5
#include "latency_histogram.hpp"

#include <coronet/coronet.hpp>

#include <CLI/CLI.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;

struct settings {
  std::string url;
  unsigned subscribers = 100, follow = 2, buildings = 20;
  double seconds = 20, warmup = 5;
};

struct totals {
  latency_histogram latency; // ns (ms resolution: the sensors' clock)
  std::uint64_t readings = 0, joined = 0, failed = 0;
  bool measuring = false;
};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The "ts" of a reading, without a JSON parser on the hot path.
std::int64_t ts_of(std::string_view text) {
  auto at = text.rfind("\"ts\":");
  if (at == std::string_view::npos) return 0;
  std::int64_t ts = 0;
  auto digits = text.substr(at + 5);
  std::from_chars(digits.data(), digits.data() + digits.size(), ts);
  return ts;
}

asio::awaitable<void> subscriber(const settings& s, unsigned index, totals& t) {
  auto ch = co_await coronet::connect(s.url);
  if (!ch) {
    ++t.failed;
    co_return;
  }
  for (unsigned k = 0; k < s.follow; ++k) {
    auto building = "b" + std::to_string((index * s.follow + k) % s.buildings);
    auto join = R"({"type":"join","room":")" + building + R"("})";
    co_await ch->send(coronet::message_view(join));
  }
  auto m = co_await ch->receive();
  while (m) {
    auto text = m->text();
    if (text.find("\"type\":\"reading\"") != std::string_view::npos) {
      if (t.measuring) {
        ++t.readings;
        auto late = now_ms() - ts_of(text);
        t.latency.record(static_cast<std::uint64_t>(std::max<std::int64_t>(late, 0)) * 1'000'000);
      }
    } else if (text.find("\"type\":\"joined\"") != std::string_view::npos) {
      ++t.joined;
    }
    m = ch->try_receive();
    if (!m && m.error() == coronet::errc::would_block) m = co_await ch->receive();
  }
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"dashboard_bench's subscribers: WebSocket pages following buildings of a "
               "dashboard_server, timing each reading from its sensor"};
  settings s;
  app.add_option("--url", s.url, "the server's ws://HOST:PORT/live")->required();
  app.add_option("--subscribers", s.subscribers, "connections")->check(CLI::Range(1u, 100000u));
  app.add_option("--follow", s.follow, "buildings each one follows")->check(CLI::Range(1u, 256u));
  app.add_option("--buildings", s.buildings, "buildings there are (b0 ...)")
      ->check(CLI::Range(1u, 100000u));
  app.add_option("--seconds", s.seconds, "measure this long")->check(CLI::PositiveNumber);
  app.add_option("--warmup", s.warmup, "after connecting, wait this long first")
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  asio::io_context io(1);
  totals t;
  for (unsigned i = 0; i < s.subscribers; ++i)
    asio::co_spawn(io, subscriber(s, i, t), asio::detached);
  asio::steady_timer phase(io);
  auto warm = std::chrono::duration<double>(s.warmup);
  auto measure = std::chrono::duration<double>(s.seconds);
  phase.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(warm));
  phase.async_wait([&](std::error_code) {
    t.measuring = true;
    phase.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(measure));
    phase.async_wait([&](std::error_code) {
      t.measuring = false;
      io.stop();
    });
  });
  io.run();
  auto ms = [&](double q) { return t.latency.percentile(q) / 1e6; };
  std::printf("{\"subscribers\":%u,\"joined\":%llu,\"failed\":%llu,\"readings\":%llu,"
              "\"per_second\":%.0f,\"p50_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f}\n",
              s.subscribers, static_cast<unsigned long long>(t.joined),
              static_cast<unsigned long long>(t.failed),
              static_cast<unsigned long long>(t.readings), t.readings / s.seconds, ms(0.5),
              ms(0.99), t.latency.max() / 1e6);
  std::fflush(stdout);
  std::_Exit(t.failed ? 1 : 0); // (connections still open: no need to close them one by one)
}
