// echo_server: echoes every message back to its sender, over any transport.
//
//   echo_server --listen tcp://127.0.0.1:7000              length-prefixed messages
//   echo_server --listen "tcp://127.0.0.1:7000?framing=raw" bytes exactly as received
//   echo_server --listen udp://127.0.0.1:7000               one datagram, one echo
//   echo_server --listen ws://127.0.0.1:7000/echo           text as text, binary as binary
//
// A message over --max-message closes that connection with a logged reason;
// the server goes on serving the others.  Ctrl-C stops it gracefully.
#include <coronet/coronet.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

namespace {

asio::awaitable<void> echo(coronet::channel ch) {
  for (;;) {
    auto m = co_await ch.receive();
    if (!m) {
      if (m.error() != coronet::errc::closed)
        std::fprintf(stderr, "echo_server: closing %s: %s\n", ch.remote().c_str(),
                     m.error().message().c_str());
      co_return;
    }
    if (auto sent = co_await ch.send(*m); !sent) {
      std::fprintf(stderr, "echo_server: closing %s: %s\n", ch.remote().c_str(),
                   sent.error().message().c_str());
      co_return;
    }
  }
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
  CLI11_PARSE(app, argc, argv);

  std::string why;
  auto parsed = coronet::parse_url(url, &why);
  if (!parsed) {
    std::fprintf(stderr, "echo_server: bad URL \"%s\": %s\n", url.c_str(), why.c_str());
    return 2;
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
