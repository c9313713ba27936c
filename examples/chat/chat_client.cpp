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
#include <coronet/coronet.hpp>

#include <CLI/CLI.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <nlohmann/json.hpp>

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
};

void print(const settings& s, std::string_view text) {
  if (s.json_output) {
    std::printf("%.*s\n", int(text.size()), text.data());
    std::fflush(stdout);
    return;
  }
  auto m = json::parse(text, nullptr, false);
  if (!m.is_object()) return;
  auto type = m.value("type", "");
  auto room = m.value("room", "");
  if (type == "message") {
    std::printf("[#%s] %s: %s\n", room.c_str(), m.value("from", "").c_str(),
                m.value("text", "").c_str());
  } else if (type == "joined") {
    std::string members;
    for (auto& n : m["members"]) members += (members.empty() ? "" : ", ") + n.get<std::string>();
    std::printf("* joined #%s (members: %s)\n", room.c_str(), members.c_str());
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

  auto ch = co_await coronet::connect(s.url, o);
  if (!ch) {
    std::fprintf(stderr, "chat_client: cannot connect to %s: %s\n", s.url.c_str(),
                 ch.error().message().c_str());
    co_return 1;
  }
  if (!websocket) {
    json auth{{"type", "auth"}, {"token", s.token}};
    co_await send_json(*ch, auth);
    auto hello = co_await ch->receive();
    if (!hello) co_return 1;
    print(s, hello->text());
    auto j = json::parse(hello->text(), nullptr, false);
    if (!j.is_object() || j.value("type", "") != "authenticated") co_return 1;
  }
  json join{{"type", "join"}, {"room", s.room}};
  co_await send_json(*ch, join);

  // Standard input on a thread of its own (it may be a file, a pipe or a
  // terminal); each line is posted here and said in the room.
  auto ex = co_await asio::this_coro::executor;
  auto channel = *ch;
  std::thread reader([&, ex] {
    std::string line;
    while (std::getline(std::cin, line))
      asio::post(ex, [&, ex, line] {
        asio::co_spawn(
            ex,
            [&, line]() -> asio::awaitable<void> {
              json say{{"type", "say"}, {"room", s.room}, {"text", line}};
              co_await send_json(channel, say);
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
    auto m = co_await ch->receive();
    if (!m) {
      if (m.error() != coronet::errc::closed) {
        std::fprintf(stderr, "chat_client: connection ended: %s\n", m.error().message().c_str());
        status = 1;
      }
      break;
    }
    print(s, m->text());
  }
  co_await ch->close();
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
