// echo_client: sends messages to an echo server, checks every echo and
// reports throughput and latency.
//
//   echo_client --connect tcp://127.0.0.1:7000 --messages 10000 --size 64 --concurrency 4
//   echo_client --connect tls://localhost:7000 --ca ca.pem
//   echo_client --connect wss://localhost:7000/echo --ca ca.pem
//
// Over tls:// and wss:// the server's certificate is verified against --ca
// (default: the system's CA bundle) and the URL's host (or --server-name);
// --insecure skips that, for tests only.  --cert/--key present a client
// certificate to a server that asks for one (mutual TLS).
//
// With a transport that does not keep message boundaries (?framing=raw) the
// echo is reassembled byte by byte before it is compared.  Over an unreliable
// transport (udp://) a missing echo is counted as lost after --timeout-ms
// (default 250 ms there) and a late echo of an earlier message is skipped.
#include <coronet/coronet.hpp>

#include <CLI/CLI.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct settings {
  std::string url;
  std::size_t messages = 1000;
  std::size_t size = 64;
  std::size_t concurrency = 1;
  unsigned timeout_ms = 0; // 0: 5000 ms, or 250 ms over an unreliable transport
  coronet::tls_options tls;
};

struct tally {
  std::vector<double> latencies_us;
  std::size_t bad = 0;
  std::size_t lost = 0, late = 0; // unreliable transports only
  std::string error;              // first failure
};

// The first 8 bytes carry the message's number (as far as they fit), so a
// late echo can be told from a wrong one.
std::vector<std::byte> payload(std::size_t size, std::size_t seed) {
  std::vector<std::byte> p(size);
  for (std::size_t i = 0; i < size; ++i)
    p[i] = i < 8 ? std::byte((seed >> (8 * i)) & 0xff) : std::byte((seed * 131 + i * 7) & 0xff);
  return p;
}

std::size_t number_of(std::span<const std::byte> m) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < std::min<std::size_t>(8, m.size()); ++i)
    n |= static_cast<std::size_t>(m[i]) << (8 * i);
  return n;
}

asio::awaitable<void> run_connection(const settings& s, std::size_t id, std::size_t count,
                                     tally& t) {
  bool lossy = !coronet::transport_properties(s.url)->reliable;
  coronet::options o;
  o.tls = s.tls;
  auto timeout = std::chrono::milliseconds(s.timeout_ms ? s.timeout_ms : lossy ? 250 : 5000);
  o.connect_timeout = o.receive_timeout = timeout;
  auto ch = co_await coronet::connect(s.url, o);
  if (!ch) {
    if (t.error.empty()) {
      t.error = "cannot connect to " + s.url + ": " + ch.error().message();
      if (ch.error() == coronet::tls_errc::unknown_ca)
        t.error += "\n  (pass --ca FILE with the CA that signed the server's certificate)";
      else if (ch.error() == coronet::tls_errc::name_mismatch)
        t.error += "\n  (connect to a name the certificate is for, or pass --server-name NAME)";
    }
    co_return;
  }
  lossy = !ch->properties().reliable;
  bool whole = ch->properties().preserves_boundaries;
  std::vector<std::byte> echoed;
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t number = id * 1000003 + i;
    auto sent_bytes = payload(s.size, number);
    auto start = clock_type::now();
    if (auto r = co_await ch->send(coronet::message_view(sent_bytes)); !r) {
      if (t.error.empty()) t.error = "send failed: " + r.error().message();
      co_return;
    }
    echoed.clear();
    bool lost = false;
    while (echoed.size() < s.size || (whole && echoed.empty() && s.size == 0)) {
      auto m = co_await ch->receive();
      if (!m) {
        if (lossy && m.error() == coronet::errc::timeout) {
          lost = true;
          break;
        }
        if (t.error.empty()) t.error = "receive failed: " + m.error().message();
        co_return;
      }
      if (lossy && s.size >= 8 && number_of(m->data) < number) {
        ++t.late; // the echo of a message already counted as lost
        continue;
      }
      echoed.insert(echoed.end(), m->data.begin(), m->data.end());
      if (whole) break;
    }
    if (lost) {
      ++t.lost;
      continue;
    }
    t.latencies_us.push_back(
        std::chrono::duration<double, std::micro>(clock_type::now() - start).count());
    if (echoed != sent_bytes) ++t.bad;
  }
  co_await ch->close();
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"coronet echo client"};
  settings s;
  app.add_option("--connect", s.url, "URL of the echo server, e.g. tcp://127.0.0.1:7000")
      ->required();
  app.add_option("--messages", s.messages, "messages to send in all")->check(CLI::PositiveNumber);
  app.add_option("--size", s.size, "bytes per message");
  app.add_option("--concurrency", s.concurrency, "connections, each sending in turn")
      ->check(CLI::Range(1, 10000));
  app.add_option("--timeout-ms", s.timeout_ms,
                 "deadline for connecting and for each echo (default 5000, udp:// 250)");
  std::string ca, server_name;
  coronet::tls_identity identity;
  auto* ca_option = app.add_option(
      "--ca", ca, "tls:// and wss://: trust this CA (PEM) instead of the system's CA bundle");
  app.add_flag("--insecure", s.tls.insecure_skip_verify,
               "tls:// and wss://: do not verify the server's certificate (tests only)")
      ->excludes(ca_option);
  auto* cert = app.add_option("--cert", identity.certificate_chain_file,
                              "tls:// and wss://: client certificate chain (PEM), for mutual TLS");
  auto* key = app.add_option("--key", identity.private_key_file,
                             "tls:// and wss://: the client certificate's private key (PEM)");
  cert->needs(key);
  key->needs(cert);
  app.add_option("--server-name", server_name,
                 "tls:// and wss://: the name to send (SNI) and verify instead of the URL's host");
  CLI11_PARSE(app, argc, argv);

  std::string why;
  if (!coronet::parse_url(s.url, &why)) {
    std::fprintf(stderr, "echo_client: bad URL \"%s\": %s\n", s.url.c_str(), why.c_str());
    return 2;
  }
  bool secure = coronet::transport_properties(s.url)->encrypted;
  bool tls_flags = !ca.empty() || s.tls.insecure_skip_verify ||
                   !identity.certificate_chain_file.empty() || !server_name.empty();
  if (!secure && tls_flags) {
    std::fprintf(stderr, "echo_client: --ca, --insecure, --cert, --key and --server-name are for "
                         "encrypted transports (tls://, wss://)\n");
    return 2;
  }
  if (!ca.empty()) s.tls.ca_files = {ca};
  if (!server_name.empty()) s.tls.server_name = {server_name};
  if (!identity.certificate_chain_file.empty()) s.tls.identities = {identity};
  if (secure && s.tls.insecure_skip_verify)
    std::fprintf(stderr,
                 "echo_client: WARNING: --insecure: the server's certificate is NOT verified; "
                 "anyone on the path can impersonate the server and read the traffic\n");

  asio::io_context io(1);
  std::vector<tally> tallies(s.concurrency);
  for (std::size_t c = 0; c < s.concurrency; ++c) {
    std::size_t count = s.messages / s.concurrency + (c < s.messages % s.concurrency ? 1 : 0);
    asio::co_spawn(io, run_connection(s, c, count, tallies[c]), [&](std::exception_ptr e) {
      if (e) tallies[c].error = "unexpected exception";
    });
  }
  auto start = clock_type::now();
  io.run();
  double seconds = std::chrono::duration<double>(clock_type::now() - start).count();

  std::vector<double> all;
  std::size_t bad = 0, lost = 0, late = 0;
  for (auto& t : tallies) {
    if (!t.error.empty()) {
      std::fprintf(stderr, "echo_client: %s\n", t.error.c_str());
      return 1;
    }
    all.insert(all.end(), t.latencies_us.begin(), t.latencies_us.end());
    bad += t.bad;
    lost += t.lost;
    late += t.late;
  }
  std::printf("echo_client: %zu messages of %zu bytes over %zu connections in %.3f s\n", all.size(),
              s.size, s.concurrency, seconds);
  std::printf("  %.0f msgs/s  %.2f MB/s  latency p50 %.1f us  p99 %.1f us  p999 %.1f us\n",
              static_cast<double>(all.size()) / seconds,
              static_cast<double>(all.size() * s.size) / seconds / 1e6, percentile(all, 0.50),
              percentile(all, 0.99), percentile(all, 0.999));
  if (lost || late)
    std::printf("  lost %zu of %zu (%.2f%%), %zu late echoes skipped\n", lost, s.messages,
                100.0 * static_cast<double>(lost) / static_cast<double>(s.messages), late);
  if (bad) {
    std::fprintf(stderr, "echo_client: %zu echoes did not match what was sent\n", bad);
    return 1;
  }
  return 0;
}
