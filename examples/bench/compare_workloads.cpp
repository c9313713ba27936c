#include "compare_workloads.hpp"

#include "compare_wire.hpp"

#include <coronet/channel.hpp>
#include <coronet/detail/use_result.hpp>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include <exception>
#include <stdexcept>

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using coronet::detail::use_tuple;

constexpr std::size_t rr_size = 64;
constexpr std::uint32_t stream_rate = 60;
constexpr std::size_t stream_size = 150;
constexpr std::size_t bulk_size = bulk_message_size;
constexpr std::uint64_t bulk_window = bulk_in_flight;
// How often a waiting loop looks at its clock (the receive timeout).
constexpr auto poll = 50ms;
// A stream's subscribe is resent this often until an update comes (over
// udp it may be lost), for at most subscribe_limit (+ grace).
constexpr auto resubscribe = 200ms;
constexpr auto subscribe_limit = 2s;
// Beyond duration + grace: connecting and closing.
constexpr auto setup_limit = 15s;

// What every connection of a run adds to, on the io_context's thread.
struct tally {
  std::uint64_t sent = 0, delivered = 0, bytes = 0;
  std::vector<double> latency_us, staleness_us;
  std::int64_t first_send_ns = 0, last_delivery_ns = 0;
  std::string error;

  void fail(std::string why) {
    if (error.empty()) error = std::move(why);
  }
  void sending(std::int64_t now) {
    if (first_send_ns == 0 || now < first_send_ns) first_send_ns = now;
  }
  void delivered_at(std::int64_t now, std::int64_t sent_ns) {
    ++delivered;
    latency_us.push_back(static_cast<double>(now - sent_ns) / 1e3);
    last_delivery_ns = std::max(last_delivery_ns, now);
  }
};

coronet::message_view view(const std::vector<std::byte>& bytes) {
  return coronet::message_view(std::span<const std::byte>(bytes));
}

asio::awaitable<void> sleep_until(clock_type::time_point t) {
  asio::steady_timer timer(co_await asio::this_coro::executor, t);
  co_await timer.async_wait(use_tuple);
}

bool timed_out(const coronet::result<coronet::message_view>& m) {
  return !m && m.error() == coronet::errc::timeout;
}

// Closes gracefully (what is queued still goes), then drops whatever is
// left, so that no reader of the channel (the impaired link's) outlives it.
asio::awaitable<void> finish(coronet::channel ch) {
  (void)co_await ch.close();
  ch.abort();
}

asio::awaitable<coronet::result<coronet::channel>> open(const workload_settings* s, int i,
                                                        tally* t) {
  auto url = connection_url(*s, i);
  auto ch = co_await coronet::connect(url, s->options);
  if (!ch) t->fail("connect " + url + ": " + ch.error().message());
  co_return ch;
}

// ---- rr -----------------------------------------------------------------------

struct rr_state {
  std::vector<bool> echoed; // by sequence number
  std::uint64_t sent = 0, received = 0;
  bool sending_done = false, broken = false;
  clock_type::time_point last_send{};
};

asio::awaitable<void> send_requests(coronet::channel ch, const workload_settings* s, int i,
                                    rr_state* st, tally* t) {
  std::vector<std::byte> request(rr_size);
  // Connections start spread over one period, so that requests do not bunch.
  auto start = clock_type::now() + s->rr_interval * i / std::max(s->clients, 1);
  for (std::uint64_t k = 0; k < st->echoed.size() && !st->broken; ++k) {
    co_await sleep_until(start + k * s->rr_interval);
    wire_header h{.kind = wire_kind::request, .client = static_cast<std::uint32_t>(i), .seq = k};
    h.sent_ns = monotonic_ns();
    h.write(request);
    t->sending(h.sent_ns);
    auto sent = co_await ch.send(view(request));
    if (!sent) {
      t->fail("send: " + sent.error().message());
      break;
    }
    ++st->sent;
  }
  st->last_send = clock_type::now();
  st->sending_done = true;
}

asio::awaitable<void> receive_echoes(coronet::channel ch, const workload_settings* s, int i,
                                     rr_state* st, tally* t) {
  ch.set_receive_timeout(poll);
  for (;;) {
    if (st->sending_done &&
        (st->received == st->sent || clock_type::now() >= st->last_send + s->grace))
      break;
    auto m = co_await ch.receive();
    if (timed_out(m)) continue;
    if (!m) {
      t->fail("receive: " + m.error().message());
      st->broken = true;
      break;
    }
    auto now = monotonic_ns();
    auto h = wire_header::read(*m);
    if (!h || h->kind != wire_kind::request || h->client != static_cast<std::uint32_t>(i) ||
        h->seq >= st->echoed.size() || st->echoed[h->seq])
      continue; // (a duplicate, or not ours)
    st->echoed[h->seq] = true;
    ++st->received;
    t->delivered_at(now, h->sent_ns);
  }
}

asio::awaitable<void> rr_connection(const workload_settings* s, int i, tally* t) {
  auto ch = co_await open(s, i, t);
  if (!ch) co_return;
  rr_state st;
  st.echoed.assign(static_cast<std::size_t>(s->duration / s->rr_interval), false);
  co_await (send_requests(*ch, s, i, &st, t) && receive_echoes(*ch, s, i, &st, t));
  t->sent += st.sent;
  co_await finish(*ch);
}

// ---- stream -------------------------------------------------------------------

struct stream_state {
  std::vector<bool> got; // by sequence number
  std::uint64_t received = 0;
  bool have_newest = false, done = false;
  std::uint64_t newest_seq = 0;
  std::int64_t newest_sent_ns = 0;
  std::int64_t window_end_ns = 0; // when the server's last update is due
};

constexpr std::int64_t stream_period_ns = 1'000'000'000 / stream_rate;

asio::awaitable<void> receive_updates(coronet::channel ch, const workload_settings* s, int i,
                                      stream_state* st, tally* t) {
  auto count = st->got.size();
  std::vector<std::byte> subscribe(wire_header::wire_size);
  wire_header want{.kind = wire_kind::subscribe,
                   .client = static_cast<std::uint32_t>(i),
                   .seq = 1,
                   .count = static_cast<std::uint32_t>(count),
                   .size = stream_size,
                   .rate = stream_rate};
  auto now = clock_type::now();
  auto end = now + subscribe_limit + s->grace; // until an update says when the stream ends
  auto next_subscribe = now;
  ch.set_receive_timeout(poll);
  while (st->received < count && (now = clock_type::now()) < end) {
    if (!st->have_newest && now >= next_subscribe) {
      want.sent_ns = monotonic_ns();
      want.write(subscribe);
      t->sending(want.sent_ns);
      auto sent = co_await ch.send(view(subscribe));
      if (!sent) {
        t->fail("send: " + sent.error().message());
        break;
      }
      next_subscribe = now + resubscribe;
    }
    auto m = co_await ch.receive();
    if (timed_out(m)) continue;
    if (!m) {
      t->fail("receive: " + m.error().message());
      break;
    }
    auto arrived = monotonic_ns();
    auto h = wire_header::read(*m);
    if (!h || h->kind != wire_kind::update || h->client != static_cast<std::uint32_t>(i) ||
        h->seq >= count || st->got[h->seq])
      continue;
    st->got[h->seq] = true;
    ++st->received;
    t->delivered_at(arrived, h->sent_ns);
    if (!st->have_newest) { // the server's schedule: update k at start + k periods
      end = clock_type::now() + s->duration + s->grace;
      st->window_end_ns = h->sent_ns + static_cast<std::int64_t>(count - h->seq) * stream_period_ns;
    }
    if (!st->have_newest || h->seq > st->newest_seq) {
      st->have_newest = true;
      st->newest_seq = h->seq;
      st->newest_sent_ns = h->sent_ns;
    }
  }
  if (!st->have_newest && t->error.empty()) t->fail("no update arrived");
  t->sent += count;
  st->done = true;
}

// The client's own 60 Hz "render" tick: how old is the newest state it has?
// Its clock is not the server's: connection i ticks (i + 1/2) / clients of
// a period after its subscribe, so that the phases between the two clocks
// spread over the period (in step, every tick would come just before an
// update, or just after it).
asio::awaitable<void> render_ticks(const workload_settings* s, int i, stream_state* st, tally* t) {
  auto period = std::chrono::nanoseconds(stream_period_ns);
  auto next = clock_type::now() - period + period * (2 * i + 1) / (2 * std::max(s->clients, 1));
  while (!st->done) {
    next += period;
    co_await sleep_until(next);
    if (!st->have_newest) continue;
    auto now = monotonic_ns();
    if (now > st->window_end_ns) break; // the stream is over
    t->staleness_us.push_back(static_cast<double>(now - st->newest_sent_ns) / 1e3);
  }
}

asio::awaitable<void> stream_connection(const workload_settings* s, int i, tally* t) {
  auto ch = co_await open(s, i, t);
  if (!ch) co_return;
  stream_state st;
  st.got.assign(static_cast<std::size_t>(s->duration.count() * stream_rate / 1000), false);
  co_await (receive_updates(*ch, s, i, &st, t) && render_ticks(s, i, &st, t));
  co_await finish(*ch);
}

// ---- bulk ---------------------------------------------------------------------

asio::awaitable<void> bulk_connection(const workload_settings* s, tally* t) {
  auto ch = co_await open(s, 0, t);
  if (!ch) co_return;
  std::vector<std::byte> message(bulk_size);
  for (std::size_t k = wire_header::wire_size; k < message.size(); ++k)
    message[k] = static_cast<std::byte>((k * 131 + 7) & 0xff);
  auto stop_sending = clock_type::now() + s->duration;
  auto give_up = stop_sending + s->grace;
  std::uint64_t next = 0, acked = 0;
  auto more = [&] {
    return clock_type::now() < stop_sending && (next + 1) * bulk_size <= s->bulk_bytes;
  };
  ch->set_receive_timeout(poll);
  for (;;) {
    while (next - acked < bulk_window && more()) {
      wire_header h{.kind = wire_kind::bulk, .seq = next};
      h.sent_ns = monotonic_ns();
      h.write(message);
      t->sending(h.sent_ns);
      auto sent = co_await ch->send(view(message));
      if (!sent) {
        t->fail("send: " + sent.error().message());
        co_await finish(*ch);
        co_return;
      }
      ++next;
    }
    if (acked == next || clock_type::now() >= give_up) break;
    auto m = co_await ch->receive();
    if (timed_out(m)) continue;
    if (!m) {
      t->fail("receive: " + m.error().message());
      break;
    }
    auto now = monotonic_ns();
    auto h = wire_header::read(*m);
    if (!h || h->kind != wire_kind::ack || h->seq >= next) continue;
    ++acked;
    t->bytes += h->size;
    t->delivered_at(now, h->sent_ns);
  }
  t->sent += next;
  co_await finish(*ch);
}

asio::awaitable<void> connection(const workload_settings* s, int i, tally* t) {
  switch (s->kind) {
  case workload_kind::rr: return rr_connection(s, i, t);
  case workload_kind::stream: return stream_connection(s, i, t);
  case workload_kind::bulk: return bulk_connection(s, t);
  }
  throw std::logic_error("no such workload");
}

asio::awaitable<std::optional<server_usage>> ask_usage(std::string url, coronet::options o) {
  auto ch = co_await coronet::connect(url, o);
  if (!ch) co_return std::nullopt;
  std::vector<std::byte> question(wire_header::wire_size);
  wire_header h{.kind = wire_kind::usage, .seq = 1};
  h.write(question);
  ch->set_receive_timeout(1s);
  std::optional<server_usage> answer;
  for (int attempt = 0; attempt < 4 && !answer; ++attempt) { // (over udp it may be lost)
    if (!co_await ch->send(view(question))) break;
    auto m = co_await ch->receive();
    if (timed_out(m)) continue;
    if (!m) break;
    auto reply = wire_header::read(*m);
    if (!reply || reply->kind != wire_kind::usage) continue;
    answer = server_usage{.cpu_ms = static_cast<double>(reply->sent_ns) / 1e6};
    if (reply->count != ~std::uint32_t{0}) answer->retransmits = reply->count;
  }
  co_await finish(*ch);
  co_return answer;
}

std::string describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "a non-standard exception";
  }
}

} // namespace

std::string_view to_string(workload_kind w) {
  switch (w) {
  case workload_kind::rr: return "rr";
  case workload_kind::stream: return "stream";
  case workload_kind::bulk: return "bulk";
  }
  return "?";
}

std::string connection_url(const workload_settings& s, int connection) {
  if (s.impair.empty()) return s.url;
  std::string spec;
  for (char c : s.impair) spec += c == '%' ? std::string("%25") : std::string(1, c);
  return s.url + (s.url.find('?') == std::string::npos ? "?" : "&") + "impair=" + spec +
         "&impair_seed=" + std::to_string(s.seed + static_cast<std::uint64_t>(connection));
}

std::optional<server_usage> query_server_usage(const std::string& url, const coronet::options& o) {
  asio::io_context io(1);
  std::optional<server_usage> answer;
  asio::co_spawn(io, ask_usage(url, o), [&](std::exception_ptr e, std::optional<server_usage> a) {
    if (!e) answer = a;
  });
  io.run_for(setup_limit);
  return answer;
}

workload_result run_workload(const workload_settings& s) {
  tally t; // (before the io_context: outlives every coroutine frame)
  asio::io_context io(1);
  int connections = s.kind == workload_kind::bulk ? 1 : s.clients;
  int finished = 0;
  for (int i = 0; i < connections; ++i)
    asio::co_spawn(io, connection(&s, i, &t), [&](std::exception_ptr e) {
      ++finished;
      if (e) t.fail(describe(e));
    });
  auto limit = s.duration + s.grace + subscribe_limit + setup_limit;
  io.run_for(limit);
  auto seconds = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(limit).count());
  if (finished < connections)
    t.fail(std::to_string(connections - finished) + " connection(s) still running after " +
           seconds + " s");
  else if (!io.stopped()) // (run_for ran out of time, not of work)
    t.fail("the connections ended but their channels still had work after " + seconds +
           " s (a channel left open?)");
  workload_result r;
  r.ok = t.error.empty();
  r.error = std::move(t.error);
  r.sent = t.sent;
  r.delivered = t.delivered;
  r.latency_us = std::move(t.latency_us);
  r.staleness_us = std::move(t.staleness_us);
  r.bytes_delivered = t.bytes;
  if (t.last_delivery_ns > t.first_send_ns)
    r.seconds = static_cast<double>(t.last_delivery_ns - t.first_send_ns) / 1e9;
  return r;
}
