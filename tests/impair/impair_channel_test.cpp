// coronet::impair() over real channels on loopback: a delay shows in the
// round trip, a datagram channel loses what the model says and nothing
// else, a reliable one loses nothing and keeps the order however bad the
// spec, and what the link did is counted.
#include <coronet/coronet.hpp>
#include <coronet/impair.hpp>

#include "../support/echo.hpp"
#include "../support/run.hpp"

#include <catch2/catch.hpp>

using coronet::test::run;
using namespace std::chrono_literals;

namespace {

coronet::impairment_spec spec_of(std::string_view text) {
  auto s = coronet::parse_impairment(text);
  REQUIRE(s);
  return *s;
}

struct echo_server {
  coronet::server server;
  std::string scheme;
  explicit echo_server(std::string s) : scheme(std::move(s)) {
    coronet::server_options o;
    o.handle_signals = false;
    REQUIRE(server.start(scheme + "://127.0.0.1:0", coronet::test::echo, o));
  }
  std::string url() const { return scheme + "://127.0.0.1:" + std::to_string(server.port()); }
};

// Sends n numbered messages through `spec` and collects the echoes for
// `settle`; returns the numbers that came back, and the round trip of the first.
struct outcome {
  std::vector<int> back;
  std::chrono::steady_clock::duration first_rtt{};
  coronet::impairment_stats sent;
};

asio::awaitable<outcome> exchange(std::string url, coronet::impairment_spec spec, int n,
                                  std::chrono::milliseconds settle) {
  outcome out;
  // (Room for the echoes that wait while the loop sends, so that the kernel
  // loses none of them: only the model may.)
  coronet::options o;
  o.receive_buffer_size = 4 * 1024 * 1024;
  auto plain = co_await coronet::connect(url, o);
  REQUIRE(plain);
  auto ch = coronet::impair(*plain, spec, 42);
  auto t0 = std::chrono::steady_clock::now();
  auto first = std::string("0");
  co_await ch.send(coronet::message_view(first));
  ch.set_receive_timeout(2s);
  auto m = co_await ch.receive();
  REQUIRE(m);
  out.first_rtt = std::chrono::steady_clock::now() - t0;
  out.back.push_back(std::stoi(std::string(m->text())));
  for (int i = 1; i < n; ++i) {
    auto text = std::to_string(i);
    co_await ch.send(coronet::message_view(text));
    if (i % 10 == 0) co_await coronet::test::sleep_for(1ms); // (paced: echoes are read meanwhile)
  }
  ch.set_receive_timeout(settle);
  for (;;) {
    auto r = co_await ch.receive();
    if (!r) break;
    out.back.push_back(std::stoi(std::string(r->text())));
  }
  out.sent = *ch.info<coronet::impaired_link>()->send;
  co_return out;
}

} // namespace

TEST_CASE("impair: a delay on each way shows in the round trip", "[integration][impair]") {
  echo_server srv("udp");
  asio::io_context io;
  auto got = run(io, exchange(srv.url(), spec_of("delay:15ms"), 1, 200ms));
  CHECK(got.first_rtt >= 30ms); // 15 ms out, 15 ms back
  CHECK(got.first_rtt < 60ms);
}

TEST_CASE("impair: a datagram channel loses what its model says, and only that",
          "[integration][impair]") {
  echo_server srv("udp");
  asio::io_context io;
  // Loss on the way out only, so every echo of what got there comes back.
  auto got = run(io, exchange(srv.url(), spec_of("send:(loss:10%)"), 2000, 500ms));
  auto lost = got.sent.lost;
  INFO(lost << " lost of 2000");
  CHECK(lost > 120);
  CHECK(lost < 290);
  CHECK(got.back.size() == 2000 - lost);
}

TEST_CASE("impair: a reliable channel only delays, whatever the spec", "[integration][impair]") {
  echo_server srv("tcp");
  asio::io_context io;
  auto got =
      run(io, exchange(srv.url(), spec_of("loss:30%,dup:10%,reorder:20%,delay:5ms,jitter:3ms"),
                       2000, 300ms));
  REQUIRE(got.back.size() == 2000);
  for (int i = 0; i < 2000; ++i) REQUIRE(got.back[i] == i);
  CHECK(got.sent.lost + got.sent.duplicated + got.sent.reordered == 0);
  CHECK(got.first_rtt >= 10ms);
}

TEST_CASE("impair: duplication and reordering on a datagram channel", "[integration][impair]") {
  echo_server srv("udp");
  asio::io_context io;
  auto got =
      run(io, exchange(srv.url(), spec_of("send:(dup:5%,reorder:5%,delay:2ms)"), 2000, 500ms));
  CHECK(got.back.size() == 2000 + got.sent.duplicated);
  CHECK(got.sent.duplicated > 50);
  int out_of_order = 0;
  for (std::size_t i = 1; i < got.back.size(); ++i)
    if (got.back[i] < got.back[i - 1]) ++out_of_order;
  CHECK(out_of_order > 20);
}

TEST_CASE("impair: by URL, on connect() and on a listener", "[integration][impair]") {
  // A listener whose accepted channels delay what they send by 10 ms, and a
  // client that delays its own sends by 5 ms: 15 ms a round trip at least.
  coronet::server server;
  coronet::server_options o;
  o.handle_signals = false;
  REQUIRE(server.start("udp://127.0.0.1:0?impair=send:(delay:10ms)", coronet::test::echo, o));
  auto base = "udp://127.0.0.1:" + std::to_string(server.port());
  asio::io_context io;
  auto rtt = run(io, [](std::string url) -> asio::awaitable<std::chrono::steady_clock::duration> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    auto link = ch->info<coronet::impaired_link>();
    REQUIRE(link);
    CHECK(link->spec.send.loss == Approx(0.1));
    CHECK(link->spec.send.delay == 5ms);
    auto t0 = std::chrono::steady_clock::now();
    co_await ch->send("ping");
    // ("ping" may be lost on the way out: 10%; try again until one comes back.)
    ch->set_receive_timeout(200ms);
    auto m = co_await ch->receive();
    while (!m) {
      t0 = std::chrono::steady_clock::now();
      co_await ch->send("ping");
      m = co_await ch->receive();
    }
    co_return std::chrono::steady_clock::now() - t0;
  }(base + "?impair=send:(loss:10%25,delay:5ms)&impair_seed=3"));
  CHECK(rtt >= 15ms);

  std::string why;
  auto bad = coronet::parse_url(base + "?impair=loss:lots", &why);
  REQUIRE(!bad);
  CHECK(bad.error() == coronet::errc::invalid_url);
  CHECK(why.find("impair=loss:lots") != std::string::npos);
}

TEST_CASE("impair: a channel dropped without close() ends its link", "[integration][impair]") {
  // The link's sender and reader hold it; the application's last copy going
  // must end them, or a udp reader would wait for ever and run() not return.
  echo_server srv("udp");
  asio::io_context io;
  run(io, [](std::string url) -> asio::awaitable<int> {
    auto plain = co_await coronet::connect(url);
    REQUIRE(plain);
    auto ch = coronet::impair(*plain, spec_of("delay:5ms"), 1);
    co_await ch.send("x");
    co_return 0;
  }(srv.url()));
  io.restart();
  io.run_for(2s);
  CHECK(io.stopped()); // (no work left: nothing of the link still runs)
}
