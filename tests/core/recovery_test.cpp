// group::join_since: a member that comes back with the last seq it saw
// gets what it missed from the history, then the live stream, with no gap
// and nothing twice, even while another thread publishes; and it is told
// when the history no longer reaches back far enough.
#include <coronet/group.hpp>

#include "../support/group_member.hpp"
#include "../support/run.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using coronet::test::make_member;
using coronet::test::run;
using namespace std::chrono_literals;

namespace {

// "#17" -> 17
std::uint64_t seq_of(std::string_view text) {
  return std::stoull(std::string(text.substr(text.find('#') + 1)));
}

asio::awaitable<std::vector<std::uint64_t>> read_seqs(coronet::test::member_endpoint& peer,
                                                      std::size_t count,
                                                      std::chrono::milliseconds limit = 10s) {
  std::vector<std::uint64_t> got;
  peer.set_receive_timeout(limit);
  while (got.size() < count) {
    auto m = co_await peer.receive();
    if (!m) break;
    got.push_back(seq_of(m->text()));
  }
  co_return got;
}

// A channel layer whose history takes a while and then is not there (the
// group falls back to its own): whatever is published meanwhile is both
// held for the joining member and in the history it gets.
struct slow_history_layer : coronet::channel_layer {
  void attach(receiver) override {}
  void subscribe(const std::string&) override {}
  void unsubscribe(const std::string&) override {}
  void publish(const std::string&, const coronet::shared_message&) override {}
  void member_joined(const std::string&, const std::string&) override {}
  void member_left(const std::string&, const std::string&) override {}
  asio::awaitable<coronet::result<std::vector<std::string>>> presence(const std::string&) override {
    co_return std::vector<std::string>{};
  }
  asio::awaitable<coronet::result<std::uint64_t>> publish_numbered(const std::string&,
                                                                   std::string_view,
                                                                   std::string_view, std::size_t,
                                                                   std::uint64_t) override {
    co_return coronet::fail(coronet::errc::closed);
  }
  asio::awaitable<coronet::result<coronet::numbered_history>> history(const std::string&,
                                                                      std::size_t) override {
    co_await coronet::test::sleep_for(50ms);
    co_return coronet::fail(coronet::errc::closed);
  }
};

void publish(asio::io_context& io, coronet::group& room, int count) {
  for (int i = 0; i < count; ++i) REQUIRE(run(io, room.publish_numbered("#", "")));
}

} // namespace

TEST_CASE("join_since: what was missed and then the live stream with no gap and nothing twice",
          "[unit][group][recovery]") {
  coronet::groups rooms({.history = 1000});
  auto room = rooms.get("r");
  asio::io_context io; // the member's thread: this one
  publish(io, room, 50);
  // Another thread publishes 200 more while the member comes back.
  std::atomic<int> unsent{0};
  std::thread publisher([&] {
    asio::io_context pio;
    for (int i = 0; i < 200; ++i) {
      if (!run(pio, room.publish_numbered("#", ""))) ++unsent;
      std::this_thread::sleep_for(100us); // so that the join lands in the middle
    }
  });
  while (room.stats().published < 80) std::this_thread::yield();
  auto m = make_member(io.get_executor());
  auto c = run(io, room.join_since(m.ch, "back", 30));
  REQUIRE(c);
  CHECK(c->recovered);
  REQUIRE(!c->missed.empty());
  CHECK(c->missed.front().seq == 31);
  c->member.resume();
  publisher.join();
  REQUIRE(unsent == 0);
  std::vector<std::uint64_t> seen;
  for (auto& missed : c->missed) seen.push_back(missed.seq);
  auto live = run(io, read_seqs(*m.peer, 250 - seen.back()));
  seen.insert(seen.end(), live.begin(), live.end());
  INFO("caught up to " << c->missed.back().seq << ", then " << live.size() << " live");
  REQUIRE(seen.size() == 220);
  for (std::size_t i = 0; i < seen.size(); ++i) REQUIRE(seen[i] == 31 + i);
}

TEST_CASE("join_since: live messages wait for resume() and then come after the catch-up",
          "[unit][group][recovery]") {
  coronet::groups rooms({.history = 10});
  auto room = rooms.get("r");
  asio::io_context io;
  publish(io, room, 3);
  auto m = make_member(io.get_executor());
  auto c = run(io, room.join_since(m.ch, "back", 1));
  REQUIRE(c);
  CHECK(c->missed.size() == 2);
  publish(io, room, 2); // 4 and 5: held
  room.publish(coronet::message_view("#0 unnumbered"));
  auto early = run(io, read_seqs(*m.peer, 1, 100ms));
  CHECK(early.empty());
  c->member.resume();
  auto after = run(io, read_seqs(*m.peer, 3));
  CHECK(after == std::vector<std::uint64_t>{4, 5, 0});
  CHECK(room.stats().delivered == 3);
}

TEST_CASE("join_since: recovered is false when the history does not reach back or the numbering "
          "changed",
          "[unit][group][recovery]") {
  coronet::groups rooms({.history = 10});
  auto room = rooms.get("r");
  asio::io_context io;
  publish(io, room, 30); // the history keeps 21..30
  auto join = [&](std::uint64_t since, std::string epoch) {
    auto m = make_member(io.get_executor());
    auto c = run(io, room.join_since(m.ch, "m", since, epoch));
    REQUIRE(c);
    std::vector<std::uint64_t> seqs;
    for (auto& x : c->missed) seqs.push_back(x.seq);
    return std::tuple(c->recovered, seqs, c->epoch);
  };
  auto [fresh, all, epoch] = join(0, "");
  CHECK(!fresh); // 1..20 are gone
  CHECK(all.size() == 10);
  CHECK(all.front() == 21);
  CHECK(epoch.size() == 16);

  auto [too_old, old_missed, e1] = join(5, epoch);
  CHECK(!too_old);
  CHECK(old_missed == all);

  auto [near, near_missed, e2] = join(25, epoch);
  CHECK(near);
  CHECK(near_missed == std::vector<std::uint64_t>{26, 27, 28, 29, 30});

  auto [edge, edge_missed, e3] = join(20, epoch); // 21 is the oldest kept: nothing lost
  CHECK(edge);
  CHECK(edge_missed == all);

  auto [current, none, e4] = join(30, epoch);
  CHECK(current);
  CHECK(none.empty());

  auto [other, other_missed, e5] = join(25, "0123456789abcdef"); // another numbering
  CHECK(!other);
  CHECK(other_missed == all);

  auto [ahead, ahead_missed, e6] = join(99, ""); // from before a restart: numbers went back
  CHECK(!ahead);
  CHECK(ahead_missed == all);

  // A process that starts over starts a new epoch.
  coronet::groups restarted({.history = 10});
  auto again = restarted.get("r");
  auto m = make_member(io.get_executor());
  auto c = run(io, again.join_since(m.ch, "m", 0));
  REQUIRE(c);
  CHECK(c->epoch != epoch);
}

TEST_CASE("join_since: messages published while the history is read come once",
          "[unit][group][recovery]") {
  coronet::groups rooms({.history = 1000}, std::make_shared<slow_history_layer>());
  auto room = rooms.get("r");
  asio::io_context io;
  publish(io, room, 20);
  std::atomic<int> unsent{0};
  std::thread publisher([&] {
    asio::io_context pio;
    for (int i = 0; i < 200; ++i) {
      if (!run(pio, room.publish_numbered("#", ""))) ++unsent;
      std::this_thread::sleep_for(100us);
    }
  });
  while (room.stats().published < 40) std::this_thread::yield();
  auto m = make_member(io.get_executor());
  auto c = run(io, room.join_since(m.ch, "back", 5));
  REQUIRE(c);
  CHECK(c->recovered);
  INFO("caught up to " << c->missed.back().seq);
  CHECK(c->missed.back().seq > 45); // published while the history was read
  c->member.resume();
  publisher.join();
  REQUIRE(unsent == 0);
  std::vector<std::uint64_t> seen;
  for (auto& missed : c->missed) seen.push_back(missed.seq);
  auto live = run(io, read_seqs(*m.peer, 220 - seen.back()));
  seen.insert(seen.end(), live.begin(), live.end());
  auto extra = run(io, read_seqs(*m.peer, 1, 100ms)); // nothing twice
  CHECK(extra.empty());
  REQUIRE(seen.size() == 215);
  for (std::size_t i = 0; i < seen.size(); ++i) REQUIRE(seen[i] == 6 + i);
}

TEST_CASE("a group's history outlives its members and handles when it has no other home",
          "[unit][group][recovery]") {
  coronet::groups rooms({.history = 10});
  asio::io_context io;
  {
    auto room = rooms.get("quiet");
    publish(io, room, 3); // nobody in it, and the handle goes
  }
  auto m = make_member(io.get_executor());
  auto c = run(io, rooms.get("quiet").join_since(m.ch, "late", 0));
  REQUIRE(c);
  CHECK(c->missed.size() == 3);
  CHECK(c->recovered);
}
