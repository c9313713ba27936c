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

  // Every enumerator, the last one included, has a message of its own.  The
  // value after the last has none: adding an enumerator fails this test
  // until `last` names it (and it has a message).
  constexpr auto last = coronet::errc::unknown_scheme;
  for (int v = static_cast<int>(coronet::errc::closed); v <= static_cast<int>(last); ++v) {
    auto message = std::error_code(v, coronet::error_category()).message();
    INFO(v);
    CHECK_FALSE(message.empty());
    CHECK_THAT(message, !Catch::StartsWith("unknown coronet error"));
  }
  CHECK_THAT(std::error_code(static_cast<int>(last) + 1, coronet::error_category()).message(),
             Catch::StartsWith("unknown coronet error"));
  CHECK(std::error_code(coronet::errc::would_block) == std::errc::operation_would_block);
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
  // The transports' categories map their own codes.
  CHECK(std::error_code(coronet::close_code::going_away) == condition::connection_lost);
  CHECK(std::error_code(4001, coronet::close_code_category()) == condition::connection_lost);
  CHECK(std::error_code(403, coronet::http_status_category()) == condition::refused);
  CHECK(std::error_code(coronet::tls_errc::unknown_ca) == condition::refused);
  CHECK(std::error_code(coronet::tls_errc::configuration) != condition::refused);
  CHECK(std::error_code(coronet::tls_errc::unknown_ca) != condition::connection_lost);
}
