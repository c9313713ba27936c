// The TLS handshake over an in-memory stream with faults: every operation
// of either side fails in turn (Beast's fail loop) until the handshake and
// a record each way go through, and short reads and split writes.  Whatever
// fails, both sides end with an error, promptly: no hang, no crash, no leak.
#include <coronet/memory_stream.hpp>
#include <coronet/timeout.hpp>
#include <coronet/tls.hpp>

#include "../support/run.hpp"
#include "../support/test_pki.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include <catch2/catch.hpp>

using coronet::memory_stream;
using coronet::test::run;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

using tls_memory = coronet::tls_stream<memory_stream>;

struct configs {
  coronet::test::test_ca ca;
  std::shared_ptr<const coronet::tls_config> server, client;
  configs() {
    coronet::tls_options s;
    s.identities = {coronet::test::identity_of(ca.issue({}))};
    server = *coronet::make_tls_config(coronet::tls_role::server, s);
    coronet::tls_options c;
    c.ca_pem = {ca.cert_pem()};
    client = *coronet::make_tls_config(coronet::tls_role::client, c);
  }
  static const configs& get() {
    static configs c;
    return c;
  }
};

// The handshake, then "ping" one way and "pong" back.
asio::awaitable<std::error_code> client_side(memory_stream s) {
  tls_memory t(std::move(s), configs::get().client, "localhost");
  if (auto ok = co_await t.handshake(); !ok) co_return ok.error();
  if (auto w = co_await coronet::write(t, asio::buffer(std::string("ping"))); !w)
    co_return w.error();
  std::string got(4, '\0');
  if (auto r = co_await coronet::read_exactly(t, asio::buffer(got)); !r) co_return r.error();
  if (got != "pong") co_return coronet::errc::protocol_error;
  co_return std::error_code{};
}

asio::awaitable<std::error_code> server_side(memory_stream s) {
  tls_memory t(std::move(s), configs::get().server);
  if (auto ok = co_await t.handshake(); !ok) co_return ok.error();
  std::string got(4, '\0');
  if (auto r = co_await coronet::read_exactly(t, asio::buffer(got)); !r) co_return r.error();
  if (got != "ping") co_return coronet::errc::protocol_error;
  if (auto w = co_await coronet::write(t, asio::buffer(std::string("pong"))); !w)
    co_return w.error();
  co_return std::error_code{};
}

struct outcome {
  std::error_code client, server;
};

outcome exchange(coronet::memory_stream_faults client, coronet::memory_stream_faults server) {
  asio::io_context io;
  auto [a, b] = memory_stream::make_pair(io.get_executor(), client, server);
  auto bounded = [](asio::awaitable<std::error_code> side) -> asio::awaitable<std::error_code> {
    auto wrapped = [](asio::awaitable<std::error_code> s)
        -> asio::awaitable<coronet::result<std::error_code>> { co_return co_await std::move(s); };
    auto r = co_await coronet::with_timeout(wrapped(std::move(side)), 5s);
    co_return r ? *r : r.error();
  };
  auto [c, s] =
      run(io, [](auto c, auto s) -> asio::awaitable<std::tuple<std::error_code, std::error_code>> {
        co_return co_await (std::move(c) && std::move(s));
      }(bounded(client_side(std::move(a))), bounded(server_side(std::move(b)))));
  return {c, s};
}

} // namespace

TEST_CASE("tls handshake: short reads and split writes on both sides", "[unit][tls]") {
  auto faults = GENERATE(coronet::memory_stream_faults{.read_chunk = 1},
                         coronet::memory_stream_faults{.write_chunk = 7},
                         coronet::memory_stream_faults{.read_chunk = 100, .write_chunk = 33});
  auto r = exchange(faults, faults);
  CHECK_FALSE(r.client);
  CHECK_FALSE(r.server);
}

TEST_CASE("tls handshake: every operation of either side fails in turn", "[unit][tls]") {
  for (bool client_fails : {true, false}) {
    bool passed = false;
    std::size_t fail_at = 0;
    for (; fail_at < 200 && !passed; ++fail_at) {
      INFO((client_fails ? "client" : "server") << " fails at operation " << fail_at);
      coronet::memory_stream_faults failing{.fail_at = fail_at, .read_chunk = 512};
      coronet::memory_stream_faults healthy{.read_chunk = 512};
      auto r = client_fails ? exchange(failing, healthy) : exchange(healthy, failing);
      CHECK(r.client != coronet::errc::timeout);
      CHECK(r.server != coronet::errc::timeout);
      passed = !r.client && !r.server;
    }
    INFO((client_fails ? "client" : "server"));
    CHECK(passed);
    CHECK(fail_at > 3);
  }
}
