// chat_client: the chat in a terminal, over any transport the server
// listens on.  Lines typed are said in the room; what the room says is
// printed.
//
//   chat_client --connect ws://127.0.0.1:8080/chat --token "$TOKEN" --room lobby
//   chat_client --connect tcp://127.0.0.1:8081 --token "$TOKEN" --room lobby
//
// Over ws:// and wss:// the token goes in "Authorization: Bearer"; over
// tcp:// (one JSON message per line) in the first line,
// {"type":"auth","token":T}.  --json prints the server's messages as they
// come (for scripts).  At the end of its input it waits --linger-ms for the
// last replies, then closes.
//
// When the connection drops it comes back by itself (coronet's
// reconnecting_channel: 1, 2, 4 ... 30 s with jitter), signs in again and
// rejoins with the last seq it saw, so the room's history fills the gap.
// A refused token ends it.
#include <coronet/coronet.hpp>

#include <CLI/CLI.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

struct settings {
  std::string url, token, room;
  bool json_output = false, insecure = false;
  std::string ca;
  unsigned linger_ms = 1000;
  unsigned max_attempts = 0;
};

// Where the client is in the room's numbering, for the next join.
struct position {
  std::uint64_t seq = 0;
  std::string epoch;

  // Notes `m` and takes out what was seen already (messages read before a
  // drop can still be waiting when the join asks for those after `seq`).
  // False when nothing is left of it.
  bool note(json& m) {
    auto type = m.value("type", "");
    auto seen = [&](const json& x) { return x.value("seq", std::uint64_t(0)) <= seq; };
    if (type == "joined") {
      if (m.value("epoch", "") != epoch) seq = 0; // another numbering: nothing was seen
      epoch = m.value("epoch", "");
      auto& history = m["history"];
      history.erase(std::remove_if(history.begin(), history.end(), seen), history.end());
      for (auto& h : history) seq = std::max(seq, h.value("seq", std::uint64_t(0)));
    } else if (type == "message") {
      if (seen(m)) return false;
      seq = m.value("seq", std::uint64_t(0));
    }
    return true;
  }
  json join(const std::string& room) const {
    json j{{"type", "join"}, {"room", room}};
    if (!epoch.empty()) {
      j["since"] = seq;
      j["epoch"] = epoch;
    }
    return j;
  }
};

void print(const settings& s, const json& m) {
  if (s.json_output) {
    std::printf("%s\n", m.dump().c_str());
    std::fflush(stdout);
    return;
  }
  auto type = m.value("type", "");
  auto room = m.value("room", "");
  if (type == "message") {
    std::printf("[#%s] %s: %s\n", room.c_str(), m.value("from", "").c_str(),
                m.value("text", "").c_str());
  } else if (type == "joined") {
    std::string members;
    for (auto& n : m["members"]) members += (members.empty() ? "" : ", ") + n.get<std::string>();
    std::printf("* joined #%s (members: %s)%s\n", room.c_str(), members.c_str(),
                m.value("recovered", true) ? "" : " (some messages were missed)");
    for (auto& h : m["history"])
      std::printf("[#%s] %s: %s\n", room.c_str(), h.value("from", "").c_str(),
                  h.value("text", "").c_str());
  } else if (type == "presence") {
    if (m.contains("joined"))
      std::printf("* %s joined #%s\n", m.value("joined", "").c_str(), room.c_str());
    if (m.contains("left"))
      std::printf("* %s left #%s\n", m.value("left", "").c_str(), room.c_str());
  } else if (type == "error") {
    std::printf("! %s\n", m.value("message", "").c_str());
  } else if (type == "authenticated") {
    std::printf("* signed in as %s\n", m.value("name", "").c_str());
  }
  std::fflush(stdout);
}

asio::awaitable<bool> send_json(coronet::channel& ch, const json& j) {
  auto text = j.dump();
  auto sent = co_await ch.send(coronet::message_view(text));
  co_return sent.has_value();
}

asio::awaitable<int> run(const settings& s) {
  coronet::options o;
  auto props = coronet::transport_properties(s.url);
  if (!props) {
    std::fprintf(stderr, "chat_client: bad URL \"%s\"\n", s.url.c_str());
    co_return 2;
  }
  bool websocket = props->scheme == "ws" || props->scheme == "wss";
  if (websocket)
    o.websocket.request_headers = {{"Authorization", "Bearer " + s.token}};
  else
    o.framing = coronet::framing::line;
  if (!s.ca.empty()) o.tls.ca_files = {s.ca};
  o.tls.insecure_skip_verify = s.insecure;

  // Signs in (tcp://) and joins on each connection, the first and every
  // one after a drop; queued lines go out after it.
  position where;
  coronet::reconnect_options r;
  r.connect = o;
  r.max_attempts = s.max_attempts;
  r.on_connected = [&s, &where,
                    websocket](coronet::channel& ch) -> asio::awaitable<coronet::result<void>> {
    if (!websocket) {
      json auth{{"type", "auth"}, {"token", s.token}};
      if (!co_await send_json(ch, auth)) co_return coronet::fail(coronet::errc::closed);
      auto hello = co_await ch.receive();
      if (!hello) co_return coronet::fail(hello.error());
      auto j = json::parse(hello->text(), nullptr, false);
      if (j.is_object()) print(s, j);
      if (!j.is_object() || j.value("type", "") != "authenticated")
        co_return coronet::fail(coronet::errc::unauthorized); // (no retry)
    }
    auto join = where.join(s.room);
    if (!co_await send_json(ch, join)) co_return coronet::fail(coronet::errc::closed);
    co_return coronet::result<void>();
  };
  r.on_state = [&s](const coronet::connection_event& e) {
    using coronet::connection_state;
    if (e.state == connection_state::waiting)
      std::fprintf(stderr, "* %s: %s; reconnecting in %.1f s\n", s.url.c_str(),
                   e.error.message().c_str(), e.delay.count() / 1000.0);
    else if (e.state == connection_state::connected && e.attempt > 0)
      std::fprintf(stderr, "* reconnected to %s\n", s.url.c_str());
  };
  auto ex = co_await asio::this_coro::executor;
  coronet::reconnecting_channel channel(ex, s.url, r);

  // Standard input on a thread of its own (it may be a file, a pipe or a
  // terminal); each line is posted here and said in the room.
  std::thread reader([&, ex] {
    std::string line;
    while (std::getline(std::cin, line))
      asio::post(ex, [&, ex, line] {
        asio::co_spawn(
            ex,
            [&, line]() -> asio::awaitable<void> {
              auto say = json{{"type", "say"}, {"room", s.room}, {"text", line}}.dump();
              co_await channel.send(coronet::message_view(say));
            },
            asio::detached);
      });
    asio::post(ex, [&, ex] {
      // The replies to the last lines come within --linger-ms; then the
      // pending receive ends (closed) and so does the client.
      auto linger =
          std::make_shared<asio::steady_timer>(ex, std::chrono::milliseconds(s.linger_ms));
      linger->async_wait([&, linger](std::error_code) { channel.stop_receiving(); });
    });
  });
  reader.detach(); // a terminal's read cannot be interrupted; the process ends it

  int status = 0;
  for (;;) {
    auto m = co_await channel.receive();
    if (!m) {
      if (m.error() != coronet::errc::closed) {
        std::fprintf(stderr, "chat_client: %s: %s\n", s.url.c_str(), m.error().message().c_str());
        status = 1;
      }
      break;
    }
    auto j = json::parse(m->text(), nullptr, false);
    if (j.is_object() && where.note(j)) print(s, j);
  }
  co_await channel.close();
  co_return status;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"coronet chat client: says each line of its input in a room and prints what the "
               "room says"};
  settings s;
  app.add_option("--connect", s.url,
                 "the server: ws://HOST:PORT/chat, wss://HOST:PORT/chat or tcp://HOST:PORT")
      ->required();
  app.add_option("--token", s.token, "your token (chat_server --issue-token NAME --secret ...)")
      ->required();
  app.add_option("--room", s.room, "the room to join")->required();
  app.add_flag("--json", s.json_output, "print the server's messages as JSON, one per line");
  app.add_option("--linger-ms", s.linger_ms, "after the end of input, wait this long for replies");
  app.add_option("--ca", s.ca, "wss:// and tls://: the CA that signed the server's certificate");
  app.add_flag("--insecure", s.insecure,
               "wss:// and tls://: do not verify the server (tests only)");
  app.add_option("--max-attempts", s.max_attempts,
                 "give up after this many failed connection attempts in a row (0: never; a "
                 "refused token ends it at once)");
  CLI11_PARSE(app, argc, argv);

  asio::io_context io;
  int status = 1;
  asio::co_spawn(io, run(s), [&](std::exception_ptr e, int r) {
    status = e ? 1 : r;
    io.stop();
  });
  io.run();
  std::fflush(stdout);
  std::_Exit(status); // the stdin reader may still be blocked in a read
}
