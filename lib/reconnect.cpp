#include <coronet/detail/event.hpp>
#include <coronet/detail/use_result.hpp>
#include <coronet/log.hpp>
#include <coronet/reconnect.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <cmath>
#include <deque>
#include <optional>
#include <random>

namespace coronet {

std::string_view to_string(connection_state s) noexcept {
  switch (s) {
  case connection_state::connecting: return "connecting";
  case connection_state::connected: return "connected";
  case connection_state::waiting: return "waiting";
  case connection_state::given_up: return "given up";
  case connection_state::closed: return "closed";
  }
  return "unknown";
}

bool is_permanent_refusal(const std::error_code& ec) noexcept {
  if (ec.category() == http_status_category()) return ec.value() == 401 || ec.value() == 403;
  if (ec.category() == close_code_category())
    return ec.value() == static_cast<int>(close_code::policy_violation) ||
           (ec.value() >= 4000 && ec.value() <= 4999);
  if (ec.category() == tls_category()) {
    switch (static_cast<tls_errc>(ec.value())) {
    case tls_errc::certificate_expired:
    case tls_errc::certificate_not_yet_valid:
    case tls_errc::unknown_ca:
    case tls_errc::name_mismatch:
    case tls_errc::bad_certificate:
    case tls_errc::no_client_certificate:
    case tls_errc::configuration: return true;
    default: return false; // not_tls, and mbedTLS's own codes: maybe a deploy under way
    }
  }
  return ec == errc::unauthorized || ec == errc::invalid_url || ec == errc::unknown_scheme ||
         ec == errc::invalid_argument || ec == errc::unsupported;
}

namespace {

struct stored_message {
  std::string bytes;
  message_kind kind;
  explicit stored_message(message_view m)
      : bytes(reinterpret_cast<const char*>(m.data.data()), m.size()), kind(m.kind) {}
  message_view view() const { return message_view(std::string_view(bytes), kind); }
};

} // namespace

struct reconnecting_channel::state_type : std::enable_shared_from_this<state_type> {
  state_type(asio::any_io_executor e, std::string u, reconnect_options opts)
      : ex(std::move(e)), url(std::move(u)), o(std::move(opts)),
        clk(o.clock ? o.clock : clock::steady()), changed(ex), receive_deadline(ex) {
    rng.seed(o.seed ? o.seed
                    : (std::uint64_t(std::random_device()()) << 32) ^ std::random_device()());
    auto colon = url.find("://");
    props.scheme = std::string_view(url).substr(0, colon == std::string::npos ? 0 : colon);
  }

  asio::any_io_executor ex;
  std::string url;
  reconnect_options o;
  std::shared_ptr<clock> clk;
  std::mt19937_64 rng;

  connection_state st = connection_state::connecting;
  std::error_code end_error; // given_up / closed: what receive() and send() fail with
  bool stopped = false;      // close() or abort(): nothing more is attempted
  channel conn;              // up and past on_connected, else empty
  channel pending;           // in on_connected
  coronet::properties props;
  unsigned failures = 0; // in a row since the last stable connection
  reconnect_stats counters;
  asio::cancellation_signal stop_signal; // cancels the supervisor's connect or sleep
  detail::event changed;                 // any change a waiter may be waiting for

  // Receiving.  The supervisor reads every connection all the time (so a
  // loss is seen even while the application is busy elsewhere) into the
  // inbox, which receive() takes from.
  std::deque<stored_message> inbox;
  std::optional<stored_message> taken; // what receive() returned last
  bool receiving_stopped = false;
  std::chrono::milliseconds receive_timeout{0};
  asio::steady_timer receive_deadline;
  bool receive_timed_out = false;

  // Sending while there is no connection.
  std::deque<stored_message> queue;
  std::size_t queue_bytes = 0;
  bool flushing = false;

  bool ended() const { return st == connection_state::given_up || st == connection_state::closed; }

  void set_state(connection_state s, std::chrono::milliseconds delay = {},
                 std::error_code why = {}) {
    st = s;
    changed.notify_all();
    if (o.on_state) {
      connection_event e;
      e.state = s;
      e.attempt = failures + (s == connection_state::connecting ? 1 : 0);
      e.delay = delay;
      e.error = why;
      o.on_state(e);
    }
  }

  // Ends it for good: nothing more is attempted, queued sends are dropped,
  // receive() and send() fail with `why` from now on.
  void end(connection_state final_state, std::error_code why, bool abort_connection) {
    if (ended()) return;
    stopped = true;
    end_error = why;
    drop_queue();
    stop_signal.emit(asio::cancellation_type::terminal);
    if (pending) pending.abort();
    if (abort_connection && conn) conn.abort();
    set_state(final_state, {}, why);
  }

  void give_up(std::error_code why) {
    log(log_level::warning, "reconnect: gave up on " + url + ": " + why.message());
    end(connection_state::given_up, why, true);
  }

  void drop_queue() {
    counters.queue_dropped += queue.size();
    queue.clear();
    queue_bytes = 0;
  }

  std::chrono::milliseconds next_delay() {
    double base =
        static_cast<double>(o.initial_delay.count()) * std::pow(2.0, std::min(failures, 64u) - 1.0);
    base = std::min(base, static_cast<double>(o.max_delay.count()));
    double u = static_cast<double>(rng() >> 11) * 0x1.0p-53; // [0, 1), the same everywhere
    double jittered = base * (1.0 + o.jitter * (2.0 * u - 1.0));
    return std::chrono::milliseconds(std::llround(std::max(jittered, 0.0)));
  }

  bool should_retry(const std::error_code& why) const {
    return o.retry ? o.retry(why) : !is_permanent_refusal(why);
  }

  // `op`, cancelled by stop(): the result, or operation_aborted.
  template <class T>
  asio::awaitable<result<T>> stoppable(asio::awaitable<result<T>> op) {
    auto run = [](asio::awaitable<result<T>> a) -> asio::awaitable<std::optional<result<T>>> {
      co_return co_await std::move(a);
    };
    auto [e, r] = co_await asio::co_spawn(
        ex, run(std::move(op)),
        asio::bind_cancellation_slot(stop_signal.slot(),
                                     asio::experimental::as_tuple(asio::use_awaitable)));
    stop_signal.slot().clear();
    if (e || !r) co_return fail(asio::error::operation_aborted);
    co_return std::move(*r);
  }

  // Connects, waits, connects again, until stopped or given up.
  static asio::awaitable<void> supervise(std::shared_ptr<state_type> s) {
    while (!s->stopped) {
      s->set_state(connection_state::connecting);
      ++s->counters.attempts;
      auto connected = co_await s->stoppable(connect(s->url, s->o.connect));
      if (s->stopped) {
        if (connected) connected->abort();
        co_return;
      }
      std::error_code why;
      if (!connected) {
        why = connected.error();
      } else {
        why = co_await s->serve(std::move(*connected));
        if (s->stopped) co_return;
      }
      ++s->failures;
      if (!s->should_retry(why) || (s->o.max_attempts && s->failures >= s->o.max_attempts)) {
        s->give_up(why);
        co_return;
      }
      auto delay = s->next_delay();
      s->set_state(connection_state::waiting, delay, why);
      co_await s->stoppable(s->clk->sleep(delay));
    }
  }

  // One connection, from on_connected to its end: why it ended.
  asio::awaitable<std::error_code> serve(channel ch) {
    if (o.on_connected) {
      pending = ch;
      auto hooked = co_await o.on_connected(ch);
      pending = channel();
      if (stopped) {
        ch.abort();
        co_return errc::closed;
      }
      if (!hooked) {
        ch.abort();
        co_return hooked.error();
      }
    }
    auto up_since = clk->now();
    conn = ch;
    props = ch.properties();
    ++counters.connections;
    if (o.heartbeat_timeout.count()) ch.set_receive_timeout(o.heartbeat_timeout);
    set_state(connection_state::connected);
    if (auto lost = co_await flush(ch)) {
      co_return finish(ch, up_since, lost);
    }
    if (o.heartbeat_interval.count() && !o.heartbeat_message.empty())
      asio::co_spawn(ex, heartbeat(shared_from_this(), ch), asio::detached);
    co_return finish(ch, up_since, co_await read(ch));
  }

  std::error_code finish(channel& ch, clock::time_point up_since, std::error_code why) {
    if (conn.id() == ch.id()) conn = channel();
    ch.abort();
    if (stopped) return why;
    ++counters.losses;
    if (clk->now() - up_since >= o.stable_after) failures = 0;
    log(log_level::debug, "reconnect: lost " + url + ": " + why.message());
    return why;
  }

  // The sends queued while there was no connection, in order.  Sends made
  // meanwhile join the queue's end.
  asio::awaitable<std::error_code> flush(channel& ch) {
    flushing = true;
    std::error_code lost;
    while (!queue.empty() && !stopped) {
      auto m = std::move(queue.front());
      queue.pop_front();
      queue_bytes -= m.bytes.size();
      changed.notify_all(); // room for a waiting send
      auto sent = co_await ch.send(m.view());
      if (!sent && sent.error() != errc::backpressure) { // not taken: it goes out next time
        queue_bytes += m.bytes.size();
        queue.push_front(std::move(m));
        lost = sent.error();
        break;
      }
      if (!sent) ++counters.queue_dropped; // the connection's own policy refused it
    }
    flushing = false;
    changed.notify_all();
    co_return lost;
  }

  asio::awaitable<std::error_code> read(channel& ch) {
    // On a datagram channel a refusal (ICMP port unreachable: the server is
    // not there right now) and an oversized datagram concern one datagram:
    // the socket goes on, and so does sending.  Only the heartbeat timeout
    // says the peer is gone.
    bool datagrams = !ch.properties().reliable;
    for (;;) {
      auto m = co_await ch.receive();
      if (!m && datagrams &&
          (m.error() == errc::connection_refused || m.error() == errc::message_too_large))
        continue;
      if (!m) co_return m.error();
      inbox.emplace_back(*m);
      changed.notify_all();
      while (inbox.size() >= std::max<std::size_t>(o.receive_queue, 1) && !stopped)
        co_await changed.wait();
      if (stopped) co_return errc::closed;
    }
  }

  static asio::awaitable<void> heartbeat(std::shared_ptr<state_type> s, channel ch) {
    for (;;) {
      co_await s->clk->sleep(s->o.heartbeat_interval);
      if (s->stopped || s->conn.id() != ch.id()) co_return;
      auto beat = message_view(std::string_view(s->o.heartbeat_message));
      if (!ch.try_send(beat)) co_return; // (a full queue or a lost connection: the reader sees it)
    }
  }

  result<message_view> take() {
    taken.reset(); // the application is done with the message it was given last
    if (!inbox.empty()) {
      taken.emplace(std::move(inbox.front()));
      inbox.pop_front();
      changed.notify_all(); // room for the reader
      return taken->view();
    }
    if (receiving_stopped || ended()) return fail(end_error ? end_error : errc::closed);
    return fail(errc::would_block);
  }

  // Queues `m` for the next connection under queue_policy: true when
  // queued, false when the caller is to wait for room (policy wait, and
  // `can_wait`), or why it is refused.
  result<bool> enqueue(message_view m, bool can_wait) {
    while (!queue.empty() && queue_bytes + m.size() > o.queue_limit) {
      switch (o.queue_policy) {
      case slow_consumer_policy::wait:
        if (can_wait) return false;
        return fail(errc::backpressure);
      case slow_consumer_policy::drop_newest:
        ++counters.queue_dropped;
        return fail(errc::backpressure);
      case slow_consumer_policy::drop_oldest:
        queue_bytes -= queue.front().bytes.size();
        queue.pop_front();
        ++counters.queue_dropped;
        break;
      case slow_consumer_policy::disconnect:
        give_up(errc::backpressure);
        return fail(errc::backpressure);
      }
    }
    queue_bytes += m.size();
    queue.emplace_back(m);
    return true;
  }

  bool can_send_now() const { return conn && queue.empty() && !flushing; }

  // A send on `c` failed with `error`: unless the channel's own policy
  // refused it, the connection is gone (the reader is told at once).
  bool lost_on_send(channel& c, std::error_code error) {
    if (error == errc::backpressure) return false;
    if (conn.id() == c.id()) conn = channel();
    c.abort();
    return true;
  }
};

struct reconnecting_channel::handle {
  std::shared_ptr<state_type> s;
  ~handle() {
    if (s) s->end(connection_state::closed, errc::closed, true);
  }
};

reconnecting_channel::reconnecting_channel(asio::any_io_executor ex, std::string url,
                                           reconnect_options o)
    : h_(std::make_shared<handle>()) {
  h_->s = std::make_shared<state_type>(std::move(ex), std::move(url), std::move(o));
  auto s = h_->s;
  asio::co_spawn(s->ex, state_type::supervise(s), log_failures("reconnect"));
}

asio::awaitable<result<message_view>> reconnecting_channel::receive() {
  auto s = h_->s;
  s->receive_timed_out = false;
  if (s->receive_timeout.count()) {
    s->receive_deadline.expires_after(s->receive_timeout);
    s->receive_deadline.async_wait([w = std::weak_ptr<state_type>(s)](std::error_code ec) {
      auto s = w.lock();
      if (ec || !s) return;
      s->receive_timed_out = true;
      s->changed.notify_all();
    });
  }
  for (;;) {
    auto m = s->take();
    if (m || m.error() != errc::would_block || s->receive_timed_out) {
      s->receive_deadline.cancel();
      if (!m && m.error() == errc::would_block) co_return fail(errc::timeout);
      co_return m;
    }
    co_await s->changed.wait();
  }
}

result<message_view> reconnecting_channel::try_receive() { return h_->s->take(); }

asio::awaitable<result<void>> reconnecting_channel::send(message_view m) {
  auto s = h_->s;
  for (;;) {
    if (s->ended()) co_return fail(s->end_error);
    if (s->can_send_now()) {
      auto c = s->conn;
      auto sent = co_await c.send(m);
      if (sent || !s->lost_on_send(c, sent.error())) co_return sent;
      continue; // not taken: queued for the next connection
    }
    auto queued = s->enqueue(m, true);
    if (!queued) co_return fail(queued.error());
    if (*queued) co_return result<void>();
    co_await s->changed.wait(); // for room, or a connection
  }
}

result<void> reconnecting_channel::try_send(message_view m) {
  auto& s = h_->s;
  if (s->ended()) return fail(s->end_error);
  if (s->can_send_now()) {
    auto c = s->conn;
    auto sent = c.try_send(m);
    if (sent || !s->lost_on_send(c, sent.error())) return sent;
  }
  auto queued = s->enqueue(m, false);
  if (!queued) return fail(queued.error());
  return result<void>();
}

asio::awaitable<result<void>> reconnecting_channel::close(close_reason why) {
  auto s = h_->s;
  auto c = s->conn;
  s->end(connection_state::closed, errc::closed, false);
  if (!c) co_return result<void>();
  co_return co_await c.close(why);
}

void reconnecting_channel::abort() { h_->s->end(connection_state::closed, errc::closed, true); }

void reconnecting_channel::set_receive_timeout(std::chrono::milliseconds timeout) {
  h_->s->receive_timeout = timeout;
}

void reconnecting_channel::stop_receiving() {
  h_->s->receiving_stopped = true;
  h_->s->changed.notify_all();
}

connection_state reconnecting_channel::state() const { return h_->s->st; }

channel reconnecting_channel::current() const { return h_->s->conn; }

reconnect_stats reconnecting_channel::stats() const {
  auto out = h_->s->counters;
  out.queued = h_->s->queue.size();
  return out;
}

const coronet::properties& reconnecting_channel::properties() const { return h_->s->props; }

std::string reconnecting_channel::remote() const {
  return h_->s->conn ? h_->s->conn.remote() : h_->s->url;
}

asio::any_io_executor reconnecting_channel::get_executor() { return h_->s->ex; }

} // namespace coronet
