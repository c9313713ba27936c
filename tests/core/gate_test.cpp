// coronet::gate: what server::stop() waits on.
#include <coronet/gate.hpp>

#include <catch2/catch.hpp>

#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("gate: entries counted, refused once closed", "[unit][gate]") {
  coronet::gate g;
  auto a = g.enter();
  REQUIRE(a);
  {
    auto b = g.enter();
    REQUIRE(b);
    CHECK(g.count() == 2);
    auto moved = std::move(*b); // a moved-from holder does not leave twice
    CHECK(g.count() == 2);
  }
  CHECK(g.count() == 1);
  g.close();
  CHECK(g.is_closed());
  CHECK_FALSE(g.enter());
  CHECK(g.count() == 1);
  a.reset();
  CHECK(g.count() == 0);
  CHECK(g.wait_until(std::chrono::steady_clock::now()));
}

TEST_CASE("gate: wait_until wakes when the last entry leaves on another thread", "[unit][gate]") {
  coronet::gate g;
  std::vector<std::thread> workers;
  for (int i = 0; i < 4; ++i)
    workers.emplace_back([held = std::move(*g.enter()), i]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(20 * (i + 1)));
      auto leave = std::move(held);
    });
  g.close();
  auto start = std::chrono::steady_clock::now();
  CHECK(g.wait_until(start + 10s));
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(took >= 60ms); // the last one leaves after 80 ms
  CHECK(took < 5s);    // woken, not timed out
  CHECK(g.count() == 0);
  for (auto& t : workers) t.join();
}

TEST_CASE("gate: wait_until gives up at its deadline", "[unit][gate]") {
  coronet::gate g;
  auto held = g.enter();
  auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(g.wait_until(start + 50ms));
  CHECK(std::chrono::steady_clock::now() - start >= 50ms);
  CHECK(g.count() == 1);
}
