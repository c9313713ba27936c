// A program outside the project that uses an installed coronet, linked as a
// user's would be (CMake: the static libcoronet.a; pkg-config: the shared
// library): every built-in transport must be registered, also when the
// linker only keeps what is referenced, and an echo goes through a loopback
// server over tcp:// and unix://.
#include <coronet/coronet.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace {

bool echo_through(const std::string& listen_url, const std::string& connect_prefix) {
  coronet::server server;
  auto started = server.start(listen_url, [](coronet::channel ch) -> asio::awaitable<void> {
    while (auto m = co_await ch.receive())
      if (!co_await ch.send(*m)) break;
  });
  if (!started) {
    std::printf("consumer: cannot serve %s: %s\n", listen_url.c_str(),
                started.error().message().c_str());
    return false;
  }
  auto url = connect_prefix.empty() ? listen_url : connect_prefix + std::to_string(server.port());
  asio::io_context io;
  bool ok = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto ch = co_await coronet::connect(url);
        if (!ch) co_return;
        co_await ch->send(coronet::message_view("installed"));
        ch->set_receive_timeout(std::chrono::seconds(5));
        auto m = co_await ch->receive();
        ok = m && m->text() == "installed";
        co_await ch->close();
      },
      asio::detached);
  io.run();
  std::printf("consumer: echo over %s %s\n", url.c_str(), ok ? "works" : "FAILED");
  return ok;
}

} // namespace

int main() {
  auto schemes = coronet::registered_schemes();
  std::string listed;
  for (auto& s : schemes) listed += " " + s;
  std::printf("consumer: registered transports:%s\n", listed.c_str());
  bool all = true;
  for (auto want : {"tcp", "tls", "udp", "unix", "ws", "wss"})
    if (std::find(schemes.begin(), schemes.end(), want) == schemes.end()) {
      std::printf("consumer: %s:// is MISSING (dropped by the linker?)\n", want);
      all = false;
    }
  bool tcp = echo_through("tcp://127.0.0.1:0", "tcp://127.0.0.1:");
  auto sock = "unix://@coronet-consumer-" + std::to_string(::getpid());
  bool unix_socket = echo_through(sock, "");
  return all && tcp && unix_socket ? 0 : 1;
}
