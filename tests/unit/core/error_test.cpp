#include <coronet/error.hpp>

#include <asio/error.hpp>

#include <catch2/catch.hpp>

TEST_CASE("coronet error category", "[unit][error]") {
  std::error_code ec = coronet::errc::timeout;
  CHECK(ec.category() == coronet::error_category());
  CHECK(std::string(ec.category().name()) == "coronet");
  CHECK(ec == coronet::errc::timeout);
  CHECK(ec != coronet::errc::closed);
  CHECK(ec == std::errc::timed_out); // portable condition
  CHECK(std::error_code(coronet::errc::connection_refused) == std::errc::connection_refused);
  CHECK(std::error_code(coronet::errc::message_too_large) == std::errc::message_size);

  for (int v = static_cast<int>(coronet::errc::closed);
       v <= static_cast<int>(coronet::errc::invalid_argument); ++v) {
    auto message = std::error_code(v, coronet::error_category()).message();
    INFO(v);
    CHECK_FALSE(message.empty());
    CHECK_THAT(message, !Catch::StartsWith("unknown"));
  }
  CHECK_THAT(std::error_code(999, coronet::error_category()).message(),
             Catch::StartsWith("unknown"));
}

TEST_CASE("coronet conditions cover every category", "[unit][error]") {
  using coronet::condition;
  CHECK(std::error_code(coronet::errc::closed) == condition::connection_lost);
  CHECK(std::error_code(asio::error::connection_reset) == condition::connection_lost);
  CHECK(std::error_code(asio::error::eof) == condition::connection_lost);
  CHECK(std::error_code(asio::error::broken_pipe) == condition::connection_lost);
  CHECK(std::error_code(coronet::errc::timeout) == condition::timed_out);
  CHECK(std::error_code(asio::error::timed_out) == condition::timed_out);
  CHECK(std::error_code(asio::error::connection_refused) == condition::refused);
  CHECK(std::error_code(coronet::errc::connection_refused) == condition::refused);
  CHECK(std::error_code(coronet::errc::message_too_large) == condition::too_large);
  CHECK(std::error_code(coronet::errc::timeout) != condition::connection_lost);
  CHECK(std::error_code(asio::error::connection_reset) != condition::timed_out);
  CHECK(std::error_condition(condition::refused).message() == "the connection was refused");
}
