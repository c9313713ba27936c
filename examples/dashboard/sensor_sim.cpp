// sensor_sim: simulated building sensors (temperature, humidity, CO₂) that
// send their readings to a dashboard_server over any transport.
//
//   sensor_sim --connect udp://127.0.0.1:9001 --sensors 200 --buildings 4
//   sensor_sim --connect tcp://127.0.0.1:9002 --sensors 100000 --interval-ms 5000
//   sensor_sim --connect ws://127.0.0.1:9003/ingest --sensors 20 --interval-ms 1000 --seed 7
//
// Sensor i (named s<i>, see --prefix) is in building b(i mod B) and sends one small JSON message
// every
// --interval-ms, the sensors' first readings spread evenly over the first
// interval.  Values follow a seeded random walk; now and then a sensor's
// CO₂ climbs well over 1000 ppm for a while (an excursion), so alerts fire.
// The sensors share --connections connections (each a coronet
// reconnecting_channel: after a server restart they come back by
// themselves, and while a connection is down its newest readings wait).
#include "reading.hpp"

#include <coronet/coronet.hpp>

#include <CLI/CLI.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <sys/resource.h>

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

struct settings {
  std::string url, prefix = "s";
  unsigned sensors = 10, buildings = 2, connections = 0;
  unsigned interval_ms = 5000;
  std::uint64_t seed = 1;
  double excursions = 0.002;
  double duration_s = 0;
  std::uint64_t readings = 0;
  bool quiet = false;
};

// One sensor's random walk.
class sensor {
public:
  sensor(unsigned index, const settings& s, std::mt19937_64& rng)
      : index_(index), name_(s.prefix + std::to_string(index)),
        building_("b" + std::to_string(index % std::max(s.buildings, 1u))) {
    std::uniform_real_distribution<double> spread(-1, 1);
    t_mean_ = 21.5 + 1.5 * spread(rng);
    h_mean_ = 45 + 8 * spread(rng);
    co2_mean_ = 600 + 120 * spread(rng);
    t_ = t_mean_;
    h_ = h_mean_;
    co2_ = co2_mean_;
    // An excursion lasts about 90 s of readings: past any alert delay.
    excursion_length_ = std::max(3u, 90'000 / std::max(s.interval_ms, 1u));
  }

  dashboard::reading next(const settings& s, std::mt19937_64& rng) {
    std::normal_distribution<double> noise(0, 1);
    t_ += 0.05 * noise(rng) + 0.02 * (t_mean_ - t_);
    h_ += 0.2 * noise(rng) + 0.02 * (h_mean_ - h_);
    if (excursion_left_ > 0) {
      --excursion_left_;
      co2_ += 0.3 * (excursion_target_ - co2_) + 10 * noise(rng);
    } else {
      co2_ += 8 * noise(rng) + 0.05 * (co2_mean_ - co2_);
      if (std::uniform_real_distribution<double>(0, 1)(rng) < s.excursions) {
        excursion_left_ = excursion_length_;
        excursion_target_ = std::uniform_real_distribution<double>(1300, 2200)(rng);
      }
    }
    dashboard::reading r;
    r.sensor = name_;
    r.building = building_;
    r.t = std::clamp(t_, -20.0, 60.0);
    r.h = std::clamp(h_, 1.0, 99.0);
    r.co2 = std::clamp(co2_, 350.0, 5000.0);
    r.ts = dashboard::now_ms();
    return r;
  }

  unsigned index() const { return index_; }

private:
  unsigned index_;
  std::string name_, building_;
  double t_mean_, h_mean_, co2_mean_, t_, h_, co2_;
  unsigned excursion_length_, excursion_left_ = 0;
  double excursion_target_ = 0;
};

struct totals {
  std::atomic<std::uint64_t> sent{0}, refused{0};
};

// The sensors of one connection, each on its schedule: sensor i's k-th
// reading is due at start + (i / N + k) * interval.
asio::awaitable<void> run_connection(const settings& s, std::vector<sensor> sensors,
                                     coronet::reconnecting_channel ch, steady::time_point start,
                                     std::uint64_t seed, totals& sent) {
  std::mt19937_64 rng(seed);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto interval = std::chrono::milliseconds(s.interval_ms);
  auto stop_at = s.duration_s > 0 ? start + std::chrono::duration_cast<steady::duration>(
                                                std::chrono::duration<double>(s.duration_s))
                                  : steady::time_point::max();
  for (std::uint64_t round = 0; s.readings == 0 || round < s.readings; ++round) {
    for (auto& one : sensors) {
      auto due = start + interval * one.index() / s.sensors + interval * round;
      if (due >= stop_at) co_return;
      timer.expires_at(due);
      co_await timer.async_wait(asio::use_awaitable);
      auto text = dashboard::encode(one.next(s, rng));
      auto queued = co_await ch.send(coronet::message_view(text));
      if (queued)
        sent.sent.fetch_add(1, std::memory_order_relaxed);
      else
        sent.refused.fetch_add(1, std::memory_order_relaxed);
      if (!queued && ch.state() == coronet::connection_state::given_up) co_return;
    }
  }
}

asio::awaitable<void> report(const settings& s, totals& sent, std::atomic<bool>& done) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::uint64_t last = 0;
  while (!done) {
    timer.expires_after(5s);
    co_await timer.async_wait(asio::use_awaitable);
    auto now = sent.sent.load();
    if (!s.quiet)
      std::fprintf(stderr, "sensor_sim: %llu readings sent (%.0f/s)%s\n",
                   static_cast<unsigned long long>(now), (now - last) / 5.0,
                   sent.refused ? (", " + std::to_string(sent.refused.load()) + " not sent").c_str()
                                : "");
    last = now;
  }
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"coronet sensor simulator: N sensors in B buildings send a reading (temperature, "
               "humidity, CO2) every --interval-ms to a dashboard_server, over the transport the "
               "URL names"};
  settings s;
  app.option_defaults()->always_capture_default(); // --help shows each default
  app.add_option("--connect", s.url,
                 "the dashboard_server's ingest URL: udp://HOST:PORT, tcp://HOST:PORT or "
                 "ws://HOST:PORT/ingest")
      ->required();
  app.add_option("--sensors", s.sensors, "how many sensors")->check(CLI::Range(1u, 10'000'000u));
  app.add_option("--buildings", s.buildings, "over how many buildings")
      ->check(CLI::Range(1u, 100'000u));
  app.add_option("--interval-ms", s.interval_ms, "each sensor sends a reading this often")
      ->check(CLI::Range(1u, 3'600'000u));
  app.add_option("--seed", s.seed, "the random walks' seed (same seed, same values)");
  app.add_option("--prefix", s.prefix,
                 "sensor i is named PREFIX + i (default s: s0, s1 ...); give each simulator "
                 "its own when several feed one server");
  app.add_option("--connections", s.connections,
                 "connections the sensors share (default: one per sensor, at most 64)")
      ->check(CLI::Range(1u, 100'000u));
  app.add_option("--excursion-rate", s.excursions,
                 "chance per reading that a sensor's CO2 starts a long climb over 1000 ppm")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--duration-s", s.duration_s, "stop after this many seconds (0: at Ctrl-C)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--readings", s.readings, "stop after this many readings per sensor (0: never)");
  app.add_flag("--quiet", s.quiet, "no progress lines");
  CLI11_PARSE(app, argc, argv);
  if (!s.connections) s.connections = std::min(s.sensors, 64u);
  s.connections = std::min(s.connections, s.sensors);
  if (s.connections > 512) { // a socket each: raise the open-file limit as far as allowed
    rlimit r{};
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
      r.rlim_cur = r.rlim_max;
      setrlimit(RLIMIT_NOFILE, &r);
    }
  }

  asio::io_context io(1);
  totals sent;
  std::mt19937_64 rng(s.seed);
  std::vector<std::vector<sensor>> groups(s.connections);
  for (unsigned i = 0; i < s.sensors; ++i) groups[i % s.connections].emplace_back(i, s, rng);

  coronet::reconnect_options o;
  o.queue_policy = coronet::slow_consumer_policy::drop_oldest; // the newest readings matter
  o.queue_limit = 256 * 1024;
  std::vector<coronet::reconnecting_channel> channels;
  unsigned up = 0;
  o.on_state = [&](const coronet::connection_event& e) {
    if (e.state == coronet::connection_state::connected) ++up;
    if (e.state == coronet::connection_state::waiting) {
      if (e.attempt == 1 && up > 0) --up;
      if (!s.quiet)
        std::fprintf(stderr, "sensor_sim: %s: %s; reconnecting in %.1f s\n", s.url.c_str(),
                     e.error.message().c_str(), e.delay.count() / 1000.0);
    }
    if (e.state == coronet::connection_state::given_up)
      std::fprintf(stderr, "sensor_sim: %s: %s; giving up\n", s.url.c_str(),
                   e.error.message().c_str());
  };
  auto start = steady::now() + 100ms;
  std::atomic<bool> done{false};
  int running = 0;
  for (unsigned c = 0; c < s.connections; ++c) {
    o.seed = s.seed * 1000003 + c + 1; // (jitter: each connection its own)
    channels.emplace_back(io.get_executor(), s.url, o);
    ++running;
    asio::co_spawn(io,
                   run_connection(s, std::move(groups[c]), channels.back(), start, o.seed, sent),
                   [&](std::exception_ptr) {
                     if (--running == 0) {
                       done = true;
                       for (auto& ch : channels)
                         asio::co_spawn(
                             io,
                             [](coronet::reconnecting_channel ch) -> asio::awaitable<void> {
                               co_await ch.close(); // what is queued on a connection goes out
                             }(ch),
                             asio::detached);
                     }
                   });
  }
  asio::co_spawn(io, report(s, sent, done), asio::detached);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  bool interrupted = false;
  signals.async_wait([&](std::error_code ec, int) {
    if (ec) return;
    interrupted = true;
    io.stop();
  });
  if (!s.quiet)
    std::fprintf(stderr,
                 "sensor_sim: %u sensors in %u buildings, a reading each every %u ms, over %u "
                 "connection%s to %s\n",
                 s.sensors, s.buildings, s.interval_ms, s.connections,
                 s.connections == 1 ? "" : "s", s.url.c_str());
  while (!done && !io.stopped()) io.run_one();
  if (!interrupted) { // let the closes flush what is queued (bounded)
    signals.cancel();
    io.restart();
    io.run_for(2s);
  }
  if (!s.quiet)
    std::fprintf(stderr, "sensor_sim: %llu readings sent\n",
                 static_cast<unsigned long long>(sent.sent.load()));
  return sent.refused && !sent.sent ? 1 : 0;
}
