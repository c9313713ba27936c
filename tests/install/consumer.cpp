// A program outside the project that uses an installed coronet: it echoes
// one message through a loopback server.
#include <coronet/coronet.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include <cstdio>

int main() {
  coronet::server server;
  auto started =
      server.start("tcp://127.0.0.1:0", [](coronet::channel ch) -> asio::awaitable<void> {
        while (auto m = co_await ch.receive())
          if (!co_await ch.send(*m)) break;
      });
  if (!started) return 1;
  asio::io_context io;
  bool ok = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto ch = co_await coronet::connect("tcp://127.0.0.1:" + std::to_string(server.port()));
        if (!ch) co_return;
        co_await ch->send(coronet::message_view("installed"));
        ch->set_receive_timeout(std::chrono::seconds(5));
        auto m = co_await ch->receive();
        ok = m && m->text() == "installed";
      },
      asio::detached);
  io.run();
  std::puts(ok ? "consumer: echo through the installed coronet works" : "consumer: echo FAILED");
  return ok ? 0 : 1;
}
