// TLS interop with real peers, each started by the test as a child process on
// loopback (free ports only, every wait bounded), with certificates made at
// test time (tests/support/test_pki) and written to temporary files:
// - `openssl s_client` against coronet's tls:// server: echo, verification,
//   TLS 1.2 with an ECDHE AEAD suite; TLS 1.1, TLS 1.3 only, CBC suites and an
//   unknown CA fail, and the server goes on serving;
// - coronet's tls:// client against `openssl s_server -rev`: line echo, what
//   coronet offers and what was chosen, and unknown_ca with the wrong CA;
// - Python `websockets` (tests/interop/py_peer.py with an ssl context) as a
//   client of coronet's wss:// server and as the wss:// server of coronet's
//   client: text, binary, 1 MiB, close 4000 "bye".
#include <coronet/coronet.hpp>

#include "../support/child_process.hpp"
#include "../support/echo.hpp"
#include "../support/run.hpp"
#include "../support/test_pki.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#ifndef CORONET_SOURCE_DIR
#error "CORONET_SOURCE_DIR must name the source tree (tests/interop/ holds the peers)"
#endif

using coronet::test::child_options;
using coronet::test::child_process;
using coronet::test::echo;
using coronet::test::receive_within;
using coronet::test::run;
using namespace std::chrono_literals;

namespace {

const std::string interop_dir = std::string(CORONET_SOURCE_DIR) + "/tests/interop";
const std::string python = "/usr/bin/python3"; // Debian's, with python3-websockets

// A CA, a server certificate for "localhost" and an unrelated CA, as PEM
// files for the peers (removed at exit).
struct pki_files {
  coronet::test::test_ca ca;
  coronet::test::test_ca other{"another CA"};
  coronet::test::key_and_cert server = ca.issue({});
  std::string ca_file = coronet::test::write_temp_file("ca.pem", ca.cert_pem());
  std::string other_ca_file = coronet::test::write_temp_file("other-ca.pem", other.cert_pem());
  std::string cert_file = coronet::test::write_temp_file("server.pem", server.cert_pem);
  std::string key_file = coronet::test::write_temp_file("server.key", server.key_pem);

  pki_files() = default;
  ~pki_files() {
    for (auto* f : {&ca_file, &other_ca_file, &cert_file, &key_file}) {
      std::error_code ec;
      std::filesystem::path p(*f);
      std::filesystem::remove(p, ec);
      std::filesystem::remove(p.parent_path(), ec); // write_temp_file's own directory
    }
  }

  /// A server's TLS settings: the certificate and key from the files.
  coronet::server_options server_options() const {
    coronet::server_options o;
    coronet::tls_identity id;
    id.certificate_chain_file = cert_file;
    id.private_key_file = key_file;
    o.tls.identities = {id};
    return o;
  }
  /// A client that trusts `ca` (or the other CA).
  coronet::options client(bool right_ca = true) const {
    coronet::options o;
    o.tls.ca_pem = {right_ca ? ca.cert_pem() : other.cert_pem()};
    return o;
  }
};

const pki_files& shared_pki() {
  static pki_files p;
  return p;
}

// The rest of the first line starting with `prefix`, among those read.
std::optional<std::string> value_after(const child_process& p, const std::string& prefix) {
  for (auto& l : p.lines())
    if (l.rfind(prefix, 0) == 0) return l.substr(prefix.size());
  return std::nullopt;
}

// OpenSSL's name of an ECDHE suite with an AEAD cipher (AES-GCM, ChaCha20-Poly1305).
bool is_ecdhe_aead(const std::string& suite) {
  auto aead = suite.find("-GCM-") != std::string::npos ||
              suite.find("CHACHA20-POLY1305") != std::string::npos;
  return suite.rfind("ECDHE-", 0) == 0 && aead;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);)
    if (!part.empty()) out.push_back(part);
  return out;
}

// ---- openssl s_client ------------------------------------------------------

std::vector<std::string> s_client_args(std::uint16_t port, const std::string& ca_file,
                                       std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{"openssl",
                                "s_client",
                                "-connect",
                                "127.0.0.1:" + std::to_string(port),
                                "-servername",
                                "localhost",
                                "-CAfile",
                                ca_file,
                                "-verify_return_error",
                                "-brief"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

// s_client with stdin closed at once: it reads stdin only after a handshake,
// so it exits 0 ("DONE") if one succeeded, non-zero if not.  Returns the exit
// status, and the transcript in `out`.
int s_client_handshake_only(std::uint16_t port, const std::string& ca_file,
                            std::vector<std::string> extra, std::string& out) {
  child_process c(s_client_args(port, ca_file, std::move(extra)), {.merge_stderr = true});
  c.close_stdin();
  bool eof = c.read_to_eof(10s);
  auto status = c.wait_exit(5s);
  out = c.seen();
  if (!eof || !status) FAIL("s_client did not finish within 15 s: " << out);
  return *status;
}

// ---- openssl s_server ------------------------------------------------------

struct s_server {
  std::optional<child_process> proc;
  std::uint16_t port = 0;

  explicit s_server(std::vector<std::string> extra = {}) {
    auto& p = shared_pki();
    std::vector<std::string> argv{"openssl",   "s_server", "-accept",  "127.0.0.1:0", "-cert",
                                  p.cert_file, "-key",     p.key_file, "-rev"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    // s_server ignores stdin EOF in -rev mode: SIGTERM ends it.
    proc.emplace(argv, child_options{.merge_stderr = true, .stop_signal = SIGTERM, .grace = 3s});
    // "ACCEPT 127.0.0.1:PORT" once it listens.
    const std::string accept = "ACCEPT 127.0.0.1:";
    auto line =
        proc->wait_for_line([&](const std::string& l) { return l.rfind(accept, 0) == 0; }, 10s);
    if (!line) FAIL("openssl s_server did not start: " << proc->seen());
    port = static_cast<std::uint16_t>(std::stoi(line->substr(accept.size())));
  }
  std::string url() const { return "tls://localhost:" + std::to_string(port) + "?framing=line"; }
};

// ---- Python websockets -----------------------------------------------------

struct py_server {
  std::optional<child_process> proc;
  std::string url;

  py_server() {
    auto& p = shared_pki();
    proc.emplace(std::vector<std::string>{python, interop_dir + "/py_peer.py", "server", "--cert",
                                          p.cert_file, "--key", p.key_file});
    auto line = proc->read_line(20s);
    if (!line || line->rfind("port ", 0) != 0)
      FAIL("the Python websockets peer did not start (got \""
           << line.value_or("<nothing>") << "\"); see its stderr above, and run scripts/setup.sh");
    url = "wss://localhost:" + line->substr(5) + "/";
  }
};

std::vector<std::byte> pattern(std::size_t n, std::size_t seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::byte((seed + i * 7) & 0xff);
  return v;
}

// Sends `m` and checks the echo: same bytes, same kind.
asio::awaitable<void> check_echo(coronet::channel& ch, coronet::message_view m) {
  INFO("sent " << m.size() << " bytes of "
               << (m.kind == coronet::message_kind::text ? "text" : "binary"));
  auto sent = co_await ch.send(m);
  REQUIRE(sent);
  auto got = co_await receive_within(ch, 10s);
  if (!got) FAIL("no echo: " << got.error().message());
  CHECK(got->kind == m.kind);
  CHECK(got->size() == m.size());
  bool same_bytes = got->text() == m.text(); // not CHECKed directly: 1 MiB in a report
  CHECK(same_bytes);
}

std::string describe(const std::error_code& ec) {
  return std::string(ec.category().name()) + " " + std::to_string(ec.value()) + ": " + ec.message();
}

} // namespace

TEST_CASE("tls interop: openssl s_client against coronet's tls:// server", "[interop][tls]") {
  auto& p = shared_pki();
  coronet::server server;
  auto started = server.start("tls://127.0.0.1:0?framing=raw", echo, p.server_options());
  if (!started) FAIL("coronet tls:// server: " << started.error().message());
  auto port = server.port();

  // Echo of a short line and a long one (several TLS records each way).
  auto echo_round = [&] {
    child_process c(s_client_args(port, p.ca_file), {.merge_stderr = true});
    const std::string short_line = "hello from openssl s_client";
    const std::string long_line(50'000, 'z');
    REQUIRE(c.write(short_line + "\n"));
    bool short_back = c.expect_line(short_line, 10s);
    INFO("s_client printed: " << c.seen());
    CHECK(short_back);
    REQUIRE(c.write(long_line + "\n"));
    bool long_back = c.expect_line(long_line, 10s);
    CHECK(long_back);
    c.close_stdin(); // s_client sends close_notify and exits
    CHECK(c.read_to_eof(10s));
    auto status = c.wait_exit(5s);
    INFO("s_client printed: " << c.seen());
    REQUIRE(status);
    CHECK(*status == 0);
    CHECK(c.saw("CONNECTION ESTABLISHED"));
    CHECK(c.saw("Verification: OK"));
    auto version = value_after(c, "Protocol version: ");
    REQUIRE(version);
    CHECK(*version == "TLSv1.2");
    auto suite = value_after(c, "Ciphersuite: ");
    REQUIRE(suite);
    INFO("cipher suite: " << *suite);
    CHECK(is_ecdhe_aead(*suite));
  };
  echo_round();

  SECTION("refused: TLS 1.1, TLS 1.3 only, CBC suites, an unknown CA") {
    struct refusal {
      const char* what;
      std::vector<std::string> args;
      bool other_ca = false;
    };
    // OpenSSL 3 sends TLS 1.1 only at security level 0.
    std::vector<refusal> refusals{
        {"TLS 1.1", {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"}},
        {"TLS 1.3 only (coronet speaks TLS 1.2)", {"-tls1_3"}},
        {"TLS 1.2 with CBC suites only",
         {"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA"}},
        {"the client trusts another CA", {}, true},
    };
    for (auto& r : refusals) {
      std::string out;
      int status =
          s_client_handshake_only(port, r.other_ca ? p.other_ca_file : p.ca_file, r.args, out);
      INFO(r.what << ": s_client exited " << status << ", printed: " << out);
      CHECK(status != 0);
      CHECK(out.find("CONNECTION ESTABLISHED") == std::string::npos);
    }
    // ... and the server still serves.
    echo_round();
  }
}

TEST_CASE("tls interop: coronet's tls:// client against openssl s_server", "[interop][tls]") {
  auto& p = shared_pki();

  SECTION("line echo (reversed), TLS 1.2 with an ECDHE AEAD suite") {
    s_server peer;
    asio::io_context io;
    run(io, [](std::string url, coronet::options o) -> asio::awaitable<void> {
      auto ch = co_await coronet::connect(url, o);
      if (!ch) FAIL("connect " << url << ": " << describe(ch.error()));
      CHECK(ch->properties().encrypted);
      for (std::string line : {std::string("hello coronet"), std::string("abc"), std::string("x"),
                               std::string(1000, 'q') + "!"}) {
        auto sent = co_await ch->send(coronet::message_view(line));
        REQUIRE(sent);
        auto m = co_await receive_within(*ch, 10s);
        if (!m) FAIL("no answer to \"" << line << "\": " << describe(m.error()));
        CHECK(m->text() == std::string(line.rbegin(), line.rend()));
      }
      // pipelined: order kept
      for (int i = 0; i < 50; ++i) {
        auto s = "line " + std::to_string(i);
        auto sent = co_await ch->send(coronet::message_view(s));
        REQUIRE(sent);
      }
      for (int i = 0; i < 50; ++i) {
        auto s = "line " + std::to_string(i);
        auto m = co_await receive_within(*ch, 10s);
        if (!m) FAIL("pipelined " << i << ": " << describe(m.error()));
        REQUIRE(m->text() == std::string(s.rbegin(), s.rend()));
      }
      auto closed = co_await ch->close();
      CHECK(closed);
    }(peer.url(), p.client()));

    // s_server prints the connection's parameters once the handshake is done.
    auto suite_line = peer.proc->wait_for_line(
        [](const std::string& l) { return l.rfind("Ciphersuite: ", 0) == 0; }, 5s);
    INFO("s_server printed: " << peer.proc->seen());
    REQUIRE(suite_line);
    auto version = value_after(*peer.proc, "Protocol version: ");
    REQUIRE(version);
    CHECK(*version == "TLSv1.2");
    auto suite = value_after(*peer.proc, "Ciphersuite: ");
    INFO("cipher suite: " << *suite);
    CHECK(is_ecdhe_aead(*suite));
    // What coronet offered (as far as s_server knows the suites): ECDHE AEAD only.
    auto offered = value_after(*peer.proc, "Client cipher list: ");
    REQUIRE(offered);
    for (auto& s : split(*offered, ':')) {
      if (s == "TLS_EMPTY_RENEGOTIATION_INFO_SCSV") continue;
      INFO("coronet offered " << s);
      CHECK(is_ecdhe_aead(s));
    }
  }

  SECTION("the wrong CA: unknown_ca") {
    s_server peer;
    asio::io_context io;
    auto ec = run(io, [](std::string url, coronet::options o) -> asio::awaitable<std::error_code> {
      auto ch = co_await coronet::connect(url, o);
      if (ch) co_return std::error_code{};
      co_return ch.error();
    }(peer.url(), p.client(false)));
    INFO("connect failed with " << describe(ec));
    CHECK(ec == coronet::tls_errc::unknown_ca);
  }

  SECTION("a server coronet cannot agree with: TLS 1.3 only, CBC suites only") {
    auto args =
        GENERATE(std::vector<std::string>{"-tls1_3"},
                 std::vector<std::string>{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256"});
    INFO("s_server " << args.front() << (args.size() > 2 ? " " + args[2] : std::string()));
    s_server peer(args);
    asio::io_context io;
    auto start = std::chrono::steady_clock::now();
    auto ec = run(io, [](std::string url, coronet::options o) -> asio::awaitable<std::error_code> {
      auto ch = co_await coronet::connect(url, o);
      if (ch) co_return std::error_code{};
      co_return ch.error();
    }(peer.url(), p.client()));
    INFO("connect failed with " << describe(ec));
    CHECK(ec);
    CHECK(ec != coronet::errc::timeout);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
  }
}

TEST_CASE("tls interop: Python websockets client against coronet's wss:// server",
          "[interop][tls]") {
  auto& p = shared_pki();
  coronet::server server;
  auto started = server.start("wss://127.0.0.1:0/echo", echo, p.server_options());
  if (!started) FAIL("coronet wss:// server: " << started.error().message());
  auto url = "wss://localhost:" + std::to_string(server.port()) + "/echo";

  // py_peer.py's client checks: text, UTF-8, binary, 1 MiB, empty,
  // fragmented, ping/pong, 200 pipelined, close 1000 and 4000 "bye".
  child_process c({python, interop_dir + "/py_peer.py", "client", url, "--ca", p.ca_file},
                  {.merge_stderr = true});
  bool eof = c.read_to_eof(30s);
  auto status = c.wait_exit(5s);
  INFO("py_peer.py client " << url << " printed: " << c.seen());
  REQUIRE(eof);
  REQUIRE(status);
  CHECK(*status == 0);
  CHECK(c.saw("py_peer: ok 1 MiB binary"));
  CHECK(c.saw("py_peer: all client checks passed"));

  // Verified for real: with only the other CA, Python refuses the server.
  child_process wrong({python, interop_dir + "/py_peer.py", "client", url, "--ca", p.other_ca_file},
                      {.merge_stderr = true});
  CHECK(wrong.read_to_eof(30s));
  auto wrong_status = wrong.wait_exit(5s);
  INFO("with the other CA, py_peer.py printed: " << wrong.seen());
  REQUIRE(wrong_status);
  CHECK(*wrong_status != 0);
  CHECK(wrong.saw("CERTIFICATE_VERIFY_FAILED"));
}

TEST_CASE("tls interop: coronet's wss:// client against a Python websockets server",
          "[interop][tls]") {
  auto& p = shared_pki();

  SECTION("text, binary, 1 MiB; the peer closes with 4000 \"bye\"") {
    py_server peer;
    asio::io_context io;
    run(
        io,
        [](std::string url, coronet::options o) -> asio::awaitable<void> {
          auto ch = co_await coronet::connect(url, o);
          if (!ch) FAIL("connect " << url << ": " << describe(ch.error()));
          CHECK(ch->properties().encrypted);
          CHECK(ch->properties().scheme == "wss");
          co_await check_echo(*ch, "hello from coronet over wss");
          co_await check_echo(*ch, "h\xc3\xa9llo w\xc3\xb6rld \xe2\x98\x83 \xf0\x9f\x98\x80");
          auto small = pattern(1000, 3);
          co_await check_echo(*ch, coronet::message_view(small, coronet::message_kind::binary));
          auto big = pattern(1u << 20, 5);
          co_await check_echo(*ch, coronet::message_view(big, coronet::message_kind::binary));
          auto big_text = std::string(1u << 20, 'y');
          co_await check_echo(*ch, coronet::message_view(big_text, coronet::message_kind::text));
          auto sent = co_await ch->send("please close");
          REQUIRE(sent);
          auto m = co_await receive_within(*ch, 10s);
          REQUIRE(!m);
          INFO("receive() failed with " << describe(m.error()));
          CHECK(m.error().category() == coronet::close_code_category());
          CHECK(m.error().value() == 4000);
          auto closed = co_await ch->close();
          INFO("close(): " << (closed ? "ok" : closed.error().message()));
          CHECK(closed);
        }(peer.url, p.client()),
        30s);
    bool seen = peer.proc->expect_line("closed 4000 bye");
    INFO("the peer printed: " << peer.proc->seen());
    CHECK(seen);
  }

  SECTION("the wrong CA: unknown_ca") {
    py_server peer;
    asio::io_context io;
    auto ec = run(io, [](std::string url, coronet::options o) -> asio::awaitable<std::error_code> {
      auto ch = co_await coronet::connect(url, o);
      if (ch) co_return std::error_code{};
      co_return ch.error();
    }(peer.url, p.client(false)));
    INFO("connect failed with " << describe(ec));
    CHECK(ec == coronet::tls_errc::unknown_ca);
  }
}
