// coronet::group in one process: members on many threads, publishers on
// many threads, slow members under each policy, members that go away.
#include <coronet/framed.hpp>
#include <coronet/group.hpp>
#include <coronet/memory_stream.hpp>

#include "../support/group_member.hpp"
#include "../support/run.hpp"

#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <thread>

using coronet::memory_stream;
using coronet::test::make_member;
using coronet::test::run;
using coronet::test::sleep_for;
using endpoint = coronet::test::member_endpoint;
using member_pair = coronet::test::group_member;
using namespace std::chrono_literals;

namespace {

std::string numbered(int publisher, int i) {
  return std::to_string(publisher) + ":" + std::to_string(i);
}

// Reads `count` messages (or until `limit`), returning their texts.
asio::awaitable<std::vector<std::string>> read_n(endpoint& peer, std::size_t count,
                                                 std::chrono::milliseconds limit = 10s) {
  std::vector<std::string> got;
  peer.set_receive_timeout(limit);
  while (got.size() < count) {
    auto m = co_await peer.receive();
    if (!m) break;
    got.emplace_back(m->text());
  }
  co_return got;
}

// Threads each running an io_context until stopped.
struct thread_pool {
  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;

  explicit thread_pool(int n) {
    for (int i = 0; i < n; ++i) {
      ios.push_back(std::make_unique<asio::io_context>(1));
      work.push_back(asio::make_work_guard(*ios.back()));
    }
    for (auto& io : ios) threads.emplace_back([&io = *io] { io.run(); });
  }
  ~thread_pool() {
    work.clear();
    for (auto& io : ios) io->stop();
    for (auto& t : threads) t.join();
  }
  // Runs `f` on thread i and waits for its result.
  template <class F>
  auto on(int i, F f) {
    std::promise<decltype(f())> p;
    auto fut = p.get_future();
    asio::post(*ios[i], [&] {
      if constexpr (std::is_void_v<decltype(f())>) {
        f();
        p.set_value();
      } else {
        p.set_value(f());
      }
    });
    return fut.get();
  }
};

} // namespace

TEST_CASE("a group delivers every publish to every member, in order", "[unit][group]") {
  asio::io_context io;
  coronet::groups rooms;
  auto room = rooms.get("lobby");
  CHECK(room.name() == "lobby");
  CHECK(rooms.get("lobby").size() == 0);

  std::vector<member_pair> members;
  std::vector<coronet::membership> joined;
  for (int i = 0; i < 3; ++i) {
    members.push_back(make_member(io.get_executor()));
    auto j = room.join(members.back().ch, "m" + std::to_string(i));
    REQUIRE(j);
    joined.push_back(std::move(*j));
  }
  CHECK(room.size() == 3);
  CHECK(rooms.names() == std::vector<std::string>{"lobby"});

  for (int i = 0; i < 100; ++i) room.publish(coronet::shared_message(numbered(0, i)));
  for (auto& m : members) {
    auto got = run(io, read_n(*m.peer, 100));
    REQUIRE(got.size() == 100);
    for (int i = 0; i < 100; ++i) CHECK(got[i] == numbered(0, i));
  }
  auto s = room.stats();
  CHECK(s.published == 100);
  CHECK(s.delivered == 300);
  CHECK(s.dropped == 0);

  SECTION("a channel joins once") {
    auto again = room.join(members[0].ch, "again");
    REQUIRE_FALSE(again);
    CHECK(again.error() == coronet::errc::invalid_argument);
  }
  SECTION("presence without a layer: this process's names") {
    auto names = run(io, room.presence());
    REQUIRE(names);
    CHECK(*names == std::vector<std::string>{"m0", "m1", "m2"});
  }
  SECTION("a membership leaves when it goes, and leave() by channel") {
    joined.pop_back();
    CHECK(room.size() == 2);
    room.leave(members[0].ch);
    CHECK(room.size() == 1);
    auto names = room.members();
    REQUIRE(names.size() == 1);
    CHECK(names[0].name == "m1");
    joined.clear(); // m0's membership: already left, a no-op
    CHECK(room.size() == 0);
    CHECK(rooms.names().empty());
  }
  SECTION("a member whose channel closed is dropped by the next delivery") {
    members[1].ch.abort();
    room.publish(coronet::shared_message(std::string("after")));
    run(io, sleep_for(10ms));
    CHECK(room.size() == 2);
    auto got = run(io, read_n(*members[0].peer, 1));
    CHECK(got == std::vector<std::string>{"after"});
  }
}

TEST_CASE("members on many threads get every message of publishers on many threads",
          "[unit][group][threads]") {
  constexpr int threads = 4, per_thread = 25, publishers = 4, messages = 200;
  thread_pool pool(threads);
  coronet::groups rooms;
  auto room = rooms.get("fanout");

  // Members (and their readers) are made on their own threads.
  std::vector<std::vector<member_pair>> members(threads);
  std::vector<coronet::membership> joined;
  std::mutex joined_mutex;
  for (int t = 0; t < threads; ++t)
    pool.on(t, [&, t] {
      for (int i = 0; i < per_thread; ++i) {
        members[t].push_back(make_member(pool.ios[t]->get_executor()));
        auto j = room.join(members[t].back().ch, "t" + std::to_string(t) + "m" + std::to_string(i));
        REQUIRE(j);
        std::lock_guard lock(joined_mutex);
        joined.push_back(std::move(*j));
      }
    });
  REQUIRE(room.size() == threads * per_thread);

  // Each member's reader checks that each publisher's messages come in order.
  std::atomic<int> complete{0}, out_of_order{0};
  for (int t = 0; t < threads; ++t)
    pool.on(t, [&, t] {
      for (auto& m : members[t])
        asio::co_spawn(
            *pool.ios[t],
            [&]() -> asio::awaitable<void> {
              auto got = co_await read_n(*m.peer, publishers * messages, 20s);
              std::map<int, int> next;
              for (auto& text : got) {
                auto colon = text.find(':');
                int p = std::stoi(text.substr(0, colon)), i = std::stoi(text.substr(colon + 1));
                if (next[p] != i) ++out_of_order;
                next[p] = i + 1;
              }
              if (got.size() == publishers * messages) ++complete;
            },
            asio::detached);
    });

  std::vector<std::thread> senders;
  for (int p = 0; p < publishers; ++p)
    senders.emplace_back([&, p] {
      for (int i = 0; i < messages; ++i) room.publish(coronet::shared_message(numbered(p, i)));
    });
  for (auto& s : senders) s.join();

  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (complete < threads * per_thread && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  CHECK(complete == threads * per_thread);
  CHECK(out_of_order == 0);
  auto s = room.stats();
  CHECK(s.published == publishers * messages);
  CHECK(s.delivered == std::uint64_t(publishers) * messages * threads * per_thread);
  CHECK(s.posts == std::uint64_t(publishers) * messages * threads); // per thread, not per member

  // A member closing while others publish: it is dropped, nobody else notices.
  std::thread publisher([&] {
    for (int i = 0; i < 200; ++i) room.publish(coronet::shared_message(numbered(9, i)));
  });
  pool.on(1, [&] { members[1][3].ch.abort(); });
  publisher.join();
  room.publish(coronet::shared_message(std::string("last")));
  deadline = std::chrono::steady_clock::now() + 5s;
  while (room.size() != threads * per_thread - 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  CHECK(room.size() == threads * per_thread - 1);

  joined.clear(); // leaving is thread-safe
  CHECK(room.size() == 0);
  for (int t = 0; t < threads; ++t) pool.on(t, [&, t] { members[t].clear(); });
}

TEST_CASE("numbered messages: every member sees 1, 2, 3... and the history keeps the last",
          "[unit][group][numbered]") {
  constexpr int threads = 3, publishers = 3, messages = 100;
  thread_pool pool(threads);
  coronet::groups rooms({.history = 10});
  auto room = rooms.get("numbered");
  std::vector<member_pair> members(threads);
  std::vector<coronet::membership> joined;
  for (int t = 0; t < threads; ++t)
    pool.on(t, [&, t] {
      members[t] = make_member(pool.ios[t]->get_executor());
      joined.push_back(std::move(*room.join(members[t].ch, "m")));
    });
  std::vector<std::thread> senders;
  std::atomic<int> unsent{0}; // (Catch's assertions are not thread-safe: count here)
  for (int p = 0; p < publishers; ++p)
    senders.emplace_back([&, p] {
      asio::io_context io;
      for (int i = 0; i < messages; ++i) {
        auto before = "p" + std::to_string(p) + " #";
        auto seq = run(io, room.publish_numbered(before, ""));
        if (!seq) ++unsent;
      }
    });
  for (auto& s : senders) s.join();
  REQUIRE(unsent == 0);
  // Read on each member's own thread.
  for (int t = 0; t < threads; ++t) {
    std::promise<std::vector<std::string>> done;
    auto fut = done.get_future();
    asio::co_spawn(*pool.ios[t], read_n(*members[t].peer, publishers * messages),
                   [&](std::exception_ptr, std::vector<std::string> v) { done.set_value(v); });
    auto got = fut.get();
    REQUIRE(got.size() == publishers * messages);
    for (std::size_t i = 0; i < got.size(); ++i) {
      auto number = got[i].substr(got[i].find('#') + 1);
      CHECK(number == std::to_string(i + 1)); // in order, none missing, none twice
    }
  }
  asio::io_context io;
  auto kept = run(io, room.history());
  REQUIRE(kept);
  REQUIRE(kept->messages.size() == 10);
  CHECK(kept->messages.front().seq == publishers * messages - 9);
  CHECK(kept->messages.back().seq == publishers * messages);
  CHECK(
      kept->messages.back().message.text().ends_with("#" + std::to_string(publishers * messages)));
  CHECK(kept->epoch.size() == 16);
  joined.clear();
  for (int t = 0; t < threads; ++t) pool.on(t, [&, t] { members[t] = {}; });
}

namespace {

// One member that never reads (its channel's queue holds 4 KiB, the pipe
// 1 KiB) and one that does, under a policy; 200 messages of 512 bytes.
struct slow_member_fixture {
  asio::io_context io;
  coronet::groups rooms;
  coronet::group room;
  member_pair fast, slow;
  coronet::membership fast_joined, slow_joined;

  explicit slow_member_fixture(coronet::slow_consumer_policy policy, std::size_t backlog = 8)
      : rooms({.slow_consumer = policy, .member_backlog = backlog}), room(rooms.get("r")),
        fast(make_member(io.get_executor())), slow(make_member(io.get_executor(), 1024, 4096)) {
    fast_joined = std::move(*room.join(fast.ch, "fast"));
    slow_joined = std::move(*room.join(slow.ch, "slow"));
  }

  static std::string payload(int i) {
    auto s = std::to_string(i);
    s.resize(512, '.');
    return s;
  }

  void publish_all() {
    for (int i = 0; i < 200; ++i) room.publish(coronet::shared_message(payload(i)));
  }

  std::vector<int> read_all(endpoint& peer, std::size_t max, std::chrono::milliseconds idle) {
    auto got = run(io, read_n(peer, max, idle));
    std::vector<int> ids;
    for (auto& text : got) ids.push_back(std::stoi(text));
    return ids;
  }
};

} // namespace

TEST_CASE("a slow member does not hold up the room", "[unit][group][slow]") {
  SECTION("drop_oldest: it keeps the newest messages, drops counted") {
    slow_member_fixture f(coronet::slow_consumer_policy::drop_oldest);
    f.publish_all();
    auto fast = f.read_all(*f.fast.peer, 200, 5s);
    CHECK(fast.size() == 200);
    auto slow = f.read_all(*f.slow.peer, 200, 300ms);
    REQUIRE(!slow.empty());
    CHECK(slow.back() == 199); // the latest arrives
    CHECK(std::is_sorted(slow.begin(), slow.end()));
    auto s = f.room.stats();
    CHECK(s.dropped == 200 - slow.size());
    CHECK(s.dropped > 100);
    auto members = f.room.members();
    REQUIRE(members.size() == 2);
    for (auto& m : members) CHECK(m.dropped == (m.name == "slow" ? s.dropped : 0));
  }
  SECTION("drop_newest: it keeps the first messages") {
    slow_member_fixture f(coronet::slow_consumer_policy::drop_newest);
    f.publish_all();
    CHECK(f.read_all(*f.fast.peer, 200, 5s).size() == 200);
    auto slow = f.read_all(*f.slow.peer, 200, 300ms);
    REQUIRE(!slow.empty());
    CHECK(slow.front() == 0);
    CHECK(slow.back() < 199);
    CHECK(f.room.stats().dropped == 200 - slow.size());
  }
  SECTION("wait: nothing is dropped while the backlog has room") {
    slow_member_fixture f(coronet::slow_consumer_policy::wait, 500);
    f.publish_all();
    CHECK(f.read_all(*f.fast.peer, 200, 5s).size() == 200);
    run(f.io, sleep_for(20ms));
    auto backlog = f.room.members();
    for (auto& m : backlog)
      if (m.name == "slow") CHECK(m.backlog > 0);
    auto slow = f.read_all(*f.slow.peer, 200, 2s);
    REQUIRE(slow.size() == 200);
    for (int i = 0; i < 200; ++i) CHECK(slow[i] == i);
    CHECK(f.room.stats().dropped == 0);
  }
  SECTION("wait: a member whose backlog overflows is disconnected") {
    slow_member_fixture f(coronet::slow_consumer_policy::wait, 8);
    f.publish_all();
    CHECK(f.read_all(*f.fast.peer, 200, 5s).size() == 200);
    CHECK(f.room.size() == 1);
    CHECK(f.room.stats().disconnected == 1);
  }
  SECTION("disconnect: at once") {
    slow_member_fixture f(coronet::slow_consumer_policy::disconnect);
    f.publish_all();
    CHECK(f.read_all(*f.fast.peer, 200, 5s).size() == 200);
    CHECK(f.room.size() == 1);
    CHECK(f.room.stats().disconnected == 1);
    auto gone = run(f.io, f.slow.ch.send("x"));
    CHECK_FALSE(gone);
  }
}

namespace {

// A channel layer that records what the groups tell it.
struct recording_layer : coronet::channel_layer {
  std::mutex mutex;
  std::vector<std::string> calls;
  receiver deliver;

  void record(std::string s) {
    std::lock_guard lock(mutex);
    calls.push_back(std::move(s));
  }
  void attach(receiver r) override { deliver = std::move(r); }
  void subscribe(const std::string& g) override { record("subscribe " + g); }
  void unsubscribe(const std::string& g) override { record("unsubscribe " + g); }
  void publish(const std::string& g, const coronet::shared_message& m) override {
    record("publish " + g + " " + std::string(m.text()));
  }
  void member_joined(const std::string& g, const std::string& n) override {
    record("joined " + g + " " + n);
  }
  void member_left(const std::string& g, const std::string& n) override {
    record("left " + g + " " + n);
  }
  asio::awaitable<coronet::result<std::vector<std::string>>>
  presence(const std::string& g) override {
    record("presence " + g);
    co_return std::vector<std::string>{"everyone"};
  }
  // A backend that is down: the group numbers and keeps messages itself.
  asio::awaitable<coronet::result<std::uint64_t>> publish_numbered(const std::string& g,
                                                                   std::string_view,
                                                                   std::string_view, std::size_t,
                                                                   std::uint64_t floor) override {
    record("numbered " + g + " above " + std::to_string(floor));
    co_return coronet::fail(coronet::errc::closed);
  }
  asio::awaitable<coronet::result<coronet::numbered_history>> history(const std::string& g,
                                                                      std::size_t) override {
    record("history " + g);
    co_return coronet::fail(coronet::errc::closed);
  }
};

} // namespace

TEST_CASE("groups tell their channel layer what it needs, and take its messages",
          "[unit][group][layer]") {
  asio::io_context io;
  auto layer = std::make_shared<recording_layer>();
  {
    coronet::groups rooms({}, layer);
    REQUIRE(layer->deliver);
    auto room = rooms.get("r");
    auto a = make_member(io.get_executor()), b = make_member(io.get_executor());
    auto ja = room.join(a.ch, "a");
    auto jb = room.join(b.ch, "b");
    room.publish(coronet::shared_message(std::string("local")));
    layer->deliver("r", coronet::shared_message(std::string("remote")), 0);
    layer->deliver("nobody-here", coronet::shared_message(std::string("x")), 0);
    for (auto* m : {&a, &b}) {
      auto got = run(io, read_n(*m->peer, 2));
      CHECK(got == std::vector<std::string>{"local", "remote"});
    }
    CHECK(room.stats().received == 1);
    auto everyone = run(io, room.presence());
    REQUIRE(everyone);
    CHECK(*everyone == std::vector<std::string>{"everyone"});
    // Numbered: the layer numbered 41 elsewhere; with it down, the group
    // numbers the next one itself, above what it has seen.
    layer->deliver("r", coronet::shared_message(std::string("n41")), 41);
    auto seq = run(io, room.publish_numbered("n", ""));
    REQUIRE(seq);
    CHECK(*seq == 42);
    for (auto* m : {&a, &b}) {
      auto got = run(io, read_n(*m->peer, 2));
      CHECK(got == std::vector<std::string>{"n41", "n42"});
    }
    ja->leave();
    jb->leave();
  }
  CHECK_FALSE(layer->deliver); // detached when the groups went
  CHECK(layer->calls == std::vector<std::string>{"subscribe r", "joined r a", "joined r b",
                                                 "publish r local", "presence r",
                                                 "numbered r above 41", "left r a", "left r b",
                                                 "unsubscribe r"});
}
