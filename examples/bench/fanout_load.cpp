// fanout_load: the load of fanout_bench.  N WebSocket members subscribe to
// a fan-out server (coronet's fanout_server, or Socket.IO's server.js); one
// publisher sends numbered messages, at most --window of them not yet
// received by every member; every delivery's latency (publish to receive,
// one clock: this process sends and receives) goes into a histogram.
// Prints one JSON line: deliveries, seconds, deliveries/s, p50/p99/max.
//
//   fanout_load --url ws://127.0.0.1:PORT --protocol coronet --members 1000 --messages 20000
//   fanout_load --url ws://127.0.0.1:P1 --url ws://127.0.0.1:P2 ...   members split over both
//
// It runs on one thread: pin it to a core of its own (fanout_bench does).
// Members are spread over the --url servers in turn; the publisher talks
// to the first.
#include "latency_histogram.hpp"

#include <coronet/coronet.hpp>

#include <CLI/CLI.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <sys/resource.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct settings {
  std::vector<std::string> urls;
  std::string protocol = "coronet";
  std::size_t members = 1000, messages = 20000, size = 64, window = 16;
  double rate = 0; // messages a second; 0: as fast as the window allows
  double max_seconds = 30;
};

struct run_state {
  const settings& s;
  std::vector<clock_type::time_point> sent_at;
  std::vector<std::uint32_t> got; // members that received each message
  std::size_t ready = 0, first_complete = SIZE_MAX, completed = 0, measured_from = SIZE_MAX;
  std::uint64_t deliveries = 0, missing = 0;
  latency_histogram latency;
  clock_type::time_point start, end;
  std::unique_ptr<asio::steady_timer> progress; // the publisher waits on it
  bool failed = false;
  std::string error;

  explicit run_state(const settings& st) : s(st) {}
  void wake() {
    if (progress) progress->cancel();
  }
};

bool socketio(const settings& s) { return s.protocol == "socketio"; }

// Socket.IO speaks Engine.IO 4 over the WebSocket: "0{...}" opens, "40"
// connects to the main namespace, "2"/"3" are ping/pong, and an event is
// 42["name",data].
std::string member_url(const settings& s, const std::string& base, bool publisher) {
  if (!socketio(s)) return base + (publisher ? "/pub" : "/sub");
  return base + "/socket.io/?EIO=4&transport=websocket" + (publisher ? "&role=pub" : "");
}

asio::awaitable<bool> socketio_handshake(coronet::channel& ch) {
  auto open = co_await ch.receive();
  if (!open || !open->text().starts_with("0")) co_return false;
  std::string connect = "40";
  if (!co_await ch.send(coronet::message_view(connect))) co_return false;
  auto connected = co_await ch.receive();
  co_return connected && connected->text().starts_with("40");
}

// The number at the start of a payload ("123:..."), or -1.
long long seq_of(std::string_view payload) {
  long long seq = -1;
  std::from_chars(payload.data(), payload.data() + payload.size(), seq);
  return seq;
}

asio::awaitable<void> member(run_state& st, std::string url) {
  auto ch = co_await coronet::connect(url);
  if (!ch) {
    st.failed = true;
    st.error = "member connect: " + ch.error().message();
    st.wake();
    co_return;
  }
  if (socketio(st.s) && !co_await socketio_handshake(*ch)) {
    st.failed = true;
    st.error = "Socket.IO handshake failed";
    st.wake();
    co_return;
  }
  ++st.ready;
  st.wake();
  std::string pong = "3";
  for (;;) {
    auto m = co_await ch->receive();
    if (!m) co_return;
    auto text = m->text();
    if (socketio(st.s)) {
      if (text == "2") { // Engine.IO ping
        co_await ch->send(coronet::message_view(pong));
        continue;
      }
      constexpr std::string_view event = R"(42["msg",")";
      if (!text.starts_with(event)) continue;
      text.remove_prefix(event.size());
    }
    auto seq = seq_of(text);
    if (seq < 0 || std::size_t(seq) >= st.got.size()) continue;
    auto now = clock_type::now();
    ++st.deliveries;
    if (std::size_t(seq) >= st.measured_from)
      st.latency.record(std::uint64_t(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - st.sent_at[seq]).count()));
    if (++st.got[seq] == st.s.members) {
      if (st.first_complete == SIZE_MAX) st.first_complete = seq;
      if (std::size_t(seq) >= st.measured_from) {
        ++st.completed;
        st.end = now;
      }
      st.wake();
    }
  }
}

asio::awaitable<void> wait_progress(run_state& st, clock_type::duration limit) {
  st.progress->expires_after(limit);
  co_await st.progress->async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> publisher(run_state& st) {
  auto& s = st.s;
  st.progress = std::make_unique<asio::steady_timer>(co_await asio::this_coro::executor);
  auto deadline = clock_type::now() + std::chrono::duration<double>(s.max_seconds);
  auto stop = [&](std::string why) {
    st.failed = true;
    st.error = std::move(why);
  };

  while (st.ready < s.members && !st.failed) {
    if (clock_type::now() > deadline) co_return stop("members did not all connect in time");
    co_await wait_progress(st, 100ms);
  }
  if (st.failed) co_return;
  auto ch = co_await coronet::connect(member_url(s, s.urls.front(), true));
  if (!ch) co_return stop("publisher connect: " + ch.error().message());
  if (socketio(s) && !co_await socketio_handshake(*ch)) co_return stop("publisher handshake");

  std::string padding(s.size > 24 ? s.size - 24 : 0, 'x');
  std::string payload;
  auto send = [&](std::size_t seq) -> asio::awaitable<bool> {
    auto body = std::to_string(seq) + ":" + padding;
    payload = socketio(s) ? R"(42["pub",")" + body + R"("])" : body;
    st.sent_at[seq] = clock_type::now();
    auto r = co_await ch->send(coronet::message_view(payload));
    co_return r.has_value();
  };

  // Warm-up: one message every 20 ms until one reaches every member (with
  // Redis, the subscriptions settle first); measurement starts after it.
  std::size_t next = 0, warmup = std::min<std::size_t>(200, st.got.size() / 2);
  while (st.first_complete == SIZE_MAX) {
    if (next >= warmup || clock_type::now() > deadline)
      co_return stop("warm-up: no message reached every member");
    if (!co_await send(next++)) co_return stop("publisher send failed");
    co_await wait_progress(st, 20ms);
  }
  co_await wait_progress(st, 50ms); // the last warm-ups land
  st.measured_from = next;
  auto end = std::min(st.got.size(), next + s.messages);
  st.start = clock_type::now();
  auto last_progress = st.start;
  std::size_t seen_complete = 0;
  // Paced (--rate): message k of the measurement goes at start + k / rate.
  auto due = [&](std::size_t k) {
    return st.start + std::chrono::duration_cast<clock_type::duration>(
                          std::chrono::duration<double>(double(k) / s.rate));
  };
  while (next < end || st.completed < next - st.measured_from) {
    if (next < end && next - st.measured_from - st.completed < s.window) {
      auto when = s.rate > 0 ? due(next - st.measured_from) : clock_type::now();
      if (when <= clock_type::now()) {
        if (!co_await send(next++)) co_return stop("publisher send failed");
        continue;
      }
      co_await wait_progress(st, when - clock_type::now());
      continue;
    }
    co_await wait_progress(st, 100ms);
    auto now = clock_type::now();
    if (st.completed != seen_complete) {
      seen_complete = st.completed;
      last_progress = now;
    } else if (now - last_progress > 2s || now > deadline) {
      // Messages some member never got (dropped as a slow consumer): stop here.
      for (auto i = st.measured_from; i < next; ++i) st.missing += s.members - st.got[i];
      break;
    }
  }
  if (st.end < st.start) st.end = clock_type::now();
  st.sent_at.resize(next);
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"fanout_bench's load: N WebSocket members of a fan-out server, one publisher"};
  settings s;
  app.add_option("--url", s.urls, "ws://HOST:PORT of a server (repeat: members split over them)")
      ->required();
  app.add_option("--protocol", s.protocol, "coronet (fanout_server) or socketio (server.js)")
      ->check(CLI::IsMember({"coronet", "socketio"}));
  app.add_option("--members", s.members, "members")->check(CLI::Range(1, 100000));
  app.add_option("--messages", s.messages, "messages measured")->check(CLI::Range(1, 10000000));
  app.add_option("--size", s.size, "payload bytes")->check(CLI::Range(24, 65536));
  app.add_option("--window", s.window, "messages not yet received by every member, at most");
  app.add_option("--rate", s.rate, "messages a second (0: as fast as the window allows)");
  app.add_option("--max-seconds", s.max_seconds, "give up after this long");
  CLI11_PARSE(app, argc, argv);

  // One socket per member: raise the descriptor limit as far as allowed.
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);
  if (nofile.rlim_cur < s.members + 64) {
    std::fprintf(stderr, "fanout_load: %zu members need %zu descriptors; the limit is %llu\n",
                 s.members, s.members + 64, (unsigned long long)nofile.rlim_cur);
    return 2;
  }

  asio::io_context io(1);
  run_state st(s);
  std::size_t total = s.messages + 200; // room for the warm-up
  st.sent_at.resize(total);
  st.got.assign(total, 0);
  for (std::size_t i = 0; i < s.members; ++i)
    asio::co_spawn(io, member(st, member_url(s, s.urls[i % s.urls.size()], false)), asio::detached);
  asio::co_spawn(io, publisher(st), [&](std::exception_ptr) { io.stop(); });
  io.run();

  if (st.failed && st.completed == 0) {
    std::fprintf(stderr, "fanout_load: %s\n", st.error.c_str());
    return 1;
  }
  double seconds = std::chrono::duration<double>(st.end - st.start).count();
  auto measured = st.completed * s.members;
  std::printf("{\"protocol\":\"%s\",\"members\":%zu,\"messages\":%zu,\"deliveries\":%llu,"
              "\"missing\":%llu,\"seconds\":%.4f,\"deliveries_per_s\":%.0f,\"p50_us\":%.1f,"
              "\"p99_us\":%.1f,\"max_us\":%.1f}\n",
              s.protocol.c_str(), s.members, st.completed, (unsigned long long)measured,
              (unsigned long long)st.missing, seconds, seconds > 0 ? measured / seconds : 0.0,
              st.latency.percentile(0.5) / 1e3, st.latency.percentile(0.99) / 1e3,
              st.latency.max() / 1e3);
  return st.missing ? 3 : 0;
}
