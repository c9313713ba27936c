// The impairment model: its text form, determinism (same seed, same trace),
// and each effect's statistics within bounds; a reliable transport's model
// only delays.
#include <coronet/error.hpp>
#include <coronet/impair.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

using coronet::impairment;
using coronet::impairment_model;
using coronet::message_fate;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// n messages of `size` bytes, one every `gap`, through a model.
std::vector<message_fate> run(impairment_model& m, int n, std::size_t size = 100,
                              std::chrono::microseconds gap = 1000us) {
  std::vector<message_fate> out;
  auto t = clock_type::time_point{} + 1s;
  for (int i = 0; i < n; ++i, t += gap) out.push_back(m.decide(t, size));
  return out;
}

impairment parse_one(std::string_view text) {
  auto spec = coronet::parse_impairment(text);
  REQUIRE(spec);
  return spec->send;
}

// Within `sigmas` standard deviations of a binomial's mean.
bool near_binomial(std::uint64_t count, int n, double p, double sigmas = 4) {
  double mean = n * p, sd = std::sqrt(n * p * (1 - p));
  return std::abs(static_cast<double>(count) - mean) <= sigmas * sd;
}

} // namespace

TEST_CASE("impairment text: the documented form parses and prints back", "[unit][impair]") {
  auto spec = coronet::parse_impairment(
      "loss:2%,delay:20ms,jitter:5ms,reorder:1%,dup:0.5%,rate:1mbit,burst:gilbert(0.01,0.3)");
  REQUIRE(spec);
  auto& i = spec->send;
  CHECK(i.loss == Approx(0.02));
  CHECK(i.delay == 20ms);
  CHECK(i.jitter == 5ms);
  CHECK(i.reorder == Approx(0.01));
  CHECK(i.duplicate == Approx(0.005));
  CHECK(i.rate_bits_per_second == 1'000'000);
  CHECK(i.burst_p == Approx(0.01));
  CHECK(i.burst_r == Approx(0.3));
  CHECK(i.burst_loss == 1);
  CHECK(coronet::to_string(*spec) ==
        coronet::to_string(*coronet::parse_impairment(coronet::to_string(*spec))));
  CHECK(spec->receive.loss == Approx(0.02)); // both directions

  auto one_way = coronet::parse_impairment("delay:10ms,send:(loss:0.1),receive:(jitter:2ms)");
  REQUIRE(one_way);
  CHECK(one_way->send.loss == Approx(0.1));
  CHECK(one_way->send.delay == 10ms);
  CHECK(one_way->receive.loss == 0);
  CHECK(one_way->receive.jitter == 2ms);
  CHECK(coronet::to_string(*one_way) ==
        "send:(loss:10%,delay:10ms),receive:(delay:10ms,jitter:2ms)");

  for (auto bad :
       {"", "loss", "loss:2", "loss:101%", "loss:-1%", "delay:20", "delay:20 ms", "rate:1mbps",
        "loss:1%,loss:2%", "burst:gilbert(0.1)", "burst:gilbert(0,0.3)", "send:(loss:1%",
        "send:loss:1%", "up:(loss:1%),send:(loss:2%)", "color:red", "queue:12"}) {
    INFO(bad);
    auto r = coronet::parse_impairment(bad);
    REQUIRE(!r);
    CHECK(r.error() == coronet::errc::invalid_argument);
  }
}

TEST_CASE("impairment: the same seed gives the same trace of drops and delays, another seed "
          "another",
          "[unit][impair]") {
  auto i = parse_one("loss:5%,burst:gilbert(0.02,0.4),delay:10ms,jitter:4ms,reorder:2%,dup:1%");
  impairment_model a(i, 42), b(i, 42), c(i, 43);
  auto ta = run(a, 5000), tb = run(b, 5000), tc = run(c, 5000);
  auto same = [](const std::vector<message_fate>& x, const std::vector<message_fate>& y) {
    for (std::size_t k = 0; k < x.size(); ++k)
      if (x[k].dropped != y[k].dropped || x[k].arrivals != y[k].arrivals ||
          x[k].reordered != y[k].reordered)
        return false;
    return true;
  };
  CHECK(same(ta, tb));
  CHECK(!same(ta, tc));
}

TEST_CASE("impairment: Bernoulli loss, duplication and reordering within bounds",
          "[unit][impair]") {
  constexpr int n = 100'000;
  impairment_model m(parse_one("loss:2%,dup:0.5%,reorder:1%,delay:5ms"), 7);
  run(m, n);
  auto& s = m.stats();
  CHECK(near_binomial(s.lost, n, 0.02));
  CHECK(near_binomial(s.duplicated, n - s.lost, 0.005));
  CHECK(near_binomial(s.reordered, n - s.lost, 0.01));
}

TEST_CASE("impairment: Gilbert-Elliott bursts lose the stationary share, in bursts",
          "[unit][impair]") {
  constexpr int n = 200'000;
  double p = 0.01, r = 0.3;
  impairment_model m(parse_one("burst:gilbert(0.01,0.3)"), 11);
  auto fates = run(m, n);
  double expected = p / (p + r); // time spent bad, where all are lost
  CHECK(m.stats().burst_lost == Approx(expected * n).epsilon(0.1));
  // Mean run of consecutive losses: 1 / r.
  int runs = 0, in_run = 0, total = 0;
  for (auto& f : fates) {
    if (f.dropped == message_fate::cause::burst) {
      ++total;
      if (!in_run++) ++runs;
    } else {
      in_run = 0;
    }
  }
  CHECK(double(total) / runs == Approx(1 / r).epsilon(0.1));
}

TEST_CASE("impairment: delay and jitter stay in their range and keep the order", "[unit][impair]") {
  impairment_model m(parse_one("delay:20ms,jitter:5ms"), 3);
  auto fates = run(m, 10'000, 100, 100us); // faster than the jitter: order is kept by waiting
  auto t = clock_type::time_point{} + 1s;
  auto last = clock_type::time_point{};
  for (auto& f : fates) {
    REQUIRE(f.arrivals.size() == 1);
    auto at = t + f.arrivals[0];
    CHECK(f.arrivals[0] >= 20ms);
    CHECK(at >= last);
    last = at;
    t += 100us;
  }
  // Spaced wider than the jitter, each lands in delay + [0, jitter].
  impairment_model spaced(parse_one("delay:20ms,jitter:5ms"), 3);
  for (auto& f : run(spaced, 2000, 100, 10ms)) {
    CHECK(f.arrivals[0] >= 20ms);
    CHECK(f.arrivals[0] <= 25ms);
  }
}

TEST_CASE("impairment: a rate limit holds, and a full queue drops at the tail", "[unit][impair]") {
  // 1 Mbit/s, 1250 B messages: 10 ms each on the wire; sent every 5 ms.
  impairment_model m(parse_one("rate:1mbit,queue:25000b"), 5);
  auto fates = run(m, 2000, 1250, 5000us);
  int delivered = 0;
  std::chrono::steady_clock::duration first{-1}, last{};
  auto t = clock_type::time_point{} + 1s;
  for (auto& f : fates) {
    if (!f.arrivals.empty()) {
      ++delivered;
      auto at = (t + f.arrivals[0]) - clock_type::time_point{};
      if (first.count() < 0) first = at;
      last = at;
    }
    t += 5000us;
  }
  // Half of what is offered fits through; the rest is dropped at the queue.
  double rate = (delivered - 1) * 1250 * 8 / std::chrono::duration<double>(last - first).count();
  CHECK(rate == Approx(1e6).epsilon(0.05));
  CHECK(m.stats().queue_dropped > 900);
  CHECK(m.stats().queue_dropped + delivered == 2000);
}

TEST_CASE("impairment: a queue counted in packets holds that many", "[unit][impair]") {
  // 1 Mbit/s, 1250 B: 10 ms each; a burst of 20 at once: 5 fit (the one
  // on the wire counts), the rest are dropped at the tail.
  impairment_model m(parse_one("rate:1mbit,queue:5p"), 1);
  auto fates = run(m, 20, 1250, 0us);
  int delivered = 0;
  for (auto& f : fates) delivered += !f.arrivals.empty();
  CHECK(delivered == 5);
  CHECK(m.stats().queue_dropped == 15);
  CHECK(coronet::to_string({parse_one("queue:5p"), parse_one("queue:5p")}) == "queue:5p");
}

TEST_CASE("impairment: a delivery trace sends one packet per opportunity and repeats",
          "[unit][impair]") {
  auto path = std::string("impair_trace_test.txt");
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f);
    std::fputs("5\n10\n10\n20\n", f); // 4 packets per 20 ms: 2.4 Mbit/s
    std::fclose(f);
  }
  auto trace = coronet::load_delivery_trace(path);
  REQUIRE(trace);
  impairment i;
  i.trace = *trace;
  i.queue_packets = 1000;
  impairment_model m(i, 1);
  // A backlog of 12 full packets offered at t=0 leaves at 5,10,10,20, 25,30,30,40, ...
  auto fates = run(m, 12, 1500, 0us);
  std::vector<long> at;
  for (auto& f : fates)
    at.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(f.arrivals.at(0)).count());
  CHECK(at == std::vector<long>{5, 10, 10, 20, 25, 30, 30, 40, 45, 50, 50, 60});
  // Two 750 B packets share one opportunity.
  impairment_model halves(i, 1);
  auto small = run(halves, 4, 750, 0us);
  CHECK(small[0].arrivals[0] == 5ms);
  CHECK(small[1].arrivals[0] == 5ms);
  CHECK(small[2].arrivals[0] == 10ms);

  for (auto bad : {"5\nx\n", "10\n5\n", "", "0\n0\n"}) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(bad, f);
    std::fclose(f);
    CHECK(!coronet::load_delivery_trace(path));
  }
  std::remove(path.c_str());
  CHECK(!coronet::load_delivery_trace("no/such/trace"));
}

TEST_CASE("impairment: a reliable transport's model delays but never drops, duplicates or "
          "reorders",
          "[unit][impair]") {
  impairment_model m(parse_one("loss:50%,dup:50%,reorder:50%,delay:5ms,rate:1mbit,queue:2000b"), 9,
                     /*reliable*/ true);
  auto fates = run(m, 1000, 1250, 5000us);
  auto t = clock_type::time_point{} + 1s;
  auto last = clock_type::time_point{};
  for (auto& f : fates) {
    REQUIRE(f.dropped == message_fate::cause::none);
    REQUIRE(f.arrivals.size() == 1);
    CHECK(!f.reordered);
    CHECK(t + f.arrivals[0] >= last);
    last = t + f.arrivals[0];
    t += 5000us;
  }
  CHECK(m.stats().lost + m.stats().duplicated + m.stats().reordered + m.stats().queue_dropped == 0);
}
