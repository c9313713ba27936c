#include <coronet/group.hpp>
#include <coronet/log.hpp>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <string>

namespace coronet {

shared_message::shared_message(std::string text, message_kind kind)
    : body_(std::make_shared<const body>(body{std::move(text), kind})) {}

shared_message::shared_message(message_view m)
    : body_(std::make_shared<const body>(body{std::string(m.text()), m.kind})) {}

namespace detail {

struct shard;

// One member.  `backlog` and `draining` are touched only on the member's
// thread (deliveries and the drain task both run there); the counters are
// read by members() from any thread.
struct member_state {
  channel ch;
  std::string name;
  shard* home = nullptr; // its shard (a group never discards one)
  std::deque<shared_message> backlog;
  bool draining = false;
  // join_since(): live messages held back until resume(), and the last
  // seq the member gets in its catch-up (messages up to it are not sent).
  bool held = false;
  std::deque<numbered_message> held_messages;
  std::uint64_t seen_through = 0;
  std::atomic<bool> gone{false}; // left or dropped: deliveries skip it
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::size_t> backlog_size{0};
};

// The members of one group that live on one thread.  Deliveries run on
// `ex`; the member list is also changed by join/leave from other threads,
// hence the mutex (uncontended: one lock per delivered message per thread).
struct shard {
  asio::any_io_executor ex;
  std::mutex mutex;
  std::vector<std::shared_ptr<member_state>> members;
  std::atomic<std::size_t> count{0}; // members.size(), read without the lock
};

struct groups_state {
  group_options options;
  std::shared_ptr<channel_layer> layer;
  mutable std::mutex mutex;
  std::map<std::string, std::weak_ptr<group_state>, std::less<>> by_name;
  std::size_t swept_size = 16;
  // Without a channel layer a group's history exists only here: a group
  // that has numbered a message is kept while the groups object lives, so
  // its history outlives its members and handles.
  std::vector<std::shared_ptr<group_state>> with_history;
  std::shared_ptr<group_state> find(std::string_view name);
};

struct group_state : std::enable_shared_from_this<group_state> {
  std::string name;
  std::shared_ptr<groups_state> owner;

  mutable std::mutex mutex; // guards `shards` (the list, not their members)
  // Serializes membership changes (join, leave, drop) with the count and
  // the layer's subscribe/unsubscribe/member calls, so the layer sees them
  // in the order they happened, whichever threads make them.  Taken before
  // `mutex` and the shards' mutexes.
  std::mutex membership_order;
  std::vector<std::shared_ptr<shard>> shards;
  std::atomic<std::size_t> size{0};
  std::atomic<std::uint64_t> published{0}, received{0}, delivered{0}, dropped{0}, disconnected{0},
      posts{0};

  // Numbered messages: the last number seen here and the recent history.
  // Numbering and posting happen under `numbering`, so every thread gets
  // them in number order.
  std::mutex numbering;
  std::uint64_t last_seq = 0;
  std::deque<numbered_message> recent;
  bool kept = false;                     // in owner->with_history
  const std::string epoch = new_epoch(); // of this process's own numbering

  static std::string new_epoch() {
    std::random_device random;
    char text[17];
    std::snprintf(text, sizeof text, "%08x%08x", random(), random());
    return text;
  }

  ~group_state() {
    if (size.load() && owner->layer) owner->layer->unsubscribe(name);
  }

  const group_options& opts() const { return owner->options; }

  std::shared_ptr<shard> shard_for(const asio::any_io_executor& ex) {
    std::lock_guard lock(mutex);
    for (auto& s : shards)
      if (s->ex == ex) return s;
    auto s = std::make_shared<shard>();
    s->ex = ex;
    shards.push_back(s);
    return s;
  }

  result<membership> join(channel ch, std::string member_name, bool held = false) {
    if (!ch) return fail(errc::invalid_argument);
    auto m = std::make_shared<member_state>();
    m->name = member_name.empty() ? ch.remote() : std::move(member_name);
    m->held = held;
    auto id = ch.id();
    auto s = shard_for(ch.get_executor());
    m->home = s.get();
    m->ch = std::move(ch);
    // The shard, the count and the layer change together, so that a leave
    // on another thread cannot come between them.
    std::lock_guard order(membership_order);
    {
      std::lock_guard lock(mutex); // one member per channel, over every shard
      for (auto& other_shard : shards) {
        std::lock_guard member_lock(other_shard->mutex);
        for (auto& other : other_shard->members)
          if (other->ch.id() == id) return fail(errc::invalid_argument);
      }
      std::lock_guard member_lock(s->mutex);
      s->members.push_back(m);
      s->count.store(s->members.size());
    }
    bool first = size.fetch_add(1) == 0;
    if (auto& layer = owner->layer) {
      if (first) layer->subscribe(name);
      layer->member_joined(name, m->name);
    }
    return membership(shared_from_this(), std::move(m));
  }

  // Removes the member `which` (any, when null) whose channel has id `id`.
  void leave(const void* id, const member_state* which = nullptr) {
    std::lock_guard order(membership_order);
    std::shared_ptr<member_state> gone;
    std::shared_ptr<shard> from;
    {
      std::lock_guard lock(mutex);
      for (auto& s : shards) {
        std::lock_guard member_lock(s->mutex);
        auto it = std::find_if(s->members.begin(), s->members.end(), [&](auto& m) {
          return which ? m.get() == which : m->ch.id() == id;
        });
        if (it != s->members.end()) {
          gone = std::move(*it);
          s->members.erase(it);
          s->count.store(s->members.size());
          from = s;
          break;
        }
      }
    }
    if (gone) forget(*from, gone);
  }

  // Removes `m` from `s` (on s's thread) after a delivery found it closed
  // or the slow-consumer policy disconnected it.
  void drop_member(shard& s, const std::shared_ptr<member_state>& m) {
    std::lock_guard order(membership_order);
    {
      std::lock_guard lock(s.mutex);
      auto it = std::find(s.members.begin(), s.members.end(), m);
      if (it == s.members.end()) return; // left meanwhile
      s.members.erase(it);
      s.count.store(s.members.size());
    }
    forget(s, m);
  }

  // After a member is taken out of its shard (membership_order held): the
  // count, the layer, and the member's hold on its channel, let go on its
  // own thread (a drain waiting for room in a stalled connection must not
  // keep that connection alive once the application has let go of it).
  void forget(shard& s, const std::shared_ptr<member_state>& m) {
    m->gone = true;
    bool last = size.fetch_sub(1) == 1;
    if (auto& layer = owner->layer) {
      layer->member_left(name, m->name);
      if (last) layer->unsubscribe(name);
    }
    asio::post(s.ex, [m] {
      m->backlog.clear();
      m->backlog_size.store(0, std::memory_order_relaxed);
      m->ch = channel();
    });
  }

  void publish(const shared_message& msg, bool from_here) {
    (from_here ? published : received).fetch_add(1, std::memory_order_relaxed);
    if (from_here && owner->layer) owner->layer->publish(name, msg);
    post_to_shards(msg, 0);
  }

  // `seq`: the message's number, 0 for one published unnumbered.
  void post_to_shards(const shared_message& msg, std::uint64_t seq) {
    std::lock_guard lock(mutex);
    for (auto& s : shards)
      if (s->count.load(std::memory_order_relaxed)) {
        posts.fetch_add(1, std::memory_order_relaxed);
        asio::post(s->ex,
                   [self = shared_from_this(), s, msg, seq] { self->deliver(*s, msg, seq); });
      }
  }

  // A numbered message to deliver here: numbered by the layer (seq > 0),
  // or to number now (seq == 0).  Returns its number.
  std::uint64_t deliver_numbered(shared_message msg, std::uint64_t seq,
                                 std::string_view before = {}, std::string_view after = {}) {
    std::lock_guard lock(numbering);
    if (seq == 0) {
      seq = ++last_seq;
      std::string text;
      text.reserve(before.size() + 20 + after.size());
      text.append(before).append(std::to_string(seq)).append(after);
      msg = shared_message(std::move(text));
    } else {
      last_seq = std::max(last_seq, seq);
    }
    if (opts().history && (recent.empty() || recent.back().seq < seq)) {
      recent.push_back({seq, msg});
      while (recent.size() > opts().history) recent.pop_front();
      if (!kept && !owner->layer) {
        kept = true;
        std::lock_guard lock(owner->mutex);
        owner->with_history.push_back(shared_from_this());
      }
    }
    post_to_shards(msg, seq);
    return seq;
  }

  // On s's thread: hands `msg` to each member of s.
  void deliver(shard& s, const shared_message& msg, std::uint64_t seq) {
    // The loop runs under the shard's lock (a join or leave on another
    // thread waits for it), over the list itself: no copy, no reference
    // count per member per message.  Members that must go are dropped after
    // it, since dropping takes membership_order, which comes first.
    std::vector<std::shared_ptr<member_state>> leaving; // (allocates only when needed)
    std::uint64_t handed = 0;
    {
      std::lock_guard lock(s.mutex);
      for (auto& m : s.members) {
        if (m->gone) continue;
        if (m->held) {
          hold(*m, msg, seq);
          continue;
        }
        // (A catch-up read from Redis can be answered before a message in
        // it comes through the subscription: that one is not sent again.)
        if (seq && seq <= m->seen_through) continue;
        if (!hand(s, m, msg, handed)) leaving.push_back(m);
      }
    }
    delivered.fetch_add(handed, std::memory_order_relaxed);
    for (auto& m : leaving) drop_member(s, m);
  }

  // Gives `msg` to m's channel, or its backlog; false when m must go.
  // (s's lock held.)
  bool hand(shard& s, const std::shared_ptr<member_state>& m, const shared_message& msg,
            std::uint64_t& handed) {
    if (m->backlog.empty() && !m->draining) {
      auto sent = m->ch.try_send(msg.view());
      if (sent) {
        ++handed;
        return true;
      }
      if (sent.error() != errc::backpressure) return false; // closed, or its connection failed
    }
    return overflow(s, m, msg);
  }

  // A message for a member still catching up: kept, within member_backlog.
  void hold(member_state& m, const shared_message& msg, std::uint64_t seq) {
    if (m.held_messages.size() >= std::max<std::size_t>(opts().member_backlog, 1)) {
      m.held_messages.pop_front();
      count_drop(m);
    }
    m.held_messages.push_back({seq, msg});
  }

  // The last seq m's catch-up has: neither a held message nor a live one
  // up to it is sent.
  static void caught_up_to(membership& joined, std::uint64_t seq) {
    auto& m = *joined.member_; // (membership's friend)
    std::lock_guard lock(m.home->mutex);
    m.seen_through = seq;
  }

  // On m's thread: the catch-up is out; the held messages it did not
  // contain follow, then the live stream.
  void resume(const std::shared_ptr<member_state>& m) {
    auto& s = *m->home;
    bool stays = true;
    std::uint64_t handed = 0;
    {
      std::lock_guard lock(s.mutex);
      if (!m->held) return;
      m->held = false;
      for (auto& h : m->held_messages) {
        if (m->gone || !stays) break;
        if (h.seq && h.seq <= m->seen_through) continue; // in the catch-up already
        stays = hand(s, m, h.message, handed);
      }
      m->held_messages.clear();
    }
    delivered.fetch_add(handed, std::memory_order_relaxed);
    if (!stays) drop_member(s, m);
  }

  void count_drop(member_state& m) {
    m.dropped.fetch_add(1, std::memory_order_relaxed);
    dropped.fetch_add(1, std::memory_order_relaxed);
  }

  void disconnect(member_state& m) {
    disconnected.fetch_add(1, std::memory_order_relaxed);
    m.ch.abort();
  }

  // `msg` found m's channel queue full (or others already waiting).  False
  // when the member must go (the caller drops it).
  bool overflow(shard& s, const std::shared_ptr<member_state>& m, const shared_message& msg) {
    switch (opts().slow_consumer) {
    case slow_consumer_policy::drop_newest: count_drop(*m); return true;
    case slow_consumer_policy::disconnect: disconnect(*m); return false;
    case slow_consumer_policy::wait:
    case slow_consumer_policy::drop_oldest: break;
    }
    auto limit = std::max<std::size_t>(opts().member_backlog, 1);
    if (m->backlog.size() >= limit) {
      if (opts().slow_consumer == slow_consumer_policy::wait) {
        disconnect(*m);
        return false;
      }
      m->backlog.pop_front();
      count_drop(*m);
    }
    m->backlog.push_back(msg);
    m->backlog_size.store(m->backlog.size(), std::memory_order_relaxed);
    if (!m->draining) {
      m->draining = true;
      asio::co_spawn(s.ex, drain(shared_from_this(), s, m), log_failures("group member drain"));
    }
    return true;
  }

  // On the member's thread: sends its backlog in order, waiting for room in
  // its channel's queue (channel::send() under the channel's own policy).
  // (`self` keeps `s` alive: a group never discards a shard.)
  static asio::awaitable<void> drain(std::shared_ptr<group_state> self, shard& s,
                                     std::shared_ptr<member_state> m) {
    // co_spawn runs a coroutine inline up to its first suspension, and this
    // one is started from inside a delivery, which holds the shard's lock
    // (that dropping a member takes): begin on a later turn.
    co_await asio::post(s.ex, asio::use_awaitable);
    while (!m->backlog.empty() && !m->gone) {
      auto msg = std::move(m->backlog.front());
      m->backlog.pop_front();
      m->backlog_size.store(m->backlog.size(), std::memory_order_relaxed);
      auto sent = co_await m->ch.send(msg.view());
      if (sent) {
        self->delivered.fetch_add(1, std::memory_order_relaxed);
      } else if (sent.error() == errc::backpressure) {
        self->count_drop(*m); // the channel's own policy refused it
      } else {
        self->drop_member(s, m);
        break;
      }
    }
    m->draining = false;
    m->backlog.clear();
    m->backlog_size.store(0, std::memory_order_relaxed);
  }

  std::vector<group_member> members() const {
    std::vector<group_member> out;
    std::lock_guard lock(mutex);
    for (auto& s : shards) {
      std::lock_guard member_lock(s->mutex);
      for (auto& m : s->members)
        out.push_back({m->name, m->ch.id(), m->dropped.load(), m->backlog_size.load()});
    }
    return out;
  }
};

std::shared_ptr<group_state> groups_state::find(std::string_view name) {
  std::lock_guard lock(mutex);
  auto it = by_name.find(name);
  if (it == by_name.end()) return nullptr;
  return it->second.lock();
}

} // namespace detail

// ---- membership -------------------------------------------------------------

membership::membership(std::shared_ptr<detail::group_state> g,
                       std::shared_ptr<detail::member_state> m)
    : group_(std::move(g)), member_(std::move(m)) {}

membership::membership(membership&& o) noexcept = default;

membership& membership::operator=(membership&& o) noexcept {
  if (this != &o) {
    leave();
    group_ = std::move(o.group_);
    member_ = std::move(o.member_);
  }
  return *this;
}

membership::~membership() { leave(); }

void membership::leave() {
  auto g = std::move(group_);
  auto m = std::move(member_);
  if (g && m && !m->gone) g->leave(nullptr, m.get());
}

void membership::resume() {
  if (group_ && member_) group_->resume(member_);
}

// ---- group ------------------------------------------------------------------

const std::string& group::name() const { return state_->name; }

result<membership> group::join(channel ch, std::string name) {
  return state_->join(std::move(ch), std::move(name));
}

void group::leave(const channel& ch) { state_->leave(ch.id()); }

void group::publish(shared_message m) { state_->publish(m, true); }

std::size_t group::size() const { return state_->size.load(); }

std::vector<group_member> group::members() const { return state_->members(); }

asio::awaitable<result<std::uint64_t>> group::publish_numbered(std::string_view before,
                                                               std::string_view after) {
  auto state = state_;
  state->published.fetch_add(1, std::memory_order_relaxed);
  if (auto& layer = state->owner->layer) {
    std::uint64_t floor;
    {
      std::lock_guard lock(state->numbering);
      floor = state->last_seq;
    }
    auto seq =
        co_await layer->publish_numbered(state->name, before, after, state->opts().history, floor);
    if (seq) co_return *seq; // every process's members get it through the layer
    // Sent but unanswered: it may have gone out, so not again here.
    if (seq.error() != errc::closed) co_return fail(seq.error());
  }
  co_return state->deliver_numbered({}, 0, before, after);
}

namespace {

// The group's kept messages: the layer's, else this process's.
asio::awaitable<result<numbered_history>> history_of(std::shared_ptr<detail::group_state> state) {
  if (auto& layer = state->owner->layer) {
    auto kept = co_await layer->history(state->name, state->opts().history);
    if (kept) co_return std::move(*kept);
  }
  std::lock_guard lock(state->numbering);
  co_return numbered_history{state->epoch, {state->recent.begin(), state->recent.end()}};
}

asio::awaitable<result<catch_up>> join_since_in(std::shared_ptr<detail::group_state> state,
                                                channel ch, std::string name, std::uint64_t since,
                                                std::string epoch) {
  auto member = state->join(std::move(ch), std::move(name), true);
  if (!member) co_return fail(member.error());
  // Joined and held first, read after: a message is either in what is read
  // or held (or both: resume() skips those).
  auto kept = co_await history_of(state);
  catch_up out;
  std::uint64_t seen_through = 0;
  if (kept) {
    auto& messages = kept->messages;
    std::uint64_t top;
    {
      std::lock_guard lock(state->numbering);
      top = std::max(state->last_seq, messages.empty() ? 0 : messages.back().seq);
    }
    bool same_numbering = (epoch.empty() || epoch == kept->epoch) && since <= top;
    for (auto& m : messages)
      if (!same_numbering || m.seq > since) out.missed.push_back(m);
    if (same_numbering)
      out.recovered = messages.empty() ? since >= top : messages.front().seq <= since + 1;
    seen_through = !out.missed.empty() ? out.missed.back().seq : same_numbering ? since : 0;
    out.epoch = std::move(kept->epoch);
  }
  detail::group_state::caught_up_to(*member, seen_through);
  out.member = std::move(*member);
  co_return out;
}

} // namespace

asio::awaitable<result<numbered_history>> group::history() const { return history_of(state_); }

asio::awaitable<result<catch_up>> group::join_since(channel ch, std::string_view name,
                                                    std::uint64_t since, std::string_view epoch) {
  return join_since_in(state_, std::move(ch), std::string(name), since, std::string(epoch));
}

asio::awaitable<result<std::vector<std::string>>> group::presence() const {
  auto state = state_; // the handle may go while we wait
  if (auto& layer = state->owner->layer) co_return co_await layer->presence(state->name);
  std::vector<std::string> names;
  for (auto& m : state->members()) names.push_back(m.name);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  co_return names;
}

group_stats group::stats() const {
  auto& s = *state_;
  group_stats out;
  out.members = s.size.load();
  out.published = s.published.load();
  out.received = s.received.load();
  out.delivered = s.delivered.load();
  out.dropped = s.dropped.load();
  out.disconnected = s.disconnected.load();
  out.posts = s.posts.load();
  return out;
}

// ---- groups -----------------------------------------------------------------

groups::groups(group_options o, std::shared_ptr<channel_layer> layer)
    : state_(std::make_shared<detail::groups_state>()) {
  state_->options = o;
  state_->layer = std::move(layer);
  if (state_->layer) {
    // The layer may outlive us: it holds the state weakly.
    std::weak_ptr<detail::groups_state> weak = state_;
    state_->layer->attach([weak](std::string_view name, shared_message m, std::uint64_t seq) {
      auto owner = weak.lock();
      if (!owner) return;
      auto g = owner->find(name);
      if (!g) return;
      if (seq == 0) return g->publish(m, false);
      g->received.fetch_add(1, std::memory_order_relaxed);
      g->deliver_numbered(std::move(m), seq);
    });
  }
}

groups::~groups() {
  std::vector<std::shared_ptr<detail::group_state>> kept;
  {
    std::lock_guard lock(state_->mutex);
    kept.swap(state_->with_history);
  }
  kept.clear(); // (the groups refer back to state_)
  if (state_->layer) state_->layer->attach(nullptr);
}

group groups::get(std::string_view name) {
  std::lock_guard lock(state_->mutex);
  auto it = state_->by_name.find(name);
  if (it != state_->by_name.end())
    if (auto g = it->second.lock()) return group(std::move(g));
  // Forget the names of groups that are gone, each time the map has
  // doubled since the last look (amortized constant per get).
  if (state_->by_name.size() >= 2 * state_->swept_size) {
    std::erase_if(state_->by_name, [](auto& entry) { return entry.second.expired(); });
    state_->swept_size = std::max<std::size_t>(state_->by_name.size(), 16);
  }
  auto g = std::make_shared<detail::group_state>();
  g->name = std::string(name);
  g->owner = state_;
  state_->by_name.insert_or_assign(std::string(name), g);
  return group(std::move(g));
}

std::vector<std::string> groups::names() const {
  std::vector<std::string> out;
  std::lock_guard lock(state_->mutex);
  for (auto& [name, weak] : state_->by_name)
    if (auto g = weak.lock(); g && g->size.load()) out.push_back(name);
  return out;
}

const group_options& groups::options() const { return state_->options; }

} // namespace coronet
