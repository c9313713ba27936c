// The logging hook: a sink of the application's, its minimum level, the
// default back.
#include <coronet/log.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

TEST_CASE("log: messages at the sink's level and above reach it", "[unit][log]") {
  std::vector<std::pair<coronet::log_level, std::string>> got;
  coronet::set_log_sink(
      [&](coronet::log_level l, std::string_view m) { got.emplace_back(l, std::string(m)); },
      coronet::log_level::warning);
  coronet::log(coronet::log_level::info, "not this");
  coronet::log(coronet::log_level::warning, "this");
  coronet::log_exception(std::make_exception_ptr(std::runtime_error("boom")), "a handler");
  coronet::log_failures("a task")(nullptr); // no exception: nothing logged
  coronet::set_log_sink(nullptr);
  REQUIRE(got.size() == 2);
  CHECK(got[0] == std::pair{coronet::log_level::warning, std::string("this")});
  CHECK(got[1].first == coronet::log_level::error);
  CHECK(got[1].second == "a handler failed: boom");
  CHECK(coronet::to_string(coronet::log_level::debug) == "debug");
}
