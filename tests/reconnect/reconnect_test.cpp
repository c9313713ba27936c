// reconnecting_channel: the backoff sequence and its jitter on a manual
// clock, the reset after a stable connection, no retry after a refusal
// that retrying cannot fix, cancellation, the bounded queue while down,
// queued sends delivered once, receive across reconnections on every
// connection-oriented scheme, udp's heartbeat timeout, and a storm of
// 1,000 clients cut at once coming back spread over the jitter window.
#include <coronet/coronet.hpp>

#include "../support/run.hpp"
#include "../support/test_pki.hpp"

#include <catch2/catch.hpp>

#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <unistd.h>

using coronet::connection_event;
using coronet::connection_state;
using coronet::errc;
using coronet::manual_clock;
using coronet::reconnect_options;
using coronet::reconnecting_channel;
using namespace std::chrono_literals;

namespace {

// Runs `io` until `done()` holds; fails after `limit` of real time.
template <class Pred>
void run_until(asio::io_context& io, Pred done, std::chrono::milliseconds limit = 10s) {
  io.restart();
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) io.run_one_for(5ms);
  REQUIRE(done());
}

// Runs `io` for `d` of real time (for "nothing happens" checks).
void run_for(asio::io_context& io, std::chrono::milliseconds d) {
  io.restart();
  auto deadline = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < deadline) io.run_one_for(5ms);
}

// A loopback port nothing listens on (bound, then let go).
std::uint16_t closed_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

// The events a channel reports, and questions about them.
struct recorder {
  std::vector<connection_event> events;
  void attach(reconnect_options& o) {
    o.on_state = [this](const connection_event& e) { events.push_back(e); };
  }
  std::size_t count(connection_state s) const {
    return std::count_if(events.begin(), events.end(), [&](auto& e) { return e.state == s; });
  }
  const connection_event& last() const { return events.back(); }
  std::vector<std::chrono::milliseconds> delays() const {
    std::vector<std::chrono::milliseconds> out;
    for (auto& e : events)
      if (e.state == connection_state::waiting) out.push_back(e.delay);
    return out;
  }
};

// What a server's connections received, from every thread.
struct inbox {
  std::mutex mutex;
  std::vector<std::string> messages;
  void add(std::string_view m) {
    std::lock_guard lock(mutex);
    messages.emplace_back(m);
  }
  std::vector<std::string> all() {
    std::lock_guard lock(mutex);
    return messages;
  }
};

// Echoes; "drop" makes it close the connection, "close:CODE" closes with
// that WebSocket close code.
coronet::connection_handler echo_to(std::shared_ptr<inbox> seen) {
  return [seen](coronet::channel ch) -> asio::awaitable<void> {
    for (;;) {
      auto m = co_await ch.receive();
      if (!m) co_return;
      std::string text(m->text());
      if (seen) seen->add(text);
      if (text == "drop") co_return;
      if (text.starts_with("close:")) {
        coronet::close_reason why{static_cast<std::uint16_t>(std::stoi(text.substr(6))), "bye"};
        co_await ch.close(why);
        co_return;
      }
      co_await ch.send(*m);
    }
  };
}

// A server that can go away and come back on the same address.
struct restartable {
  std::string scheme, path;
  coronet::server_options o;
  coronet::connection_handler handler;
  std::uint16_t port = 0;
  std::unique_ptr<coronet::server> server;

  restartable(std::string s, coronet::connection_handler h, coronet::server_options opts = {},
              std::string p = "")
      : scheme(std::move(s)), path(std::move(p)), o(std::move(opts)), handler(std::move(h)) {
    o.drain_timeout = 200ms;
    o.handle_signals = false;
  }
  std::string address(std::uint16_t p) const {
    if (scheme == "unix") return "unix://" + path;
    return scheme + "://127.0.0.1:" + std::to_string(p) + path;
  }
  std::string url() const { return address(port); }
  void start() {
    server = std::make_unique<coronet::server>();
    auto started = server->start(address(port), handler, o);
    REQUIRE(started);
    port = server->port();
  }
  void stop() { server.reset(); }
};

std::string text_of(const coronet::result<coronet::message_view>& m) {
  return m ? std::string(m->text()) : "error: " + m.error().message();
}

// One receive() on `rc`, run on `io` until it completes.
std::string receive_one(asio::io_context& io, reconnecting_channel& rc) {
  return coronet::test::run(io, [](reconnecting_channel r) -> asio::awaitable<std::string> {
    r.set_receive_timeout(10s);
    auto m = co_await r.receive();
    co_return text_of(m);
  }(rc));
}

void send_one(asio::io_context& io, reconnecting_channel& rc, std::string text) {
  auto sent = coronet::test::run(
      io, [](reconnecting_channel r, std::string t) -> asio::awaitable<coronet::result<void>> {
        co_return co_await r.send(coronet::message_view(t));
      }(rc, std::move(text)));
  REQUIRE(sent);
}

} // namespace

TEST_CASE("reconnect: 1-2-4-8-16-30-30 s without jitter on a manual clock") {
  asio::io_context io;
  auto clock = std::make_shared<manual_clock>();
  recorder r;
  reconnect_options o;
  o.jitter = 0;
  o.clock = clock;
  r.attach(o);
  reconnecting_channel rc(io.get_executor(), "tcp://127.0.0.1:" + std::to_string(closed_port()), o);
  std::vector<long> expected = {1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    run_until(io, [&] { return r.delays().size() == i + 1 && clock->sleepers() == 1; });
    CHECK(r.delays()[i].count() == expected[i]);
    CHECK(r.last().attempt == i + 1);
    CHECK(r.last().error == coronet::condition::refused);
    CHECK(rc.state() == connection_state::waiting);
    clock->advance(r.delays()[i] - 1ms); // not yet
    run_for(io, 20ms);
    CHECK(r.count(connection_state::connecting) == i + 1);
    clock->advance(1ms);
  }
  CHECK(rc.stats().attempts >= expected.size());
}

TEST_CASE("reconnect: jitter stays within +-50% and a seed repeats it exactly") {
  auto delays_for = [](std::uint64_t seed) {
    asio::io_context io;
    auto clock = std::make_shared<manual_clock>();
    recorder r;
    reconnect_options o;
    o.seed = seed;
    o.clock = clock;
    r.attach(o);
    reconnecting_channel rc(io.get_executor(), "tcp://127.0.0.1:" + std::to_string(closed_port()),
                            o);
    for (std::size_t i = 0; i < 8; ++i) {
      run_until(io, [&] { return r.delays().size() == i + 1 && clock->sleepers() == 1; });
      clock->advance(r.delays()[i]);
    }
    return r.delays();
  };
  auto a = delays_for(42), again = delays_for(42), other = delays_for(7);
  CHECK(a == again);
  CHECK(a != other);
  std::vector<double> base = {1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
  for (auto* run : {&a, &other})
    for (std::size_t i = 0; i < base.size(); ++i) {
      INFO("delay " << i << " = " << (*run)[i].count() << " ms");
      CHECK((*run)[i].count() >= base[i] * 0.5);
      CHECK((*run)[i].count() <= base[i] * 1.5);
    }
}

TEST_CASE("reconnect: the delays start over once a connection stayed up for stable_after") {
  asio::io_context io;
  restartable srv("tcp", echo_to(nullptr));
  srv.start();
  auto clock = std::make_shared<manual_clock>();
  recorder r;
  reconnect_options o;
  o.jitter = 0;
  o.clock = clock;
  o.stable_after = 10s;
  r.attach(o);
  reconnecting_channel rc(io.get_executor(), srv.url(), o);
  auto connected = [&](std::size_t n) {
    run_until(io, [&] { return r.count(connection_state::connected) == n; });
  };
  auto dropped = [&](std::size_t n) {
    run_until(io, [&] { return r.delays().size() == n && clock->sleepers() == 1; });
    return r.delays().back().count();
  };
  connected(1);
  send_one(io, rc, "drop"); // dropped at once: a failure
  CHECK(dropped(1) == 1000);
  clock->advance(1s);
  connected(2);
  send_one(io, rc, "drop"); // again at once: the sequence goes on
  CHECK(dropped(2) == 2000);
  clock->advance(2s);
  connected(3);
  clock->advance(10s); // up for stable_after
  send_one(io, rc, "drop");
  CHECK(dropped(3) == 1000);
  CHECK(rc.stats().losses == 3);
  CHECK(rc.stats().connections == 3);
}

TEST_CASE("reconnect: no retry after 401 or 403 at the handshake unless the app says so") {
  for (int status : {401, 403}) {
    asio::io_context io;
    coronet::server_options so;
    so.websocket.authorize = [status](const coronet::http_request&) {
      return coronet::authorization::refuse(status);
    };
    restartable srv("ws", echo_to(nullptr), so, "/chat");
    srv.start();
    recorder r;
    reconnect_options o;
    o.clock = std::make_shared<manual_clock>();
    r.attach(o);
    reconnecting_channel rc(io.get_executor(), srv.url(), o);
    run_until(io, [&] { return rc.state() == connection_state::given_up; });
    CHECK(r.last().error.value() == status);
    CHECK(r.last().error.category() == coronet::http_status_category());
    CHECK(rc.stats().attempts == 1);
    auto got = coronet::test::run(io, [](reconnecting_channel c) -> asio::awaitable<std::string> {
      co_return text_of(co_await c.receive());
    }(rc));
    CHECK(got == "error: " + r.last().error.message()); // receive() says why

    reconnect_options insist = o;
    recorder r2;
    r2.attach(insist);
    insist.retry = [](const std::error_code&) { return true; };
    reconnecting_channel stubborn(io.get_executor(), srv.url(), insist);
    run_until(io, [&] { return r2.count(connection_state::waiting) == 1; });
    CHECK(r2.last().error.value() == status);
  }
}

TEST_CASE("reconnect: WebSocket close 1008 or 4000-4999 ends it and 1011 is retried") {
  for (int code : {1008, 4001, 4999, 1011}) {
    asio::io_context io;
    restartable srv("ws", echo_to(nullptr), {}, "/chat");
    srv.start();
    recorder r;
    reconnect_options o;
    o.clock = std::make_shared<manual_clock>();
    r.attach(o);
    reconnecting_channel rc(io.get_executor(), srv.url(), o);
    run_until(io, [&] { return rc.state() == connection_state::connected; });
    send_one(io, rc, "close:" + std::to_string(code));
    run_until(io, [&] {
      return rc.state() == connection_state::given_up || rc.state() == connection_state::waiting;
    });
    INFO("close code " << code);
    CHECK(r.last().error.value() == code);
    CHECK(rc.state() == (code == 1011 ? connection_state::waiting : connection_state::given_up));
  }
}

TEST_CASE("reconnect: max_attempts failures in a row give up") {
  asio::io_context io;
  auto clock = std::make_shared<manual_clock>();
  recorder r;
  reconnect_options o;
  o.clock = clock;
  o.max_attempts = 3;
  r.attach(o);
  reconnecting_channel rc(io.get_executor(), "tcp://127.0.0.1:" + std::to_string(closed_port()), o);
  for (int i = 0; i < 2; ++i) {
    run_until(io, [&] { return clock->sleepers() == 1; });
    clock->advance(clock->next_due());
  }
  run_until(io, [&] { return rc.state() == connection_state::given_up; });
  CHECK(rc.stats().attempts == 3);
  CHECK(r.last().error == coronet::condition::refused);
}

TEST_CASE("reconnect: abort() stops it at once whether waiting or connecting or in on_connected") {
  SECTION("waiting") {
    asio::io_context io;
    auto clock = std::make_shared<manual_clock>();
    recorder r;
    reconnect_options o;
    o.clock = clock;
    r.attach(o);
    reconnecting_channel rc(io.get_executor(), "tcp://127.0.0.1:" + std::to_string(closed_port()),
                            o);
    run_until(io, [&] { return clock->sleepers() == 1; });
    rc.abort();
    CHECK(rc.state() == connection_state::closed);
    run_until(io, [&] { return clock->sleepers() == 0; }); // the sleep was cancelled
    clock->advance(60s);
    run_for(io, 30ms);
    CHECK(rc.stats().attempts == 1);
    CHECK(r.last().state == connection_state::closed);
  }
  SECTION("in on_connected while it waits for a reply that never comes") {
    asio::io_context io;
    restartable srv("tcp", echo_to(nullptr));
    srv.start();
    reconnect_options o;
    bool hook_ended = false;
    o.on_connected = [&](coronet::channel& ch) -> asio::awaitable<coronet::result<void>> {
      auto m = co_await ch.receive(); // the echo server says nothing first
      hook_ended = true;
      if (!m) co_return coronet::fail(m.error());
      co_return coronet::result<void>();
    };
    reconnecting_channel rc(io.get_executor(), srv.url(), o);
    run_for(io, 100ms);
    CHECK(rc.state() == connection_state::connecting);
    rc.abort();
    run_until(io, [&] { return hook_ended; });
    CHECK(rc.state() == connection_state::closed);
  }
  SECTION("a pending receive() fails with closed") {
    asio::io_context io;
    restartable srv("tcp", echo_to(nullptr));
    srv.start();
    reconnecting_channel rc(io.get_executor(), srv.url());
    std::string got;
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { got = text_of(co_await rc.receive()); },
        asio::detached);
    run_until(io, [&] { return rc.state() == connection_state::connected; });
    rc.abort();
    run_until(io, [&] { return !got.empty(); });
    CHECK(got == "error: " + std::error_code(errc::closed).message());
  }
}

TEST_CASE("reconnect: while down sends wait in a bounded queue") {
  auto port = closed_port();
  auto url = "tcp://127.0.0.1:" + std::to_string(port);
  auto make = [&](asio::io_context& io, coronet::slow_consumer_policy p) {
    reconnect_options o;
    o.clock = std::make_shared<manual_clock>();
    o.queue_limit = 10;
    o.queue_policy = p;
    return reconnecting_channel(io.get_executor(), url, o);
  };
  SECTION("drop_newest refuses what does not fit") {
    asio::io_context io;
    auto rc = make(io, coronet::slow_consumer_policy::drop_newest);
    CHECK(rc.try_send("12345"));
    CHECK(rc.try_send("67890"));
    auto full = rc.try_send("x");
    REQUIRE(!full);
    CHECK(full.error() == errc::backpressure);
    CHECK(rc.stats().queued == 2);
    CHECK(rc.stats().queue_dropped == 1);
  }
  SECTION("drop_oldest makes room") {
    asio::io_context io;
    auto rc = make(io, coronet::slow_consumer_policy::drop_oldest);
    CHECK(rc.try_send("12345"));
    CHECK(rc.try_send("67890"));
    CHECK(rc.try_send("abc"));
    CHECK(rc.stats().queued == 2);
    CHECK(rc.stats().queue_dropped == 1);
  }
  SECTION("wait - send() waits and try_send() refuses") {
    asio::io_context io;
    auto rc = make(io, coronet::slow_consumer_policy::wait);
    CHECK(rc.try_send("1234567890"));
    bool sent = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto r = co_await rc.send("later");
          sent = bool(r);
        },
        asio::detached);
    run_for(io, 50ms);
    CHECK(!sent);
    CHECK(rc.try_send("x").error() == errc::backpressure);
    rc.abort();
    run_for(io, 20ms);
    CHECK(rc.stats().queue_dropped >= 1);
  }
}

TEST_CASE("reconnect: on_connected runs first and then the queued sends are delivered once each") {
  asio::io_context io;
  auto seen = std::make_shared<inbox>();
  restartable srv("tcp", echo_to(seen));
  srv.start();
  auto url = srv.url();
  srv.stop(); // down before the client starts
  auto clock = std::make_shared<manual_clock>();
  reconnect_options o;
  o.clock = clock;
  o.on_connected = [](coronet::channel& ch) -> asio::awaitable<coronet::result<void>> {
    co_return co_await ch.send("hello");
  };
  reconnecting_channel rc(io.get_executor(), url, o);
  run_until(io, [&] { return rc.state() == connection_state::waiting; });
  for (auto m : {"a", "b", "c"}) REQUIRE(rc.try_send(m));
  srv.start();
  clock->advance(clock->next_due());
  run_until(io, [&] { return seen->all().size() == 4; });
  CHECK(seen->all() == std::vector<std::string>{"hello", "a", "b", "c"});
  CHECK(rc.stats().queued == 0);
  srv.stop(); // the connection goes; the next one says hello again and nothing else
  run_until(io, [&] { return clock->sleepers() == 1; });
  srv.start();
  clock->advance(clock->next_due());
  run_until(io, [&] { return seen->all().size() == 5; });
  run_for(io, 100ms);
  CHECK(seen->all() == std::vector<std::string>{"hello", "a", "b", "c", "hello"});
}

TEST_CASE("reconnect: receive() goes on across a server restart on every scheme") {
  coronet::test::test_ca ca;
  auto server_cert = ca.issue({});
  auto ca_file = coronet::test::write_temp_file("ca.pem", ca.cert_pem());
  auto socket_path = std::filesystem::temp_directory_path() /
                     ("coronet-reconnect-" + std::to_string(::getpid()) + ".sock");
  for (std::string scheme : {"tcp", "ws", "tls", "wss", "unix"}) {
    INFO(scheme);
    asio::io_context io;
    coronet::server_options so;
    so.tls.identities = {coronet::test::identity_of(server_cert)};
    restartable srv(scheme, echo_to(nullptr), so,
                    scheme == "unix"          ? socket_path.string()
                    : scheme.starts_with("w") ? "/echo"
                                              : "");
    srv.start();
    auto clock = std::make_shared<manual_clock>();
    reconnect_options o;
    o.clock = clock;
    o.connect.tls.ca_files = {ca_file};
    auto url = srv.url();
    if (scheme == "tls" || scheme == "wss") {
      auto at = url.find("127.0.0.1");
      url.replace(at, 9, "localhost");
    }
    reconnecting_channel rc(io.get_executor(), url, o);
    send_one(io, rc, "one");
    CHECK(receive_one(io, rc) == "one");
    srv.stop();
    run_until(io, [&] { return rc.state() == connection_state::waiting; });
    srv.start();
    clock->advance(clock->next_due());
    send_one(io, rc, "two"); // queued or sent, either way it arrives once
    CHECK(receive_one(io, rc) == "two");
    CHECK(rc.stats().connections == 2);
    CHECK(rc.properties().scheme == scheme);
  }
}

TEST_CASE("reconnect: over udp:// a heartbeat timeout says the peer is gone") {
  asio::io_context io;
  // Answers the first datagram of each peer, then goes silent.
  coronet::connection_handler once = [](coronet::channel ch) -> asio::awaitable<void> {
    auto m = co_await ch.receive();
    if (!m) co_return;
    co_await ch.send(*m);
    for (;;)
      if (!co_await ch.receive()) co_return;
  };
  restartable srv("udp", once);
  srv.start();
  auto clock = std::make_shared<manual_clock>();
  recorder r;
  reconnect_options o;
  o.clock = clock;
  o.heartbeat_timeout = 300ms;
  r.attach(o);
  reconnecting_channel rc(io.get_executor(), srv.url(), o);
  send_one(io, rc, "ping");
  CHECK(receive_one(io, rc) == "ping");
  run_until(
      io, [&] { return rc.state() == connection_state::waiting; }, 3s);
  CHECK(r.last().error == errc::timeout);
  CHECK(rc.stats().losses == 1);
}

TEST_CASE("reconnect: over udp:// a server that was away hears the next datagrams at once") {
  asio::io_context io;
  auto seen = std::make_shared<inbox>();
  restartable srv("udp", echo_to(seen));
  srv.start();
  reconnect_options o;
  o.clock = std::make_shared<manual_clock>(); // (no time passes for a retry)
  reconnecting_channel rc(io.get_executor(), srv.url(), o);
  send_one(io, rc, "one");
  CHECK(receive_one(io, rc) == "one");
  srv.stop();
  for (int i = 0; i < 5; ++i) { // refused by the kernel: lost, as UDP loses them
    send_one(io, rc, "lost");
    run_for(io, 20ms);
  }
  CHECK(rc.state() == connection_state::connected);
  srv.start();
  send_one(io, rc, "two");
  CHECK(receive_one(io, rc) == "two");
  CHECK(rc.stats().losses == 0);
  CHECK(rc.stats().connections == 1);
}

TEST_CASE("reconnect: a thousand clients cut at once come back spread over the jitter window") {
  coronet::test::raise_fd_limit();
  constexpr int clients = 1000;
  asio::io_context io;
  coronet::server_options so;
  so.backlog = 4096;
  restartable srv("tcp", echo_to(nullptr), so);
  srv.start();
  using steady = std::chrono::steady_clock;
  std::vector<steady::time_point> lost(clients), back(clients);
  std::vector<int> connects(clients, 0);
  std::vector<reconnecting_channel> all;
  all.reserve(clients);
  for (int i = 0; i < clients; ++i) {
    reconnect_options o;
    o.seed = i + 1;
    o.on_state = [&, i](const connection_event& e) {
      if (e.state == connection_state::waiting && connects[i] == 1) lost[i] = steady::now();
      if (e.state == connection_state::connected && ++connects[i] == 2) back[i] = steady::now();
    };
    all.emplace_back(io.get_executor(), srv.url(), o);
  }
  run_until(
      io, [&] { return std::count(connects.begin(), connects.end(), 1) == clients; }, 30s);
  auto cut = steady::now();
  srv.stop(); // every connection cut at once
  srv.start();
  run_until(
      io, [&] { return std::count(connects.begin(), connects.end(), 2) == clients; }, 30s);
  // Each came back after its first delay, 1 s +-50%: between 0.5 and 1.5 s
  // after it saw the cut, spread evenly over that window, not in a burst.
  std::vector<double> after;
  for (int i = 0; i < clients; ++i)
    after.push_back(std::chrono::duration<double>(back[i] - lost[i]).count());
  std::sort(after.begin(), after.end());
  auto span =
      std::chrono::duration<double>(*std::max_element(back.begin(), back.end()) - cut).count();
  INFO("first back " << after.front() << " s after its loss, last " << after.back()
                     << " s; all back " << span << " s after the cut");
  CHECK(after.front() >= 0.49);
  CHECK(after.back() <= 2.5); // (1.5 s, and the reconnection itself on a busy machine)
  std::array<int, 4> quarters{};
  for (double a : after) quarters[std::clamp(int((a - 0.5) / 0.25), 0, 3)]++;
  for (int q : quarters) {
    INFO("clients per quarter of the window: " << quarters[0] << " " << quarters[1] << " "
                                               << quarters[2] << " " << quarters[3]);
    CHECK(q >= clients / 4 - 90);
    CHECK(q <= clients / 4 + 90);
  }
  for (auto& rc : all) rc.abort();
  run_for(io, 50ms);
}
