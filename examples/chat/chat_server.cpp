// chat_server: rooms for browsers and terminal clients, over any transport,
// across processes through Redis.
//
//   chat_server --listen ws://127.0.0.1:8080 --secret s3cret          one process
//   chat_server --listen ws://127.0.0.1:8080 --listen tcp://127.0.0.1:8081
//               --redis redis://127.0.0.1:6379 --secret s3cret        (one of several)
//   chat_server --issue-token alice --secret s3cret                   a token for alice
//
// On a ws:// or wss:// listener, GET / is the chat page and /chat the
// WebSocket (a token in the query, a cookie or Authorization: Bearer; no
// valid token, 401 before the upgrade).  On a tcp:// listener each line is
// one JSON message, and the first must be {"type":"auth","token":T}.  The
// protocol is in README.md.
#include "chat_page.hpp"
#include "chat_protocol.hpp"
#include "coronet_js.hpp"

#include <coronet/coronet.hpp>
#include <coronet/redis_layer.hpp>

#include <CLI/CLI.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

struct settings {
  std::vector<std::string> listen;
  std::string redis, secret, issue_for;
  std::size_t history = 50;
  unsigned threads = 1;
  double rate = 20;
  bool demo_login = true;
  coronet::tls_identity identity;
};

// What every connection shares.
struct chat_state {
  coronet::groups& rooms;
  coronet::jwt_verifier verifier;
  double rate;
};

// (Every string a co_await expression sees is a named variable: GCC 12
// corrupts short std::string temporaries there; docs/design.md.)
asio::awaitable<bool> reply(coronet::channel& ch, const std::string& text) {
  auto sent = co_await ch.send(coronet::message_view(text));
  co_return sent.has_value();
}

asio::awaitable<bool> reply_error(coronet::channel& ch, const std::string& why) {
  auto text = chat::error(why);
  co_return co_await reply(ch, text);
}

constexpr std::size_t max_rooms_per_client = 32;

// One signed-in client, on any transport, until it leaves or misbehaves.
asio::awaitable<void> session(chat_state& chat, coronet::channel ch, const std::string& user) {
  chat::token_bucket bucket(chat.rate);
  std::map<std::string, coronet::membership> joined;

  for (;;) {
    auto m = co_await ch.receive();
    if (!m) break;
    if (!bucket.take()) {
      auto why = "more than " + std::to_string(int(chat.rate)) + " messages a second";
      co_await reply_error(ch, why);
      co_await ch.close({1008, why});
      break;
    }
    auto parsed = chat::parse_request(m->text());
    std::string problem; // what to answer with an error, if anything
    if (auto* why = std::get_if<std::string>(&parsed)) {
      problem = *why;
    } else if (auto& r = std::get<chat::request>(parsed); r.type == "join") {
      if (joined.count(r.room)) {
        problem = "already in " + r.room;
      } else if (joined.size() >= max_rooms_per_client) {
        problem = "at most " + std::to_string(max_rooms_per_client) + " rooms at once";
      } else {
        // Joined with the live messages held back, the reply (with what
        // the client missed since r.since), then the live stream: no gap,
        // nothing twice.
        auto room = chat.rooms.get(r.room);
        auto members = co_await room.presence();
        std::vector<std::string> names;
        if (members)
          names = *members;
        else // Redis is down: this process's members are what is known
          for (auto& member : room.members()) names.push_back(member.name);
        names.push_back(user);
        std::sort(names.begin(), names.end());
        names.erase(std::unique(names.begin(), names.end()), names.end());
        auto caught_up = co_await room.join_since(ch, user, r.since.value_or(0), r.epoch);
        if (!caught_up) break;
        std::vector<std::string> history;
        for (auto& h : caught_up->missed) history.emplace_back(h.message.text());
        auto recovered = r.since ? std::optional<bool>(caught_up->recovered) : std::nullopt;
        auto answer = chat::joined(r.room, names, caught_up->epoch, recovered, history);
        if (!co_await reply(ch, answer)) break;
        caught_up->member.resume();
        joined.emplace(r.room, std::move(caught_up->member));
        room.publish(coronet::shared_message(chat::presence(r.room, "joined", user)));
      }
    } else if (r.type == "leave") {
      if (auto it = joined.find(r.room); it == joined.end()) {
        problem = "not in " + r.room;
      } else {
        joined.erase(it);
        chat.rooms.get(r.room).publish(
            coronet::shared_message(chat::presence(r.room, "left", user)));
      }
    } else if (r.type == "say") {
      if (!joined.count(r.room)) {
        problem = "join " + r.room + " first";
      } else {
        auto parts = chat::message(r.room, user, r.text);
        auto seq = co_await chat.rooms.get(r.room).publish_numbered(parts.before, parts.after);
        if (!seq) problem = "not sent: " + seq.error().message();
      }
    } else {
      problem = "already signed in";
    }
    if (!problem.empty() && !co_await reply_error(ch, problem)) break;
  }
  for (auto& [name, membership] : joined) {
    membership.leave();
    chat.rooms.get(name).publish(coronet::shared_message(chat::presence(name, "left", user)));
  }
}

// ws:// and wss://: the token was checked at the handshake.
asio::awaitable<void> websocket_client(chat_state& chat, coronet::channel ch) {
  auto claims = ch.info<coronet::jwt_claims>();
  if (!claims || claims->subject.empty()) {
    co_await ch.close({1008, "the token names no user (sub)"});
    co_return;
  }
  co_await session(chat, ch, claims->subject);
}

// tcp://: the first line is {"type":"auth","token":T}; nothing else counts
// until it is verified.
asio::awaitable<void> line_client(chat_state& chat, coronet::channel ch) {
  ch.set_receive_timeout(10s);
  for (int tries = 0; tries < 3; ++tries) {
    auto m = co_await ch.receive();
    if (!m) co_return;
    auto parsed = chat::parse_request(m->text());
    auto* r = std::get_if<chat::request>(&parsed);
    if (!r || r->type != "auth") {
      std::string first = R"(sign in first: {"type":"auth","token":"..."})";
      co_await reply_error(ch, first);
      continue;
    }
    auto claims = chat.verifier.verify(r->token);
    if (!claims || claims->subject.empty()) {
      auto why = claims ? std::string("the token names no user (sub)") : claims.error().message();
      co_await reply_error(ch, why);
      co_await ch.close();
      co_return;
    }
    ch.set_receive_timeout(0ms);
    auto hello = chat::json{{"type", "authenticated"}, {"name", claims->subject}}.dump();
    if (!co_await reply(ch, hello)) co_return;
    co_await session(chat, ch, claims->subject);
    co_return;
  }
  co_await ch.close();
}

// A token for `name`, valid for a day (--issue-token, and the demo login).
std::string token_for(const std::string& name, const std::string& secret) {
  auto now = chat::now_ms() / 1000;
  return coronet::jwt_sign(chat::json{{"sub", name}, {"iat", now}, {"exp", now + 86400}}.dump(),
                           secret);
}

// Plain HTTP on a WebSocket listener: the page, its client library, and
// (demo) tokens for a name.
coronet::http_response http_page(const settings& s, const coronet::http_request& r) {
  auto file = [](std::string_view text, std::string type) {
    coronet::http_response f;
    f.content_type = std::move(type);
    f.body = std::string(text);
    f.headers.push_back({"Cache-Control", "no-store"});
    return f;
  };
  if (r.method == "GET" && r.path == "/") return file(web::chat_page, "text/html; charset=utf-8");
  if (r.method == "GET" && r.path == "/coronet.js")
    return file(web::coronet_js, "text/javascript; charset=utf-8");
  if (s.demo_login && r.method == "GET" && r.path == "/token") {
    auto name = r.query_value("name").value_or("");
    if (name.empty() || name.size() > 32) {
      auto bad = coronet::http_response::error(400);
      bad.body = "name: 1 to 32 bytes";
      return bad;
    }
    coronet::http_response token;
    token.content_type = "application/json";
    token.body = chat::json{{"token", token_for(name, s.secret)}}.dump();
    token.headers.push_back({"Cache-Control", "no-store"});
    return token;
  }
  return coronet::http_response::error(404);
}

int issue_token(const settings& s) {
  std::printf("%s\n", token_for(s.issue_for, s.secret).c_str());
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"coronet chat server: rooms for browsers (ws://, wss://) and terminal clients "
               "(tcp://), across processes through Redis"};
  settings s;
  app.add_option("--listen", s.listen,
                 "URL to serve (repeat for several): ws://HOST:PORT and wss://HOST:PORT serve the "
                 "page at / and the WebSocket at /chat; tcp://HOST:PORT takes one JSON message "
                 "per line");
  app.add_option("--redis", s.redis,
                 "join the chat_servers that use this Redis: redis://HOST:PORT[/DB], "
                 "redis://:PASSWORD@HOST:PORT, unix:///PATH");
  app.add_option("--secret", s.secret, "the HS256 secret that signs the clients' tokens")
      ->required();
  app.add_option("--history", s.history, "messages kept per room and sent on join")
      ->check(CLI::Range(0, 10000));
  app.add_option("--threads", s.threads, "threads per listener")->check(CLI::Range(1u, 64u));
  app.add_option("--rate", s.rate, "messages a second one client may send (then: close 1008)")
      ->check(CLI::PositiveNumber);
  app.add_option("--issue-token", s.issue_for,
                 "print a token for this user name (valid for a day) and exit");
  app.add_flag("!--no-demo-login", s.demo_login,
               "do not answer GET /token?name=NAME (the page's demo login, which signs a token "
               "for any name)");
  app.add_option("--cert", s.identity.certificate_chain_file, "wss://: certificate chain (PEM)");
  app.add_option("--key", s.identity.private_key_file, "wss://: private key (PEM)");
  CLI11_PARSE(app, argc, argv);

  if (!s.issue_for.empty()) return issue_token(s);
  if (s.listen.empty()) {
    std::fprintf(stderr, "chat_server: nothing to serve: give --listen URL (see --help)\n");
    return 2;
  }

  asio::io_context io; // Redis and signals; the listeners have their own threads
  std::shared_ptr<coronet::redis_layer> layer;
  if (!s.redis.empty()) {
    std::optional<coronet::result<std::shared_ptr<coronet::redis_layer>>> connected;
    asio::co_spawn(io, coronet::redis_layer::connect(io.get_executor(), s.redis),
                   [&](std::exception_ptr, auto r) { connected = std::move(r); });
    while (!connected && io.run_one()) {}
    if (!connected || !*connected) {
      std::fprintf(stderr, "chat_server: cannot use Redis at %s: %s\n", s.redis.c_str(),
                   connected ? connected->error().message().c_str() : "no answer");
      return 1;
    }
    layer = **connected;
  }
  coronet::groups rooms({.slow_consumer = coronet::slow_consumer_policy::drop_oldest,
                         .member_backlog = 256,
                         .history = s.history},
                        layer);
  chat_state chat{rooms, coronet::jwt_verifier(s.secret), s.rate};

  std::vector<std::unique_ptr<coronet::server>> servers;
  for (auto& url : s.listen) {
    auto scheme = coronet::transport_properties(url);
    if (!scheme) {
      std::fprintf(stderr, "chat_server: bad URL \"%s\"\n", url.c_str());
      return 2;
    }
    coronet::server_options o;
    o.threads = s.threads;
    o.handle_signals = false;
    o.max_message = 16 * 1024;
    o.send_queue_limit = 1024 * 1024;
    coronet::connection_handler handler;
    std::string name(scheme->scheme);
    if (name == "ws" || name == "wss") {
      o.websocket.authorize = coronet::jwt_authorize(chat.verifier);
      o.websocket.http_handler = [&s](const coronet::http_request& r) { return http_page(s, r); };
      o.websocket.ping_interval = 30s;
      o.routes = {{"/chat", [&chat](coronet::channel ch) { return websocket_client(chat, ch); }}};
      if (name == "wss") o.tls.identities = {s.identity};
    } else if (name == "tcp" || name == "tls" || name == "unix") {
      o.framing = coronet::framing::line;
      if (name == "tls") o.tls.identities = {s.identity};
      handler = [&chat](coronet::channel ch) { return line_client(chat, ch); };
    } else {
      std::fprintf(stderr,
                   "chat_server: %s: the chat runs on ws://, wss://, tcp://, tls:// or unix://\n",
                   url.c_str());
      return 2;
    }
    auto server = std::make_unique<coronet::server>();
    if (auto started = server->start(url, handler, o); !started) {
      std::fprintf(stderr, "chat_server: cannot listen on %s: %s\n", url.c_str(),
                   started.error().message().c_str());
      return 1;
    }
    auto shown = *coronet::parse_url(url);
    shown.port = server->port();
    std::printf("chat_server: listening on %s%s\n", shown.to_string().c_str(),
                name == "ws" || name == "wss" ? " (page at /, WebSocket at /chat)" : "");
    servers.push_back(std::move(server));
  }
  std::printf("chat_server: %s\n", layer ? ("rooms shared through Redis at " + s.redis).c_str()
                                         : "rooms in this process only (no --redis)");
  std::fflush(stdout);

  // Ctrl-C / SIGTERM: the listeners stop gracefully (on a thread of their
  // own, since their handlers may wait for Redis, which works on this one),
  // then the Redis layer says goodbye (presence entries removed).
  asio::signal_set signals(io, SIGINT, SIGTERM);
  auto work = asio::make_work_guard(io);
  std::thread stopper;
  signals.async_wait([&](std::error_code ec, int) {
    if (ec) return;
    std::printf("chat_server: stopping\n");
    std::fflush(stdout);
    stopper = std::thread([&] {
      for (auto& server : servers) server->stop();
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            if (layer) co_await layer->close();
            work.reset();
            io.stop();
          },
          asio::detached);
    });
  });
  io.run();
  if (stopper.joinable()) stopper.join();
  return 0;
}
