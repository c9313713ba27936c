// The TLS handshake over an in-memory stream with faults: every operation
// of either side fails in turn (Beast's fail loop) until the handshake and
// a record each way go through, and short reads and split writes.  Whatever
// fails, both sides end with an error, promptly: no hang, no crash, no leak.
#include <coronet/memory_stream.hpp>
#include <coronet/timeout.hpp>
#include <coronet/tls.hpp>

#include "../support/fail_loop.hpp"
#include "../support/test_pki.hpp"

#include <catch2/catch.hpp>

using coronet::memory_stream;

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

} // namespace

TEST_CASE("tls handshake: short reads and split writes on both sides", "[unit][tls]") {
  auto faults = GENERATE(coronet::memory_stream_faults{.read_chunk = 1},
                         coronet::memory_stream_faults{.write_chunk = 7},
                         coronet::memory_stream_faults{.read_chunk = 100, .write_chunk = 33});
  auto r = coronet::test::converse(client_side, server_side, faults, faults);
  CHECK_FALSE(r.client);
  CHECK_FALSE(r.server);
}

TEST_CASE("tls handshake: every operation of either side fails in turn", "[unit][tls]") {
  coronet::test::check_fail_loop(client_side, server_side, {.read_chunk = 512});
}
