// tls:// and wss:// end to end over loopback, with certificates made at
// test time: echo (small, 1 MiB, 16 MiB), verification that says why it
// failed, mutual TLS, SNI, and bad peers that leave the server serving.
#include <coronet/coronet.hpp>
#include <coronet/tcp.hpp>
#include <coronet/tls.hpp>
#include <coronet/websocket.hpp>

#include "../support/echo.hpp"
#include "../support/echo_suite.hpp"
#include "../support/run.hpp"
#include "../support/test_pki.hpp"

#include <catch2/catch.hpp>

#include <thread>

using coronet::test::echo;
using coronet::test::pattern;
using coronet::test::receive_within;
using coronet::test::run;
using namespace std::chrono_literals;

namespace {

struct pki {
  coronet::test::test_ca ca;
  coronet::test::key_and_cert server = ca.issue({});
  coronet::tls_options server_tls() const {
    coronet::tls_options t;
    t.identities = {coronet::test::identity_of(server)};
    return t;
  }
  coronet::options client() const {
    coronet::options o;
    o.tls.ca_pem = {ca.cert_pem()};
    return o;
  }
};

const pki& shared_pki() {
  static pki p;
  return p;
}

struct tls_server {
  coronet::server server;
  std::string scheme, path;
  tls_server(std::string s, coronet::server_options o, std::string p = "")
      : scheme(std::move(s)), path(std::move(p)) {
    auto started = server.start(scheme + "://127.0.0.1:0" + path, echo, std::move(o));
    REQUIRE(started);
  }
  std::string url(std::string query = "") const {
    return scheme + "://localhost:" + std::to_string(server.port()) + path + query;
  }
};

coronet::server_options with_tls(coronet::tls_options t) {
  coronet::server_options o;
  o.tls = std::move(t);
  return o;
}

// Connects with `o` and, if that works, checks one echo; returns the connect error.
std::error_code try_echo(std::string url, coronet::options o) {
  asio::io_context io;
  return run(io, [](std::string url, coronet::options o) -> asio::awaitable<std::error_code> {
    auto ch = co_await coronet::connect(url, o);
    if (!ch) co_return ch.error();
    auto sent = co_await ch->send("ping");
    REQUIRE(sent);
    auto m = co_await receive_within(*ch, 5s);
    REQUIRE(m);
    CHECK(m->text() == "ping");
    co_await ch->close();
    co_return std::error_code{};
  }(std::move(url), std::move(o)));
}

} // namespace

TEST_CASE("tls: echo of small, 1 MiB and 16 MiB messages over tls:// and wss://",
          "[integration][tls]") {
  auto scheme = GENERATE(std::string("tls"), std::string("wss"));
  auto& p = shared_pki();
  tls_server f(scheme, with_tls(p.server_tls()), scheme == "wss" ? "/echo" : "");
  asio::io_context io;
  run(
      io,
      [](std::string url, coronet::options o, std::string scheme) -> asio::awaitable<void> {
        auto ch = co_await coronet::connect(url, o);
        REQUIRE(ch);
        CHECK(ch->properties().encrypted);
        CHECK(ch->properties().scheme == scheme);
        for (std::size_t size : {1u, 100u, 16384u, 16385u, 1u << 20, 16u << 20}) {
          auto msg = pattern(size, size);
          auto sent = co_await ch->send(coronet::message_view(msg, coronet::message_kind::binary));
          REQUIRE(sent);
          auto m = co_await receive_within(*ch, 30s);
          REQUIRE(m);
          CHECK(m->size() == size);
          CHECK(m->text() == msg);
        }
        auto closed = co_await ch->close();
        CHECK(closed);
      }(f.url(), p.client(), scheme),
      90s);
}

TEST_CASE("tls: raw framing over tls:// and many connections", "[integration][tls]") {
  auto& p = shared_pki();
  tls_server f("tls", with_tls(p.server_tls()), "?framing=raw");
  asio::io_context io;
  run(io, [](std::string url, coronet::options o) -> asio::awaitable<void> {
    std::vector<coronet::channel> chans;
    for (int i = 0; i < 50; ++i) {
      auto ch = co_await coronet::connect(url, o);
      REQUIRE(ch);
      chans.push_back(std::move(*ch));
    }
    for (auto& ch : chans) {
      auto sent = co_await ch.send("hello");
      REQUIRE(sent);
    }
    for (auto& ch : chans) {
      std::string got;
      while (got.size() < 5) {
        auto m = co_await receive_within(ch, 5s);
        REQUIRE(m);
        got += m->text();
      }
      CHECK(got == "hello");
      co_await ch.close();
    }
  }(f.url(), p.client()));
}

TEST_CASE("tls: verification failures say why", "[integration][tls]") {
  auto& p = shared_pki();
  SECTION("unknown CA: the client trusts another CA") {
    tls_server f("tls", with_tls(p.server_tls()));
    coronet::test::test_ca other("another CA");
    coronet::options o;
    o.tls.ca_pem = {other.cert_pem()};
    auto ec = try_echo(f.url(), o);
    CHECK(ec == coronet::tls_errc::unknown_ca);
    CHECK(ec == coronet::condition::refused);
    CHECK_THAT(ec.message(), Catch::Contains("unknown CA"));
  }
  SECTION("the system bundle does not know the test CA") {
    tls_server f("tls", with_tls(p.server_tls()));
    auto ec = try_echo(f.url(), coronet::options{});
    CHECK(ec == coronet::tls_errc::unknown_ca);
  }
  SECTION("expired certificate") {
    coronet::test::leaf_spec spec;
    spec.not_before = "20200101000000";
    spec.not_after = "20210101000000";
    auto expired = p.ca.issue(spec);
    coronet::tls_options t;
    t.identities = {coronet::test::identity_of(expired)};
    tls_server f("tls", with_tls(t));
    auto ec = try_echo(f.url(), p.client());
    CHECK(ec == coronet::tls_errc::certificate_expired);
  }
  SECTION("name mismatch") {
    coronet::test::leaf_spec spec;
    spec.common_name = "other.example";
    spec.dns_names = {"other.example"};
    auto wrong = p.ca.issue(spec);
    coronet::tls_options t;
    t.identities = {coronet::test::identity_of(wrong)};
    tls_server f("tls", with_tls(t));
    auto ec = try_echo(f.url(), p.client());
    CHECK(ec == coronet::tls_errc::name_mismatch);
    // ... unless verification is turned off, loudly.
    coronet::options insecure;
    insecure.tls.insecure_skip_verify = true;
    CHECK(!try_echo(f.url(), insecure));
  }
  SECTION("a CA file given by path") {
    tls_server f("tls", with_tls(p.server_tls()));
    coronet::options o;
    o.tls.ca_files = {coronet::test::write_temp_file("ca.pem", p.ca.cert_pem())};
    CHECK(!try_echo(f.url(), o));
  }
}

TEST_CASE("tls: certificate and key from files, and a missing file is a clear error",
          "[integration][tls]") {
  auto& p = shared_pki();
  coronet::tls_options t;
  coronet::tls_identity id;
  id.certificate_chain_file = coronet::test::write_temp_file("server.pem", p.server.cert_pem);
  id.private_key_file = coronet::test::write_temp_file("server.key", p.server.key_pem);
  t.identities = {id};
  tls_server f("tls", with_tls(t));
  CHECK(!try_echo(f.url(), p.client()));

  coronet::server broken;
  coronet::tls_options missing;
  coronet::tls_identity nowhere;
  nowhere.certificate_chain_file = "/nonexistent/server.pem";
  nowhere.private_key_file = "/nonexistent/server.key";
  missing.identities = {nowhere};
  auto started = broken.start("tls://127.0.0.1:0", echo, with_tls(missing));
  REQUIRE(!started);
  CHECK(started.error() == coronet::tls_errc::configuration);
  CHECK(started.error() != coronet::condition::refused);

  // A key that belongs to another certificate is caught at listen time.
  coronet::server mismatched;
  coronet::tls_options swapped;
  auto other = p.ca.issue({});
  coronet::tls_identity crossed;
  crossed.certificate_chain_pem = p.server.cert_pem;
  crossed.private_key_pem = other.key_pem;
  swapped.identities = {crossed};
  auto refused = mismatched.start("tls://127.0.0.1:0", echo, with_tls(swapped));
  REQUIRE(!refused);
  CHECK(refused.error() == coronet::tls_errc::configuration);
}

TEST_CASE("tls: mutual TLS accepted and refused", "[integration][tls]") {
  auto& p = shared_pki();
  auto t = p.server_tls();
  t.require_client_certificate = true;
  t.ca_pem = {p.ca.cert_pem()};
  tls_server f("tls", with_tls(t));

  coronet::test::leaf_spec client_spec;
  client_spec.common_name = "client";
  client_spec.dns_names = {};
  client_spec.client = true;
  auto client_cert = p.ca.issue(client_spec);
  auto o = p.client();
  o.tls.identities = {coronet::test::identity_of(client_cert)};
  CHECK(!try_echo(f.url(), o));

  auto without = try_echo(f.url(), p.client());
  CHECK(without == coronet::errc::handshake_failed); // refused, and it spoke TLS: not not_tls
  coronet::test::test_ca stranger("stranger CA");
  auto foreign = p.client();
  foreign.tls.identities = {coronet::test::identity_of(stranger.issue(client_spec))};
  CHECK(try_echo(f.url(), foreign));
  // ... and the server still serves the right client.
  CHECK(!try_echo(f.url(), o));
}

TEST_CASE("tls: each side sees the other's certificate through channel::info<tls_info>()",
          "[integration][tls]") {
  auto& p = shared_pki();
  auto t = p.server_tls();
  t.require_client_certificate = true;
  t.ca_pem = {p.ca.cert_pem()};
  coronet::test::leaf_spec client_spec;
  client_spec.common_name = "client-7";
  client_spec.dns_names = {};
  client_spec.client = true;
  auto o = p.client();
  o.tls.identities = {coronet::test::identity_of(p.ca.issue(client_spec))};
  for (std::string scheme : {"tls", "wss"}) {
    INFO(scheme);
    // The server answers each message with the subject of its client's certificate.
    coronet::server server;
    auto started = server.start(
        scheme + "://127.0.0.1:0",
        [](coronet::channel ch) -> asio::awaitable<void> {
          auto tls = ch.info<coronet::tls_info>();
          std::string subject = tls ? tls->peer_subject : "no tls_info";
          while (auto m = co_await ch.receive())
            if (!co_await ch.send(coronet::message_view(subject))) break;
        },
        with_tls(t));
    REQUIRE(started);
    asio::io_context io;
    run(io, [](std::string url, coronet::options o, bool ws) -> asio::awaitable<void> {
      auto ch = co_await coronet::connect(url, o);
      REQUIRE(ch);
      auto tls = ch->info<coronet::tls_info>();
      REQUIRE(tls);
      CHECK_THAT(tls->peer_subject, Catch::Contains("CN=localhost"));
      CHECK_FALSE(tls->peer_certificate.empty());
      CHECK(tls->alpn == (ws ? "http/1.1" : ""));
      CHECK((ch->info<coronet::websocket_info>() != nullptr) == ws);
      auto sent = co_await ch->send("who am I?");
      REQUIRE(sent);
      auto m = co_await receive_within(*ch, 5s);
      REQUIRE(m);
      CHECK_THAT(std::string(m->text()), Catch::Contains("CN=client-7"));
      co_await ch->close();
    }(scheme + "://localhost:" + std::to_string(server.port()), o, scheme == "wss"));
  }
}

TEST_CASE("tls: SNI picks the certificate for the name asked for", "[integration][tls]") {
  auto& p = shared_pki();
  coronet::test::leaf_spec a, b;
  a.common_name = "alpha.test";
  a.dns_names = {"alpha.test"};
  b.common_name = "beta.test";
  b.dns_names = {"beta.test"};
  coronet::tls_options t;
  t.identities = {coronet::test::identity_of(p.server), coronet::test::identity_of(p.ca.issue(a)),
                  coronet::test::identity_of(p.ca.issue(b))};
  tls_server f("tls", with_tls(t));
  for (std::string name : {"alpha.test", "beta.test", "localhost"}) {
    auto o = p.client();
    o.tls.server_name = {name};
    CHECK(!try_echo(f.url(), o));
  }
  auto o = p.client();
  o.tls.server_name = {"gamma.test"}; // gets the default certificate: not for that name
  CHECK(try_echo(f.url(), o) == coronet::tls_errc::name_mismatch);
}

TEST_CASE("tls: plaintext, garbage and silent clients are closed, and the server goes on",
          "[integration][tls]") {
  auto& p = shared_pki();
  auto o = with_tls(p.server_tls());
  o.tls.handshake_timeout = 300ms;
  tls_server f("tls", o);
  asio::io_context io;
  for (std::string junk :
       {std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        std::string("\x16\x03\x01\x00\x05hello", 10), std::string(3000, 'x'), std::string()}) {
    run(io, [](std::uint16_t port, std::string junk) -> asio::awaitable<void> {
      auto s = co_await coronet::tcp_connect("127.0.0.1", port);
      REQUIRE(s);
      if (!junk.empty()) {
        auto w = co_await coronet::write(*s, asio::buffer(junk));
        REQUIRE(w);
      }
      // The server ends the connection (an alert, then EOF) within the deadline.
      char buf[512];
      auto start = std::chrono::steady_clock::now();
      for (;;) {
        auto n = co_await coronet::with_timeout(coronet::read_some(*s, asio::buffer(buf)), 5s);
        if (!n) {
          CHECK(n.error() != coronet::errc::timeout);
          break;
        }
      }
      CHECK(std::chrono::steady_clock::now() - start < 3s);
    }(f.server.port(), junk));
  }
  CHECK(!try_echo(f.url(), p.client()));
}

TEST_CASE("tls: a plaintext client against a TLS port and a TLS client against plaintext",
          "[integration][tls]") {
  auto& p = shared_pki();
  coronet::server plain;
  REQUIRE(plain.start("tcp://127.0.0.1:0?framing=raw", echo));
  auto o = p.client();
  o.tls.handshake_timeout = 2s;
  auto ec = try_echo("tls://localhost:" + std::to_string(plain.port()), o);
  CHECK(ec);
  CHECK(ec != coronet::errc::timeout);
}

TEST_CASE("tls: the echo suite every transport passes, over tls:// and wss://",
          "[integration][tls]") {
  auto& p = shared_pki();
  for (std::string scheme : {"tls", "wss"}) {
    tls_server f(scheme, with_tls(p.server_tls()), scheme == "wss" ? "/echo" : "");
    asio::io_context io;
    coronet::test::check_echo_suite(io, f.url(), p.client());
  }
}
