// The Redis channel layer on hiredis's async API.  Everything here runs on
// one strand: hiredis contexts are not thread-safe, and the public entry
// points post to the strand.
#include <coronet/log.hpp>
#include <coronet/redis_layer.hpp>
#include <coronet/url.hpp>

#include "redis_url.hpp"

#include <coronet/detail/event.hpp>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <tuple>

namespace coronet {
namespace {

using strand = asio::strand<asio::any_io_executor>;
using clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

redis_reply convert(const redisReply* r) {
  redis_reply out;
  switch (r->type) {
  case REDIS_REPLY_INTEGER:
    out.kind = redis_reply::type::integer;
    out.integer = r->integer;
    break;
  case REDIS_REPLY_STRING: out.kind = redis_reply::type::string; break;
  case REDIS_REPLY_STATUS: out.kind = redis_reply::type::status; break;
  case REDIS_REPLY_ERROR: out.kind = redis_reply::type::error; break;
  case REDIS_REPLY_ARRAY:
    out.kind = redis_reply::type::array;
    for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
    break;
  default: out.kind = redis_reply::type::nil;
  }
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
      r->type == REDIS_REPLY_ERROR)
    out.str.assign(r->str, r->len);
  return out;
}

std::string_view text_of(const redisReply* r) {
  if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)) return {};
  return {r->str, r->len};
}

// One hiredis async connection driven by Asio.  hiredis says when it wants
// to read or write (the ev hooks); we wait for that readiness on a
// stream_descriptor that borrows hiredis's socket (released, never closed,
// when hiredis cleans up) and call redisAsyncHandleRead/Write.
//
// The object stays alive while its hiredis context does (`self_`), since
// hiredis holds a raw pointer to it.  Results are posted to the strand, never
// run inside hiredis's callbacks.
class redis_connection : public std::enable_shared_from_this<redis_connection> {
public:
  using reply_handler = std::move_only_function<void(std::error_code, redis_reply)>;

  explicit redis_connection(strand ex) : ex_(ex), socket_(ex) {}
  ~redis_connection() { close(); }

  /// Subscription traffic (message, subscribe, unsubscribe), run inside
  /// hiredis's callback: it must not free the context.
  std::function<void(const redisReply*)> on_push;
  /// The connection dropped after it was up (not after close()).
  std::function<void(std::string why)> on_lost;

  /// Starts connecting; `done` gets the outcome (posted).
  bool start(const redis_address& a,
             std::move_only_function<void(std::error_code, std::string)> done, std::string& why) {
    tcp_ = a.path.empty();
    ac_ = tcp_ ? redisAsyncConnect(a.host.c_str(), a.port) : redisAsyncConnectUnix(a.path.c_str());
    if (!ac_ || ac_->err) {
      why = ac_ ? ac_->errstr : "out of memory";
      if (ac_) redisAsyncFree(ac_);
      ac_ = nullptr;
      return false;
    }
    connected_ = std::move(done);
    self_ = shared_from_this();
    ac_->data = this;
    ac_->ev.data = this;
    ac_->ev.addRead = [](void* p) { static_cast<redis_connection*>(p)->want(true); };
    ac_->ev.delRead = [](void* p) { static_cast<redis_connection*>(p)->read_.wanted = false; };
    ac_->ev.addWrite = [](void* p) { static_cast<redis_connection*>(p)->want(false); };
    ac_->ev.delWrite = [](void* p) { static_cast<redis_connection*>(p)->write_.wanted = false; };
    ac_->ev.cleanup = [](void* p) { static_cast<redis_connection*>(p)->cleanup(); };
    socket_.assign(ac_->c.fd);
    redisAsyncSetConnectCallback(ac_, &on_connect);
    redisAsyncSetDisconnectCallback(ac_, &on_disconnect);
    // hiredis asked for the write event (connect in progress) before the
    // hooks were set: ask again.
    want(false);
    return true;
  }

  bool alive() const { return ac_ && !(ac_->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)); }

  /// Sends a command; `h` (may be empty) gets its reply, or errc::closed.
  void command(const std::vector<std::string>& args, reply_handler h) {
    if (!alive()) return finish(std::move(h), errc::closed, {});
    auto p = std::make_unique<pending>(pending{this, std::move(h)});
    if (!submit(args, &on_reply, p.get())) return finish(std::move(p->handler), errc::closed, {});
    sent_.push_back(clock::now());
    p.release();
  }

  /// SUBSCRIBE / UNSUBSCRIBE: replies and messages go to on_push.
  void subscription(const char* verb, const std::string& channel) {
    if (alive()) submit({verb, channel}, &on_subscription, this);
  }

  /// When the oldest unanswered command was sent (none: nullopt).
  std::optional<clock::time_point> oldest_pending() const {
    if (sent_.empty()) return std::nullopt;
    return sent_.front();
  }

  /// Frees the context now: unanswered commands fail with errc::closed.
  void close() {
    if (!ac_) return;
    closing_ = true;
    auto keep = shared_from_this_or_null();
    redisAsyncFree(ac_);
  }

private:
  struct pending {
    redis_connection* connection;
    reply_handler handler;
  };
  struct readiness {
    bool wanted = false, waiting = false;
  };

  std::shared_ptr<redis_connection> shared_from_this_or_null() { return weak_from_this().lock(); }

  bool submit(const std::vector<std::string>& args, redisCallbackFn* fn, void* priv) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    return redisAsyncCommandArgv(ac_, fn, priv, static_cast<int>(argv.size()), argv.data(),
                                 lens.data()) == REDIS_OK;
  }

  void finish(reply_handler h, std::error_code ec, redis_reply r) {
    if (!h) return;
    asio::post(ex_, [h = std::move(h), ec, r = std::move(r)]() mutable { h(ec, std::move(r)); });
  }

  void want(bool reading) {
    auto& which = reading ? read_ : write_;
    which.wanted = true;
    arm(which);
  }

  void arm(readiness& which) {
    if (which.waiting || !which.wanted || !ac_) return;
    which.waiting = true;
    bool reading = &which == &read_;
    socket_.async_wait(reading ? asio::posix::stream_descriptor::wait_read
                               : asio::posix::stream_descriptor::wait_write,
                       [self = shared_from_this(), reading](std::error_code ec) {
                         auto& w = reading ? self->read_ : self->write_;
                         w.waiting = false;
                         if (ec || !self->ac_ || !w.wanted) return;
                         if (reading)
                           redisAsyncHandleRead(self->ac_);
                         else
                           redisAsyncHandleWrite(self->ac_);
                         self->arm(w); // (no-op once the context is gone)
                       });
  }

  void cleanup() {
    read_.wanted = write_.wanted = false;
    ac_ = nullptr;
    socket_.release(); // hiredis closes the socket itself
    // Freed while connecting (close() on a deadline): say so to the waiter.
    if (auto done = std::move(connected_))
      asio::post(ex_, [done = std::move(done)]() mutable {
        done(make_error_code(errc::closed), "closed while connecting");
      });
    // hiredis still uses `this` after cleanup (the disconnect callback):
    // let go of ourselves only once it is done.
    asio::post(ex_, [keep = std::move(self_)] {});
  }

  static void on_connect(const redisAsyncContext* ac, int status) {
    auto c = static_cast<redis_connection*>(ac->data);
    // TCP keepalive: a peer that vanished (power, network) is noticed even
    // on the subscribed connection, which sends nothing of its own.
    if (status == REDIS_OK && c->tcp_) redisEnableKeepAlive(&const_cast<redisAsyncContext*>(ac)->c);
    std::error_code ec = status == REDIS_OK ? std::error_code() : errc::connection_refused;
    std::string why = status == REDIS_OK ? "" : ac->errstr;
    if (auto done = std::move(c->connected_))
      asio::post(c->ex_, [done = std::move(done), ec, why]() mutable { done(ec, why); });
  }

  static void on_disconnect(const redisAsyncContext* ac, int status) {
    auto c = static_cast<redis_connection*>(ac->data);
    if (c->closing_ || !c->on_lost) return;
    std::string why = status == REDIS_OK ? "closed by the server" : ac->errstr;
    asio::post(c->ex_, [lost = c->on_lost, why] { lost(why); });
  }

  static void on_reply(redisAsyncContext*, void* r, void* priv) {
    std::unique_ptr<pending> p(static_cast<pending*>(priv));
    auto c = p->connection;
    if (!c->sent_.empty()) c->sent_.pop_front();
    if (!r) return c->finish(std::move(p->handler), errc::closed, {});
    c->finish(std::move(p->handler), {}, convert(static_cast<redisReply*>(r)));
  }

  static void on_subscription(redisAsyncContext*, void* r, void* priv) {
    auto c = static_cast<redis_connection*>(priv);
    if (r && c->on_push) c->on_push(static_cast<redisReply*>(r));
  }

  strand ex_;
  asio::posix::stream_descriptor socket_;
  redisAsyncContext* ac_ = nullptr;
  std::shared_ptr<redis_connection> self_;
  std::move_only_function<void(std::error_code, std::string)> connected_;
  readiness read_, write_;
  std::deque<clock::time_point> sent_;
  bool closing_ = false, tcp_ = true;
};

std::string new_node_id() {
  std::random_device rd;
  std::uint64_t v =
      (std::uint64_t(rd()) << 32) ^ rd() ^ std::uint64_t(clock::now().time_since_epoch().count());
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(v));
  return out;
}

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A message on a group's channel: "c1", the publisher's node id (16 hex
// digits), 't' or 'b' (text or binary), then the bytes.  A numbered message
// has 'T' or 'B', then its number in decimal and a space before the bytes,
// and goes to every process, the publisher's included.
constexpr std::string_view envelope_magic = "c1";
constexpr std::size_t envelope_header = 2 + 16 + 1;

// Numbers, keeps and publishes a message in one step.  KEYS: the group's
// sequence and history; ARGV: floor, before, after, history length,
// channel, envelope header.  A history entry is "<seq> <message>".  The
// floor keeps numbers rising past a Redis that restarted empty.
constexpr const char* publish_numbered_script = R"lua(
local seq = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[1])
if seq <= floor then
  seq = floor + 1
  redis.call('SET', KEYS[1], seq)
end
local n = string.format('%d', seq)
local message = ARGV[2] .. n .. ARGV[3]
local keep = tonumber(ARGV[4])
if keep > 0 then
  redis.call('RPUSH', KEYS[2], n .. ' ' .. message)
  redis.call('LTRIM', KEYS[2], -keep, -1)
end
redis.call('PUBLISH', ARGV[5], ARGV[6] .. n .. ' ' .. message)
return seq
)lua";

// Raises a group's counter to at least ARGV[1] (numbers given out by a
// process while Redis was away).
constexpr const char* raise_counter_script = R"lua(
local floor = tonumber(ARGV[1])
if (tonumber(redis.call('GET', KEYS[1])) or 0) < floor then
  redis.call('SET', KEYS[1], floor)
end
return 0
)lua";

// The group's epoch (made now if it has none: first use, or Redis lost its
// data) and its last ARGV[1] history entries.  KEYS: the epoch, the history;
// ARGV: the limit, an epoch to make.
constexpr const char* history_script = R"lua(
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[2]
  redis.call('SET', KEYS[1], epoch)
end
return {epoch, redis.call('LRANGE', KEYS[2], -tonumber(ARGV[1]), -1)}
)lua";

// "<digits> <rest>" -> (number, rest); number 0 when malformed.
std::pair<std::uint64_t, std::string_view> split_numbered(std::string_view s) {
  auto space = s.find(' ');
  if (space == 0 || space == std::string_view::npos || space > 20) return {0, {}};
  std::uint64_t n = 0;
  for (auto c : s.substr(0, space)) {
    if (c < '0' || c > '9') return {0, {}};
    n = n * 10 + std::uint64_t(c - '0');
  }
  return {n, s.substr(space + 1)};
}

} // namespace

// ---------------------------------------------------------------------------

struct redis_layer::impl : std::enable_shared_from_this<impl> {
  strand ex;
  redis_address address;
  redis_options opts;
  std::string node = new_node_id();
  std::string where; // for logs: "redis://127.0.0.1:6379"

  std::shared_ptr<redis_connection> pub, sub;
  bool up = false, closing = false;
  asio::steady_timer wake; // supervise() sleeps on it; lost() and close() cancel it
  clock::time_point next_presence_refresh{};

  std::mutex receiver_mutex;
  receiver deliver;

  // A group's subscription: wanted (members here) and what Redis has.  At
  // most one SUBSCRIBE or UNSUBSCRIBE is in flight per channel (hiredis 0.14
  // drops the callback of a SUBSCRIBE sent while an UNSUBSCRIBE of the same
  // channel is unanswered).
  struct subscription_state {
    bool wanted = false, subscribed = false, in_flight = false;
  };
  std::map<std::string, subscription_state, std::less<>> subscriptions; // by group
  std::map<std::string, std::map<std::string, int>> presence_names;     // group -> name -> count
  std::map<std::string, std::uint64_t> local_numbers; // group -> last number given out while down
  detail::event subscription_settled{ex};             // a SUBSCRIBE/UNSUBSCRIBE was answered

  std::atomic<std::uint64_t> outages{0}, reconnects{0}, published{0}, publish_lost{0}, received{0},
      malformed{0};
  std::atomic<bool> connected{false};

  ~impl() {
    if (pub) pub->close();
    if (sub) sub->close();
  }

  impl(asio::any_io_executor e, redis_address a, redis_options o)
      : ex(asio::make_strand(e)), address(std::move(a)), opts(std::move(o)), wake(ex) {
    where = address.path.empty() ? "redis://" + address.host + ":" + std::to_string(address.port)
                                 : "unix://" + address.path;
  }

  std::string channel_of(std::string_view group) const {
    return opts.prefix + "group:" + std::string(group);
  }
  std::string presence_key(std::string_view group) const {
    return opts.prefix + "presence:" + std::string(group);
  }

  // ---- awaiting hiredis -------------------------------------------------------

  asio::awaitable<result<redis_reply>> call(std::shared_ptr<redis_connection> c,
                                            std::vector<std::string> args) {
    auto [ec, reply] =
        co_await asio::async_initiate<decltype(use_tuple), void(std::error_code, redis_reply)>(
            [&](auto handler) {
              c->command(args, [h = std::move(handler)](std::error_code e, redis_reply r) mutable {
                std::move(h)(e, std::move(r));
              });
            },
            use_tuple);
    if (ec) co_return fail(ec);
    co_return std::move(reply);
  }

  // Connects one connection: connect, AUTH, SELECT (commands only), PING.
  asio::awaitable<result<std::shared_ptr<redis_connection>>> open(bool subscriber) {
    auto c = std::make_shared<redis_connection>(ex);
    struct outcome {
      bool timed_out = false, settled = false;
    };
    auto state = std::make_shared<outcome>();
    asio::steady_timer deadline(ex, opts.connect_timeout);
    // (The handler may already be queued when the attempt settles: it
    // checks, so that it never closes a connection handed out.)
    deadline.async_wait([c, state](std::error_code ec) {
      if (ec || state->settled) return;
      state->timed_out = true;
      c->close();
    });
    auto failed = [&](std::error_code ec,
                      std::string_view why) -> result<std::shared_ptr<redis_connection>> {
      state->settled = true;
      deadline.cancel();
      c->close();
      if (state->timed_out) ec = errc::timeout;
      log(log_level::debug, "redis: " + where + ": " + std::string(why));
      return fail(ec);
    };

    std::string why;
    auto [ec, reason] =
        co_await asio::async_initiate<decltype(use_tuple), void(std::error_code, std::string)>(
            [&](auto handler) {
              auto shared = std::make_shared<decltype(handler)>(std::move(handler));
              if (!c->start(
                      address,
                      [shared](std::error_code e, std::string w) mutable {
                        std::move (*shared)(e, std::move(w));
                      },
                      why))
                asio::post(ex, [shared, why]() mutable {
                  std::move (*shared)(make_error_code(errc::connection_refused), why);
                });
            },
            use_tuple);
    if (ec) co_return failed(ec, "cannot connect: " + reason);

    auto check = [&](const result<redis_reply>& r, std::string_view what) -> std::error_code {
      if (!r) return r.error();
      if (r->kind != redis_reply::type::error) return {};
      bool auth = r->str.starts_with("NOAUTH") || r->str.starts_with("WRONGPASS") ||
                  r->str.starts_with("ERR invalid password") || r->str.starts_with("ERR AUTH") ||
                  r->str.starts_with("ERR Client sent AUTH");
      log(log_level::error, "redis: " + where + ": " + std::string(what) + " refused: " + r->str);
      return auth ? make_error_code(errc::unauthorized) : make_error_code(errc::handshake_failed);
    };
    if (!address.password.empty()) {
      std::vector<std::string> auth{"AUTH"};
      if (!address.user.empty()) auth.push_back(address.user);
      auth.push_back(address.password);
      auto authorized = co_await call(c, std::move(auth));
      if (auto e = check(authorized, "AUTH")) co_return failed(e, "AUTH failed");
    }
    // (GCC 12: no string literal inside a co_await expression; see docs/design.md.)
    if (!subscriber && address.db != 0) {
      std::vector<std::string> select{"SELECT", std::to_string(address.db)};
      auto selected = co_await call(c, std::move(select));
      if (auto e = check(selected, "SELECT")) co_return failed(e, "SELECT failed");
    }
    std::vector<std::string> ping{"PING"};
    auto pong = co_await call(c, std::move(ping));
    if (auto e = check(pong, "PING")) co_return failed(e, "PING failed");
    if (state->timed_out || !c->alive()) co_return failed(errc::timeout, "timed out");
    state->settled = true;
    deadline.cancel();
    co_return c;
  }

  // One attempt at both connections; on success the layer is up.
  asio::awaitable<result<void>> attempt() {
    auto p = co_await open(false);
    if (!p) co_return fail(p.error());
    auto s = co_await open(true);
    if (!s) {
      (*p)->close();
      co_return fail(s.error());
    }
    if (closing || !(*p)->alive() || !(*s)->alive()) { // (one may have dropped meanwhile)
      (*p)->close();
      (*s)->close();
      co_return fail(errc::closed);
    }
    pub = std::move(*p);
    sub = std::move(*s);
    std::weak_ptr<impl> weak = shared_from_this();
    auto lost_handler = [weak](std::string why) {
      if (auto self = weak.lock()) self->lost(why);
    };
    pub->on_lost = lost_handler;
    sub->on_lost = lost_handler;
    sub->on_push = [this](const redisReply* r) { on_push(r); };
    // A channel of this process's own, subscribed for as long as the
    // connection lives: hiredis 0.14 leaves subscribed mode (and then
    // aborts on the next subscription reply) when an UNSUBSCRIBE brings the
    // count to 0.
    sub->subscription("SUBSCRIBE", opts.prefix + "node:" + node);
    // Numbers given out here while Redis was away: Redis's counters go past
    // them before anything is numbered there again.
    for (auto& [group, floor] : local_numbers)
      pub->command(
          {"EVAL", raise_counter_script, "1", opts.prefix + "seq:" + group, std::to_string(floor)},
          nullptr);
    local_numbers.clear();
    up = true;
    connected = true;
    std::vector<std::string> groups;
    for (auto& [group, state] : subscriptions) {
      state.subscribed = state.in_flight = false;
      groups.push_back(group);
    }
    for (auto& group : groups) reconcile(group); // (may erase unwanted ones)
    refresh_presence();
    co_return result<void>{};
  }

  void lost(const std::string& why) {
    if (!up) return;
    up = false;
    connected = false;
    ++outages;
    log(log_level::warning, "redis: lost " + where + " (" + why +
                                "); local delivery goes on, publishes to other processes are "
                                "lost until it is back; reconnecting");
    if (pub) pub->close();
    if (sub) sub->close();
    pub.reset();
    sub.reset();
    wake.cancel();
    subscription_settled.notify_all();
  }

  // Reconnects after each outage until close().
  asio::awaitable<void> supervise() {
    auto self = shared_from_this();
    for (;;) {
      while (up && !closing) {
        // Sleep until lost() or close() wakes us, checking on the way that
        // commands get answers and presence entries stay fresh.
        wake.expires_after(
            std::min<clock::duration>(std::chrono::seconds(1), opts.presence_ttl / 3));
        co_await wake.async_wait(use_tuple);
        if (!up || closing) break;
        if (!pub->alive() || !sub->alive()) {
          lost("the connection closed");
          break;
        }
        if (auto oldest = pub->oldest_pending();
            oldest && clock::now() - *oldest > opts.command_timeout) {
          lost("no reply within " + std::to_string(opts.command_timeout.count()) + " ms");
          break;
        }
        if (clock::now() >= next_presence_refresh) refresh_presence();
      }
      if (closing) co_return;
      auto down_since = clock::now();
      auto delay = opts.reconnect_initial;
      int attempts = 0;
      for (;;) {
        wake.expires_after(delay);
        co_await wake.async_wait(use_tuple);
        if (closing) co_return;
        ++attempts;
        auto r = co_await attempt();
        if (r) break;
        if (closing) co_return;
        log(log_level::debug, "redis: reconnect attempt " + std::to_string(attempts) +
                                  " failed: " + r.error().message());
        delay = std::min(delay * 2, opts.reconnect_max);
      }
      ++reconnects;
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - down_since);
      log(log_level::info, "redis: reconnected to " + where + " after " +
                               std::to_string(ms.count()) + " ms (" + std::to_string(attempts) +
                               " attempts); " + std::to_string(subscriptions.size()) +
                               " group(s) resubscribed");
    }
  }

  // ---- subscriptions -------------------------------------------------------------

  void reconcile(const std::string& group) {
    auto it = subscriptions.find(group);
    if (it == subscriptions.end()) return;
    auto& s = it->second;
    if (!up || s.in_flight) return;
    if (s.wanted && !s.subscribed) {
      s.in_flight = true;
      sub->subscription("SUBSCRIBE", channel_of(group));
    } else if (!s.wanted && s.subscribed) {
      s.in_flight = true;
      sub->subscription("UNSUBSCRIBE", channel_of(group));
    } else if (!s.wanted) {
      subscriptions.erase(it);
    }
  }

  // Inside hiredis's callback: subscription replies and messages.
  void on_push(const redisReply* r) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
    auto kind = text_of(r->element[0]);
    auto channel = text_of(r->element[1]);
    auto group_prefix = opts.prefix + "group:";
    if (!channel.starts_with(group_prefix)) return;
    auto group = std::string(channel.substr(group_prefix.size()));
    if (kind == "message") return on_message(group, r->element[2]);
    if (kind == "subscribe" || kind == "unsubscribe") {
      // Settle the state after hiredis has finished with this reply.
      asio::post(ex, [self = shared_from_this(), group, on = kind == "subscribe"] {
        auto it = self->subscriptions.find(group);
        if (it == self->subscriptions.end()) return;
        it->second.subscribed = on;
        it->second.in_flight = false;
        self->reconcile(group);
        self->subscription_settled.notify_all();
      });
    }
  }

  void on_message(const std::string& group, const redisReply* payload) {
    auto bytes = text_of(payload);
    char kind = bytes.size() >= envelope_header ? bytes[18] : 0;
    if (payload->type != REDIS_REPLY_STRING || !bytes.starts_with(envelope_magic) ||
        (kind != 't' && kind != 'b' && kind != 'T' && kind != 'B')) {
      ++malformed;
      return;
    }
    auto body = bytes.substr(envelope_header);
    std::uint64_t seq = 0;
    if (kind == 'T' || kind == 'B') {
      std::tie(seq, body) = split_numbered(body);
      if (seq == 0) {
        ++malformed;
        return;
      }
    } else if (bytes.substr(2, 16) == node) {
      return; // ours, not numbered: our members have it
    }
    ++received;
    receiver r;
    {
      std::lock_guard lock(receiver_mutex);
      r = deliver;
    }
    auto k = kind == 't' || kind == 'T' ? message_kind::text : message_kind::binary;
    if (r) r(group, shared_message(std::string(body), k), seq);
  }

  // Fails with errc::closed when it sent nothing (Redis down, or this
  // process's subscription to the group not confirmed in time: the group
  // then numbers and delivers it locally), errc::timeout when it was sent
  // but no answer came (Redis may have published it: not again here).
  asio::awaitable<result<std::uint64_t>> publish_numbered(std::string group, std::string before,
                                                          std::string after, std::size_t keep,
                                                          std::uint64_t floor) {
    auto not_sent = [&]() -> result<std::uint64_t> {
      // The group numbers it floor + 1 here; Redis's counter is raised past
      // that on reconnect.
      auto& n = local_numbers[group];
      n = std::max(n, floor + 1);
      return fail(errc::closed);
    };
    // This process's members get it back through the subscription: it must
    // be in place first (the first join's SUBSCRIBE may still be on its way).
    if (!co_await subscribed(group)) co_return not_sent();
    if (!up) co_return not_sent();
    std::vector<std::string> eval{"EVAL",
                                  publish_numbered_script,
                                  "2",
                                  opts.prefix + "seq:" + group,
                                  opts.prefix + "history:" + group,
                                  std::to_string(floor),
                                  std::move(before),
                                  std::move(after),
                                  std::to_string(keep),
                                  channel_of(group),
                                  std::string(envelope_magic) + node + "T"};
    auto r = co_await call(pub, std::move(eval));
    if (!r) co_return fail(errc::timeout); // sent; whether it ran is unknown
    if (r->kind != redis_reply::type::integer || r->integer <= 0) {
      log(log_level::error, "redis: numbered publish failed: " + r->str);
      co_return fail(errc::protocol_error);
    }
    ++published;
    co_return static_cast<std::uint64_t>(r->integer);
  }

  // Once the group's subscription, if this process wants one, is in place
  // (false: not within command_timeout, or Redis is down).
  asio::awaitable<bool> subscribed(const std::string& group) {
    auto wanted = subscriptions.find(group);
    if (wanted != subscriptions.end() && wanted->second.wanted) {
      auto deadline = clock::now() + opts.command_timeout;
      asio::steady_timer limit(ex, opts.command_timeout);
      limit.async_wait([self = shared_from_this()](std::error_code ec) {
        if (!ec) self->subscription_settled.notify_all();
      });
      for (;;) {
        auto it = subscriptions.find(group);
        if (!up || it == subscriptions.end() || clock::now() >= deadline) co_return false;
        if (it->second.subscribed) break;
        co_await subscription_settled.wait();
      }
    }
    co_return up;
  }

  asio::awaitable<result<numbered_history>> history(std::string group, std::size_t limit) {
    // Read once subscribed: a message published after the read then
    // reaches this process, one published before is in what is read.
    if (!co_await subscribed(group)) co_return fail(errc::closed);
    std::vector<std::string> eval{"EVAL",
                                  history_script,
                                  "2",
                                  opts.prefix + "epoch:" + group,
                                  opts.prefix + "history:" + group,
                                  std::to_string(limit),
                                  new_epoch()};
    auto r = co_await call(pub, std::move(eval));
    if (!r) co_return fail(r.error());
    if (r->kind != redis_reply::type::array || r->elements.size() != 2) {
      log(log_level::error, "redis: history read failed: " + r->str);
      co_return fail(errc::protocol_error);
    }
    numbered_history out;
    out.epoch = r->elements[0].str;
    if (limit)
      for (auto& e : r->elements[1].elements) {
        auto [seq, body] = split_numbered(e.str);
        if (seq) out.messages.push_back({seq, shared_message(std::string(body))});
      }
    co_return out;
  }

  static std::string new_epoch() {
    std::random_device random;
    char text[17];
    std::snprintf(text, sizeof text, "%08x%08x", random(), random());
    return text;
  }

  // ---- presence --------------------------------------------------------------

  std::string presence_member(const std::string& name) const { return node + name; }

  void refresh_presence() {
    next_presence_refresh = clock::now() + opts.presence_ttl / 3;
    if (!up) return;
    auto deadline = std::to_string(epoch_ms() + opts.presence_ttl.count());
    for (auto& [group, names] : presence_names) {
      std::vector<std::string> zadd{"ZADD", presence_key(group)};
      for (auto& [name, count] : names) {
        zadd.push_back(deadline);
        zadd.push_back(presence_member(name));
      }
      pub->command(zadd, nullptr);
      pub->command({"PEXPIRE", presence_key(group), std::to_string(2 * opts.presence_ttl.count())},
                   nullptr);
    }
  }

  void add_presence(const std::string& group, const std::string& name) {
    if (++presence_names[group][name] > 1 || !up) return;
    pub->command({"ZADD", presence_key(group),
                  std::to_string(epoch_ms() + opts.presence_ttl.count()), presence_member(name)},
                 nullptr);
    pub->command({"PEXPIRE", presence_key(group), std::to_string(2 * opts.presence_ttl.count())},
                 nullptr);
  }

  void remove_presence(const std::string& group, const std::string& name) {
    auto g = presence_names.find(group);
    if (g == presence_names.end()) return;
    auto n = g->second.find(name);
    if (n == g->second.end() || --n->second > 0) return;
    g->second.erase(n);
    if (g->second.empty()) presence_names.erase(g);
    if (up) pub->command({"ZREM", presence_key(group), presence_member(name)}, nullptr);
  }

  asio::awaitable<result<std::vector<std::string>>> presence(std::string group) {
    if (!up) co_return fail(errc::closed);
    auto now = std::to_string(epoch_ms());
    auto c = pub;
    c->command({"ZREMRANGEBYSCORE", presence_key(group), "-inf", "(" + now}, nullptr);
    std::vector<std::string> range{"ZRANGEBYSCORE", presence_key(group), now, "+inf"};
    auto r = co_await call(c, std::move(range));
    if (!r) co_return fail(r.error());
    if (r->kind != redis_reply::type::array) co_return fail(errc::protocol_error);
    std::vector<std::string> names;
    for (auto& e : r->elements)
      if (e.str.size() >= 16) names.push_back(e.str.substr(16));
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    co_return names;
  }

  asio::awaitable<result<redis_reply>> command(std::vector<std::string> args) {
    if (!up) co_return fail(errc::closed);
    co_return co_await call(pub, std::move(args));
  }

  // ---- close -------------------------------------------------------------------

  asio::awaitable<void> close() {
    if (closing) co_return;
    closing = true;
    wake.cancel();
    if (up) {
      // Our presence entries go; a Redis that does not answer within
      // command_timeout is left to expire them.
      for (auto& [group, names] : presence_names)
        for (auto& [name, count] : names)
          pub->command({"ZREM", presence_key(group), presence_member(name)}, nullptr);
      asio::steady_timer limit(ex, opts.command_timeout);
      limit.async_wait([c = pub](std::error_code ec) {
        if (!ec) c->close();
      });
      std::vector<std::string> ping{"PING"};
      (void)co_await call(pub, std::move(ping));
      limit.cancel();
    }
    up = false;
    connected = false;
    if (pub) pub->close();
    if (sub) sub->close();
  }
};

// ---- redis_layer ----------------------------------------------------------------

namespace {
asio::awaitable<result<std::shared_ptr<redis_layer>>> refused(std::error_code ec) {
  co_return fail(ec);
}
} // namespace

// connect() is an ordinary function: it copies what it is given before any
// coroutine frame exists (the GCC 12 rule in docs/design.md).
asio::awaitable<result<std::shared_ptr<redis_layer>>> redis_layer::connect(asio::any_io_executor ex,
                                                                           std::string_view url) {
  static const redis_options defaults;
  return connect(std::move(ex), url, defaults);
}

asio::awaitable<result<std::shared_ptr<redis_layer>>>
redis_layer::connect(asio::any_io_executor ex, std::string_view url, const redis_options& o) {
  std::string why;
  auto address = parse_redis_url(url, why);
  if (!address) {
    log(log_level::error, "redis: " + why);
    return refused(address.error());
  }
  return start(std::make_shared<impl>(std::move(ex), std::move(*address), o));
}

asio::awaitable<result<std::shared_ptr<redis_layer>>> redis_layer::start(std::shared_ptr<impl> i) {
  // (GCC 12: no lambda temporaries inside a co_await expression.)
  auto first_attempt = i->attempt();
  auto first = co_await asio::co_spawn(i->ex, std::move(first_attempt), asio::use_awaitable);
  if (!first) {
    log(log_level::warning, "redis: cannot use " + i->where + ": " + first.error().message());
    co_return fail(first.error());
  }
  asio::co_spawn(i->ex, i->supervise(), log_failures("redis layer"));
  co_return std::shared_ptr<redis_layer>(new redis_layer(i));
}

redis_layer::~redis_layer() {
  asio::post(impl_->ex, [i = impl_] {
    if (i->closing) return;
    i->closing = true;
    i->up = false;
    i->connected = false;
    i->wake.cancel();
    if (i->pub) i->pub->close();
    if (i->sub) i->sub->close();
  });
}

asio::awaitable<void> redis_layer::close() {
  auto i = impl_;
  auto op = i->close();
  co_await asio::co_spawn(i->ex, std::move(op), asio::use_awaitable);
}

asio::awaitable<result<redis_reply>> redis_layer::command(std::vector<std::string> args) {
  auto i = impl_;
  auto op = i->command(std::move(args));
  co_return co_await asio::co_spawn(i->ex, std::move(op), asio::use_awaitable);
}

redis_layer_stats redis_layer::stats() const {
  auto& i = *impl_;
  return {i.connected.load(),    i.outages.load(),  i.reconnects.load(), i.published.load(),
          i.publish_lost.load(), i.received.load(), i.malformed.load()};
}

const std::string& redis_layer::node_id() const { return impl_->node; }

asio::awaitable<result<std::uint64_t>>
redis_layer::publish_numbered(const std::string& group, std::string_view before,
                              std::string_view after, std::size_t history, std::uint64_t floor) {
  auto i = impl_;
  auto op = i->publish_numbered(group, std::string(before), std::string(after), history, floor);
  co_return co_await asio::co_spawn(i->ex, std::move(op), asio::use_awaitable);
}

asio::awaitable<result<numbered_history>> redis_layer::history(const std::string& group,
                                                               std::size_t limit) {
  auto i = impl_;
  auto op = i->history(group, limit);
  co_return co_await asio::co_spawn(i->ex, std::move(op), asio::use_awaitable);
}

void redis_layer::attach(receiver r) {
  std::lock_guard lock(impl_->receiver_mutex);
  impl_->deliver = std::move(r);
}

void redis_layer::subscribe(const std::string& group) {
  asio::post(impl_->ex, [i = impl_, group] {
    i->subscriptions[group].wanted = true;
    i->reconcile(group);
  });
}

void redis_layer::unsubscribe(const std::string& group) {
  asio::post(impl_->ex, [i = impl_, group] {
    auto it = i->subscriptions.find(group);
    if (it == i->subscriptions.end()) return;
    it->second.wanted = false;
    i->reconcile(group);
  });
}

void redis_layer::publish(const std::string& group, const shared_message& m) {
  asio::post(impl_->ex, [i = impl_, group, m] {
    if (!i->up) {
      ++i->publish_lost;
      return;
    }
    std::string envelope;
    envelope.reserve(envelope_header + m.size());
    envelope.append(envelope_magic).append(i->node);
    envelope.push_back(m.view().kind == message_kind::text ? 't' : 'b');
    envelope.append(m.text());
    i->pub->command({"PUBLISH", i->channel_of(group), std::move(envelope)}, nullptr);
    ++i->published;
  });
}

void redis_layer::member_joined(const std::string& group, const std::string& name) {
  asio::post(impl_->ex, [i = impl_, group, name] { i->add_presence(group, name); });
}

void redis_layer::member_left(const std::string& group, const std::string& name) {
  asio::post(impl_->ex, [i = impl_, group, name] { i->remove_presence(group, name); });
}

asio::awaitable<result<std::vector<std::string>>> redis_layer::presence(const std::string& group) {
  auto i = impl_;
  auto op = i->presence(group);
  co_return co_await asio::co_spawn(i->ex, std::move(op), asio::use_awaitable);
}

} // namespace coronet
