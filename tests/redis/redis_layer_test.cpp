// The Redis channel layer against a real redis-server the test starts: two
// "processes" (two groups + layers with their own node ids) share groups,
// each message reaches each member once, subscriptions follow membership,
// an outage (Redis killed, or hung) is survived, presence expires, and
// URLs, passwords, databases and Unix sockets work.  Skipped, visibly,
// where redis-server is not installed.
#include <coronet/framed.hpp>
#include <coronet/memory_stream.hpp>
#include <coronet/redis_layer.hpp>

#include "../../lib/redis_url.hpp"
#include "../support/group_member.hpp"
#include "../support/log_capture.hpp"
#include "../support/redis_server.hpp"
#include "../support/run.hpp"
#include "../support/skip.hpp"

#include <asio/detached.hpp>

#include <catch2/catch.hpp>

#include <map>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

using coronet::memory_stream;
using coronet::test::redis_server;
using coronet::test::run;
using coronet::test::sleep_for;
using endpoint = coronet::test::member_endpoint;
using namespace std::chrono_literals;

namespace {

using member = coronet::test::group_member;

std::unique_ptr<member> join(asio::io_context& io, coronet::group g, std::string name) {
  return coronet::test::join_member(io.get_executor(), std::move(g), std::move(name));
}

// Every message a member gets until `quiet` passes without one.
asio::awaitable<std::vector<std::string>> drain(member& m, std::chrono::milliseconds quiet) {
  std::vector<std::string> got;
  m.peer->set_receive_timeout(quiet);
  while (auto r = co_await m.peer->receive()) got.emplace_back(r->text());
  co_return got;
}

coronet::redis_options fast_options() {
  coronet::redis_options o;
  o.reconnect_initial = 50ms;
  o.reconnect_max = 200ms;
  o.connect_timeout = 2s;
  o.command_timeout = 500ms;
  return o;
}

asio::awaitable<std::shared_ptr<coronet::redis_layer>> connect_layer(std::string url,
                                                                     coronet::redis_options o) {
  auto l = co_await coronet::redis_layer::connect(co_await asio::this_coro::executor, url, o);
  REQUIRE(l);
  co_return *l;
}

// Waits (bounded) until `pred()` holds.
template <class Pred>
asio::awaitable<bool> eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!co_await pred()) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    co_await sleep_for(20ms);
  }
  co_return true;
}

// Subscribers of a group's channel, as Redis counts them.
asio::awaitable<std::int64_t> subscribers(coronet::redis_layer& l, std::string_view group) {
  std::vector<std::string> numsub{"PUBSUB", "NUMSUB", "coronet:group:" + std::string(group)};
  auto r = co_await l.command(std::move(numsub));
  if (!r || r->elements.size() != 2) co_return -1;
  co_return r->elements[1].integer;
}

// Two processes' worth of groups on one Redis.
struct two_nodes {
  asio::io_context io;
  redis_server redis;
  std::shared_ptr<coronet::redis_layer> la, lb;
  std::optional<coronet::groups> a, b;

  explicit two_nodes(coronet::redis_options o = fast_options()) {
    la = run(io, connect_layer(redis.url(), o));
    lb = run(io, connect_layer(redis.url(), o));
    a.emplace(coronet::group_options{}, la);
    b.emplace(coronet::group_options{}, lb);
  }
  bool both_subscribed(const std::string& group, std::int64_t n = 2) {
    return run(io, eventually([&]() -> asio::awaitable<bool> {
                 co_return co_await subscribers(*la, group) == n;
               }));
  }
};

} // namespace

TEST_CASE("redis: a publish reaches the members of every process exactly once",
          "[integration][redis]") {
  two_nodes n;
  CHECK(n.la->node_id() != n.lb->node_id());
  auto ra = n.a->get("room"), rb = n.b->get("room");
  auto a1 = join(n.io, ra, "a1"), a2 = join(n.io, ra, "a2");
  auto b1 = join(n.io, rb, "b1");
  REQUIRE(n.both_subscribed("room"));

  for (int i = 0; i < 50; ++i) {
    ra.publish(coronet::shared_message("a" + std::to_string(i)));
    rb.publish(coronet::shared_message("b" + std::to_string(i)));
  }
  for (auto* m : {a1.get(), a2.get(), b1.get()}) {
    auto got = run(n.io, drain(*m, 500ms));
    CHECK(got.size() == 100); // each once: none lost, none twice
    std::map<char, int> next;
    for (auto& s : got) {
      CHECK(std::stoi(s.substr(1)) == next[s[0]]); // each publisher's in order
      next[s[0]] = std::stoi(s.substr(1)) + 1;
    }
  }
  auto sa = n.la->stats(), sb = n.lb->stats();
  CHECK(sa.connected);
  CHECK(sa.published == 50);
  CHECK(sa.received == 50);
  CHECK(sb.received == 50);
  CHECK(ra.stats().received == 50);
  CHECK(ra.stats().delivered == 200);
  // A real client sees the same channel.
  CHECK(n.redis.cli("PUBSUB NUMSUB coronet:group:room") == "coronet:group:room\n2");
}

TEST_CASE("redis: numbered messages are in order in every process, and kept as history",
          "[integration][redis][numbered]") {
  asio::io_context io;
  redis_server redis;
  auto la = run(io, connect_layer(redis.url(), fast_options()));
  auto lb = run(io, connect_layer(redis.url(), fast_options()));
  coronet::groups a({.history = 20}, la), b({.history = 20}, lb);
  auto ra = a.get("room"), rb = b.get("room");
  auto a1 = join(io, ra, "a1");
  auto b1 = join(io, rb, "b1");
  REQUIRE(run(io, eventually([&]() -> asio::awaitable<bool> {
                co_return co_await subscribers(*la, "room") == 2;
              })));

  // Both processes publish at once; the numbers interleave, and every
  // member sees 1..100 in order, each once.
  auto publish_all = [](coronet::group g, std::string who) -> asio::awaitable<void> {
    for (int i = 0; i < 50; ++i) {
      auto seq = co_await g.publish_numbered(who, "");
      REQUIRE(seq);
    }
  };
  asio::co_spawn(io, publish_all(ra, "a:"), asio::detached);
  asio::co_spawn(io, publish_all(rb, "b:"), asio::detached);
  for (auto* m : {a1.get(), b1.get()}) {
    auto got = run(io, drain(*m, 500ms));
    REQUIRE(got.size() == 100);
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i].substr(2) == std::to_string(i + 1));
  }
  auto kept = run(io, rb.history());
  REQUIRE(kept);
  REQUIRE(kept->messages.size() == 20);
  CHECK(kept->messages.front().seq == 81);
  CHECK(kept->messages.back().seq == 100);
  CHECK(redis.cli("GET coronet:epoch:room") == kept->epoch);
  CHECK(redis.cli("LLEN coronet:history:room") == "20");

  // Redis restarts empty: the numbers still go up, from what we have seen.
  redis.kill();
  redis.start();
  REQUIRE(run(io, eventually([&]() -> asio::awaitable<bool> {
                co_return la->stats().connected&& co_await subscribers(*la, "room") == 2;
              })));
  auto next = run(io, ra.publish_numbered("a:", ""));
  REQUIRE(next);
  CHECK(*next == 101);
  CHECK(run(io, drain(*b1, 500ms)) == std::vector<std::string>{"a:101"});
}

TEST_CASE("redis: a group is subscribed only while the process has a member",
          "[integration][redis]") {
  two_nodes n;
  auto ra = n.a->get("room"), rb = n.b->get("room");
  auto a1 = join(n.io, ra, "a1");
  REQUIRE(n.both_subscribed("room", 1));
  {
    auto b1 = join(n.io, rb, "b1");
    REQUIRE(n.both_subscribed("room", 2));
  }
  CHECK(n.both_subscribed("room", 1)); // b1 left: b's process unsubscribed
  // Churn: join and leave quickly, many times; the end state is what counts.
  for (int i = 0; i < 20; ++i) {
    auto b = join(n.io, rb, "churn");
    run(n.io, sleep_for(std::chrono::milliseconds(i % 3)));
  }
  CHECK(n.both_subscribed("room", 1));
  auto b2 = join(n.io, rb, "b2");
  REQUIRE(n.both_subscribed("room", 2));
  ra.publish(coronet::shared_message(std::string("after churn")));
  CHECK(run(n.io, drain(*b2, 500ms)) == std::vector<std::string>{"after churn"});

  // b's last group left and another joined in the same turn: an
  // UNSUBSCRIBE and a SUBSCRIBE of different channels in flight together.
  // (hiredis 0.14 leaves subscribed mode when a reply counts 0 channels;
  // the layer keeps a channel of its own subscribed so none ever does.)
  b2.reset();
  auto other = n.b->get("other");
  auto b3 = join(n.io, other, "b3");
  auto a_other = n.a->get("other");
  REQUIRE(n.both_subscribed("other", 1));
  a_other.publish(coronet::shared_message(std::string("to the other room")));
  CHECK(run(n.io, drain(*b3, 500ms)) == std::vector<std::string>{"to the other room"});
  CHECK(n.lb->stats().connected);
}

TEST_CASE("redis: killed and restarted, local delivery never stops and remote resumes",
          "[integration][redis]") {
  coronet::test::log_capture logs;
  two_nodes n;
  auto ra = n.a->get("room"), rb = n.b->get("room");
  auto a1 = join(n.io, ra, "a1");
  auto b1 = join(n.io, rb, "b1");
  REQUIRE(n.both_subscribed("room"));

  n.redis.kill();
  REQUIRE(run(n.io, eventually([&]() -> asio::awaitable<bool> {
                co_return !n.la->stats().connected && !n.lb->stats().connected;
              })));
  CHECK(n.la->stats().outages == 1);
  CHECK(logs.mentions("redis: lost"));
  for (int i = 0; i < 10; ++i) ra.publish(coronet::shared_message("down" + std::to_string(i)));
  auto local = run(n.io, drain(*a1, 300ms));
  CHECK(local.size() == 10);                   // this process's members got every message
  CHECK(run(n.io, drain(*b1, 300ms)).empty()); // the other process's could not
  CHECK(n.la->stats().publish_lost == 10);

  n.redis.start();
  REQUIRE(run(n.io, eventually([&]() -> asio::awaitable<bool> {
                co_return n.la->stats().connected&& n.lb->stats().connected;
              })));
  CHECK(n.la->stats().reconnects == 1);
  CHECK(logs.mentions("redis: reconnected"));
  REQUIRE(n.both_subscribed("room")); // resubscribed by themselves
  ra.publish(coronet::shared_message(std::string("back")));
  CHECK(run(n.io, drain(*b1, 500ms)) == std::vector<std::string>{"back"});
  CHECK(run(n.io, drain(*a1, 100ms)) == std::vector<std::string>{"back"});
}

TEST_CASE("redis: a Redis that hangs is an outage too", "[integration][redis]") {
  two_nodes n;
  auto ra = n.a->get("room");
  auto a1 = join(n.io, ra, "a1");
  n.redis.pause(); // SIGSTOP: sockets stay open, nothing answers
  std::vector<std::string> ping{"PING"};
  auto started = std::chrono::steady_clock::now();
  auto r = run(n.io, n.la->command(std::move(ping)));
  CHECK_FALSE(r); // dropped after command_timeout (500 ms), checked each second
  CHECK(std::chrono::steady_clock::now() - started < 3s);
  CHECK(n.la->stats().outages == 1);
  n.redis.resume();
  CHECK(
      run(n.io, eventually([&]() -> asio::awaitable<bool> { co_return n.la->stats().connected; })));
}

namespace {

// The child of the presence test: joins "carol" through a layer of its own,
// tells the parent once Redis has her, then waits to be killed.
[[noreturn]] void crashing_process(std::string url, coronet::redis_options o, int ready) {
  asio::io_context io;
  std::shared_ptr<coronet::redis_layer> layer;
  std::optional<coronet::groups> g;
  std::unique_ptr<member> carol;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto l = co_await coronet::redis_layer::connect(io.get_executor(), url, o);
        if (!l) ::_exit(1);
        layer = *l;
        g.emplace(coronet::group_options{}, layer);
        carol = std::make_unique<member>(coronet::test::make_member(io.get_executor()));
        auto joined = g->get("room").join(carol->ch, "carol");
        if (!joined) ::_exit(1);
        carol->joined = std::move(*joined);
        for (;;) {
          auto names = co_await g->get("room").presence();
          if (names && std::count(names->begin(), names->end(), "carol")) break;
          co_await sleep_for(10ms);
        }
        if (::write(ready, "x", 1) != 1) ::_exit(1);
      },
      asio::detached);
  io.run(); // the layer keeps it running until the parent kills us
  ::_exit(0);
}

} // namespace

TEST_CASE("redis: presence across processes, and a crashed process's members expire",
          "[integration][redis][presence]") {
  auto o = fast_options();
  o.presence_ttl = 1500ms;
  two_nodes n(o);
  auto ra = n.a->get("room"), rb = n.b->get("room");
  auto alice = join(n.io, ra, "alice");
  auto bob = join(n.io, rb, "bob");
  auto bob_too = join(n.io, rb, "bob"); // the same name twice (two tabs)
  auto everyone = [&] {
    return run(n.io, eventually([&]() -> asio::awaitable<bool> {
                 auto p = co_await ra.presence();
                 co_return p && p->size() == 2;
               }))
               ? *run(n.io, ra.presence())
               : std::vector<std::string>{};
  };
  CHECK(everyone() == std::vector<std::string>{"alice", "bob"});
  bob.reset(); // one of bob's two memberships: still present
  run(n.io, sleep_for(100ms));
  CHECK(*run(n.io, ra.presence()) == std::vector<std::string>{"alice", "bob"});

  // A process that crashes: a child process with a member, killed with
  // SIGKILL.  Its entry stays until its deadline, then goes.
  bob.reset();
  bob_too.reset();
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(ready[0]);
    crashing_process(n.redis.url(), o, ready[1]); // never returns
  }
  ::close(ready[1]);
  pollfd p{ready[0], POLLIN, 0};
  REQUIRE(::poll(&p, 1, 10'000) == 1); // the child's member is present
  ::close(ready[0]);
  CHECK(*run(n.io, ra.presence()) == std::vector<std::string>{"alice", "carol"});
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  auto crashed = std::chrono::steady_clock::now();
  CHECK(*run(n.io, ra.presence()) == std::vector<std::string>{"alice", "carol"}); // not at once
  REQUIRE(run(n.io, eventually([&]() -> asio::awaitable<bool> {
                auto p = co_await ra.presence();
                co_return p&&* p == std::vector<std::string>{"alice"};
              })));
  CHECK(std::chrono::steady_clock::now() - crashed < o.presence_ttl + 500ms);

  // A clean close removes this process's entries at once.
  run(n.io, n.la->close());
  auto la2 = run(n.io, connect_layer(n.redis.url(), o));
  coronet::groups c({}, la2);
  auto names = run(n.io, c.get("room").presence());
  REQUIRE(names);
  CHECK(names->empty());
}

TEST_CASE("redis: URLs, refusals, passwords, databases, Unix sockets", "[integration][redis]") {
  asio::io_context io;
  auto connect = [&](std::string url, coronet::redis_options o = fast_options()) {
    return run(io, coronet::redis_layer::connect(io.get_executor(), url, o));
  };
  SECTION("URLs") {
    std::string why;
    auto a = coronet::parse_redis_url("redis://:p%40ss@example.com:6380/2", why);
    REQUIRE(a);
    CHECK(a->host == "example.com");
    CHECK(a->port == 6380);
    CHECK(a->db == 2);
    CHECK(a->password == "p@ss");
    auto u = coronet::parse_redis_url("redis://app:secret@[::1]", why);
    REQUIRE(u);
    CHECK(u->host == "::1");
    CHECK(u->user == "app");
    CHECK(u->port == 6379);
    auto s = coronet::parse_redis_url("unix:///run/redis.sock?db=1&password=x", why);
    REQUIRE(s);
    CHECK(s->path == "/run/redis.sock");
    CHECK(s->db == 1);
    for (auto bad : {"http://x", "redis://", "redis://h:99999", "redis://h/x", "unix://rel.sock",
                     "unix:///s?color=red", "redis://h:1/2?db=3"}) {
      INFO(bad);
      CHECK(connect(bad).error() == coronet::errc::invalid_url);
    }
    CHECK(connect("rediss://h").error() == coronet::errc::unsupported);
  }
  SECTION("nothing listening") {
    redis_server r;
    auto url = r.url();
    r.kill();
    auto l = connect(url);
    REQUIRE_FALSE(l);
    CHECK(l.error() == coronet::errc::connection_refused);
  }
  SECTION("a password") {
    redis_server r({.password = "hunter2"});
    auto plain = "redis://127.0.0.1:" + std::to_string(r.port());
    CHECK(connect(plain).error() == coronet::errc::unauthorized);
    CHECK(connect("redis://:wrong@127.0.0.1:" + std::to_string(r.port())).error() ==
          coronet::errc::unauthorized);
    CHECK(connect(r.url()));
  }
  SECTION("a database and a Unix socket") {
    redis_server r;
    auto l = connect(r.url(3));
    REQUIRE(l);
    std::vector<std::string> set{"SET", "where", "db3"};
    auto ok = run(io, (*l)->command(std::move(set)));
    REQUIRE(ok);
    CHECK(ok->str == "OK");
    CHECK(r.cli("-n 3 GET where") == "db3");
    auto u = connect("unix://" + r.socket_path() + "?db=3");
    REQUIRE(u);
    std::vector<std::string> get{"GET", "where"};
    auto got = run(io, (*u)->command(std::move(get)));
    REQUIRE(got);
    CHECK(got->str == "db3");
  }
}

namespace coronet::test {
std::string skip_reason() {
  return redis_server::available() ? ""
                                   : "redis-server is not installed (scripts/setup.sh installs it)";
}
} // namespace coronet::test

TEST_CASE("redis: a member of another process comes back with since and misses nothing",
          "[integration][redis][recovery]") {
  asio::io_context io;
  redis_server redis;
  auto la = run(io, connect_layer(redis.url(), fast_options()));
  auto lb = run(io, connect_layer(redis.url(), fast_options()));
  coronet::groups a({.history = 1000}, la), b({.history = 1000}, lb);
  auto ra = a.get("room"), rb = b.get("room");
  auto a1 = join(io, ra, "a1");
  // A publishes 1..1000 back to back while b's member (b's first: b
  // subscribes as it joins) comes back having seen up to 10: the messages
  // published between b's SUBSCRIBE and its history read are in both, and
  // must come once.
  bool done = false;
  asio::co_spawn(
      io,
      [](coronet::group g, bool& finished) -> asio::awaitable<void> {
        for (int i = 0; i < 1000; ++i) {
          auto seq = co_await g.publish_numbered("a:", "");
          REQUIRE(seq);
        }
        finished = true;
      }(ra, done),
      asio::detached);
  REQUIRE(run(
      io, eventually([&]() -> asio::awaitable<bool> { co_return ra.stats().published >= 50; })));
  auto back = coronet::test::make_member(io.get_executor());
  auto c = run(io, rb.join_since(back.ch, "back", 10));
  REQUIRE(c);
  CHECK(c->recovered);
  CHECK(c->epoch == redis.cli("GET coronet:epoch:room"));
  REQUIRE(!c->missed.empty());
  c->member.resume();
  std::vector<std::uint64_t> seen;
  for (auto& m : c->missed) seen.push_back(std::stoull(std::string(m.message.text().substr(2))));
  REQUIRE(run(io, eventually([&]() -> asio::awaitable<bool> { co_return done; })));
  member wrapper{back.ch, std::move(back.peer), {}};
  for (auto& text : run(io, drain(wrapper, 500ms))) seen.push_back(std::stoull(text.substr(2)));
  INFO("caught up to " << c->missed.back().seq << " from the history");
  for (std::size_t i = 0; i < seen.size(); ++i)
    if (seen[i] != 11 + i) {
      INFO("at " << i << ": " << seen[i] << " where " << 11 + i << " belongs (previous "
                 << (i ? seen[i - 1] : 0) << ", next " << (i + 1 < seen.size() ? seen[i + 1] : 0)
                 << ")");
      CHECK(false);
      break;
    }
  REQUIRE(seen.size() == 990);
  for (std::size_t i = 0; i < seen.size(); ++i) REQUIRE(seen[i] == 11 + i);

  // Redis restarts empty: a new epoch, and a member from the old one is
  // told it may have missed messages.
  redis.kill();
  redis.start();
  REQUIRE(run(io, eventually([&]() -> asio::awaitable<bool> {
                co_return lb->stats().connected && la->stats().connected;
              })));
  auto late = coronet::test::make_member(io.get_executor());
  auto again = run(io, rb.join_since(late.ch, "late", 1000, c->epoch));
  REQUIRE(again);
  CHECK(!again->recovered);
  CHECK(again->epoch != c->epoch);
}
