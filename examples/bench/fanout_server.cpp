// fanout_server: the server fanout_bench measures: every WebSocket client
// of /sub is a member of one group, and every message a client of /pub
// sends is published to it.  With --redis, several fanout_servers share
// the group through Redis.  (The Socket.IO server it is measured against is
// socketio/server.js, the same thing written as Socket.IO users write it.)
//
//   fanout_server --listen ws://127.0.0.1:0 [--redis redis://127.0.0.1:6379] [--threads N]
#include <coronet/coronet.hpp>
#include <coronet/redis_layer.hpp>

#include <CLI/CLI.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <cstdio>
#include <optional>
#include <string>

int main(int argc, char** argv) {
  CLI::App app{"fan-out server for fanout_bench: /sub clients are members of one group, "
               "/pub clients' messages are published to it"};
  std::string url = "ws://127.0.0.1:0", redis;
  unsigned threads = 1;
  app.add_option("--listen", url, "ws:// URL to listen on (its path must be /)");
  app.add_option("--redis", redis, "share the group with other fanout_servers through Redis");
  app.add_option("--threads", threads, "server threads")->check(CLI::Range(1u, 64u));
  CLI11_PARSE(app, argc, argv);

  asio::io_context io; // the Redis layer's thread (and signals)
  std::shared_ptr<coronet::redis_layer> layer;
  if (!redis.empty()) {
    std::optional<coronet::result<std::shared_ptr<coronet::redis_layer>>> connected;
    asio::co_spawn(io, coronet::redis_layer::connect(io.get_executor(), redis),
                   [&](std::exception_ptr, auto r) { connected = std::move(r); });
    while (!connected && io.run_one()) {}
    if (!connected || !*connected) {
      std::fprintf(stderr, "fanout_server: cannot use Redis at %s\n", redis.c_str());
      return 1;
    }
    layer = **connected;
  }
  // drop_oldest with the default backlog: a member that falls behind loses
  // its oldest messages rather than holding memory (the bench counts them).
  coronet::groups groups({}, layer);
  auto room = groups.get("bench");

  coronet::server_options o;
  o.threads = threads;
  o.handle_signals = false;
  o.routes = {
      {"/sub",
       [&room](coronet::channel ch) -> asio::awaitable<void> {
         auto member = room.join(ch);
         if (!member) co_return;
         while (co_await ch.receive()) {}
       }},
      {"/pub",
       [&room](coronet::channel ch) -> asio::awaitable<void> {
         while (auto m = co_await ch.receive()) room.publish(*m);
       }},
  };
  coronet::server server;
  if (auto started = server.start(url, nullptr, o); !started) {
    std::fprintf(stderr, "fanout_server: cannot listen on %s: %s\n", url.c_str(),
                 started.error().message().c_str());
    return 1;
  }
  std::printf("fanout_server: listening on port %u\n", unsigned(server.port()));
  std::fflush(stdout);

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code, int) {
    auto s = room.stats();
    std::fprintf(stderr, "fanout_server: published %llu, delivered %llu, dropped %llu\n",
                 (unsigned long long)s.published, (unsigned long long)s.delivered,
                 (unsigned long long)s.dropped);
    io.stop();
  });
  io.run();
  server.stop();
  return 0;
}
