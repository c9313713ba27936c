// echo_server: echoes every message back to its sender, over any transport.
//
//   echo_server --listen tcp://127.0.0.1:7000              length-prefixed messages
//   echo_server --listen "tcp://127.0.0.1:7000?framing=raw" bytes exactly as received
//   echo_server --listen udp://127.0.0.1:7000               one datagram, one echo
//   echo_server --listen ws://127.0.0.1:7000/echo           text as text, binary as binary
//   echo_server --listen unix:///tmp/echo.sock              a Unix-domain socket (file mode 0660)
//   echo_server --listen tls://127.0.0.1:7000 --cert server.pem --key server.key
//   echo_server --listen wss://127.0.0.1:7000/echo --cert server.pem --key server.key
//
// --client-ca ca.pem (with tls:// or wss://) asks every client for a
// certificate signed by that CA and refuses the others (mutual TLS).
//
// A message over --max-message closes that connection with a logged reason;
// the server goes on serving the others.  Ctrl-C stops it gracefully.
#include <coronet/coronet.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

namespace {

asio::awaitable<void> echo(coronet::channel ch) {
  auto m = co_await ch.receive();
  while (m) {
    if (auto sent = co_await ch.send(*m); !sent) {
      std::fprintf(stderr, "echo_server: closing %s: %s\n", ch.remote().c_str(),
                   sent.error().message().c_str());
      co_return;
    }
    // The other messages that one read brought are taken without waiting.
    m = ch.try_receive();
    if (!m && m.error() == coronet::errc::would_block) m = co_await ch.receive();
  }
  if (m.error() != coronet::errc::closed)
    std::fprintf(stderr, "echo_server: closing %s: %s\n", ch.remote().c_str(),
                 m.error().message().c_str());
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"coronet echo server"};
  std::string url;
  coronet::server_options options;
  app.add_option("--listen", url,
                 "URL to listen on, e.g. tcp://127.0.0.1:7000 or ws://127.0.0.1:7000/echo")
      ->required();
  app.add_option("--threads", options.threads, "threads, each with its own acceptor")
      ->check(CLI::Range(1u, 256u));
  app.add_option("--max-message", options.max_message, "largest message accepted, in bytes")
      ->check(CLI::PositiveNumber);
  app.add_option("--drop-every", options.udp.drop_every,
                 "udp:// fault injection: drop every Nth datagram received (0 = none)");
  coronet::tls_identity identity;
  std::string client_ca;
  auto* cert =
      app.add_option("--cert", identity.certificate_chain_file,
                     "tls:// and wss://: the server's certificate chain (PEM, leaf first)");
  auto* key = app.add_option("--key", identity.private_key_file,
                             "tls:// and wss://: its private key (PEM)");
  cert->needs(key);
  key->needs(cert);
  app.add_option("--key-password", identity.private_key_password, "password of an encrypted --key")
      ->needs(key);
  app.add_option("--client-ca", client_ca,
                 "tls:// and wss://: require a client certificate signed by this CA (PEM)")
      ->needs(cert);
  CLI11_PARSE(app, argc, argv);

  std::string why;
  auto parsed = coronet::parse_url(url, &why);
  if (!parsed) {
    std::fprintf(stderr, "echo_server: bad URL \"%s\": %s\n", url.c_str(), why.c_str());
    return 2;
  }
  bool secure = coronet::transport_properties(url)->encrypted;
  if (secure && identity.certificate_chain_file.empty()) {
    std::fprintf(stderr,
                 "echo_server: %s needs a certificate: pass --cert FILE --key FILE "
                 "(examples/echo/README.md shows how to make a test one)\n",
                 url.c_str());
    return 2;
  }
  if (!secure && !identity.certificate_chain_file.empty()) {
    std::fprintf(stderr, "echo_server: --cert and --key are for encrypted transports (tls://, "
                         "wss://)\n");
    return 2;
  }
  if (secure) {
    options.tls.identities = {identity};
    if (!client_ca.empty()) {
      options.tls.ca_files = {client_ca};
      options.tls.require_client_certificate = true;
    }
  }
  options.on_listening = [&](std::uint16_t port) {
    auto shown = *parsed;
    shown.port = port;
    std::printf("echo_server: listening on %s\n", shown.to_string().c_str());
    std::fflush(stdout);
  };
  auto served = coronet::serve(url, echo, options);
  if (!served) {
    std::fprintf(stderr, "echo_server: cannot listen on %s: %s\n", url.c_str(),
                 served.error().message().c_str());
    return 1;
  }
  return 0;
}
