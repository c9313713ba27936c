#include <coronet/detail/event.hpp>
#include <coronet/detail/use_result.hpp>
#include <coronet/error.hpp>
#include <coronet/impair.hpp>
#include <coronet/log.hpp>

#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>
#include <queue>

namespace coronet {

// ---- the model --------------------------------------------------------------

impairment_model::impairment_model(impairment i, std::uint64_t seed, bool reliable)
    : i_(i), reliable_(reliable), rng_(seed) {}

double impairment_model::uniform() {
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53; // [0, 1), the same on every platform
}

std::chrono::microseconds impairment_model::jitter() {
  if (i_.jitter.count() <= 0) return {};
  return std::chrono::microseconds(
      static_cast<std::int64_t>(uniform() * static_cast<double>(i_.jitter.count() + 1)));
}

message_fate impairment_model::decide(time_point now, std::size_t size) {
  using std::chrono::microseconds;
  message_fate fate;
  ++stats_.messages;
  auto base = now;
  if (i_.limited()) {
    // The messages that have left the queue by now no longer hold it.
    while (!in_queue_.empty() && in_queue_.front().first <= now) {
      queued_bytes_ -= in_queue_.front().second;
      in_queue_.pop_front();
    }
    bool full = i_.queue_packets
                    ? in_queue_.size() >= i_.queue_packets
                    : queued_bytes_ > 0 &&
                          queued_bytes_ + size > (i_.queue_bytes ? i_.queue_bytes : 64 * 1024);
    if (!reliable_ && full) {
      fate.dropped = message_fate::cause::queue_full;
      ++stats_.queue_dropped;
      return fate;
    }
    base = depart(now, size);
    in_queue_.emplace_back(base, size);
    queued_bytes_ += size;
  }
  if (!reliable_) {
    if (i_.burst_p > 0) {
      bad_ = bad_ ? uniform() >= i_.burst_r : uniform() < i_.burst_p;
      if (bad_ && uniform() < i_.burst_loss) {
        fate.dropped = message_fate::cause::burst;
        ++stats_.burst_lost;
        return fate;
      }
    }
    if (i_.loss > 0 && uniform() < i_.loss) {
      fate.dropped = message_fate::cause::loss;
      ++stats_.lost;
      return fate;
    }
  }
  auto arrival = base + i_.delay + jitter();
  if (!reliable_ && i_.reorder > 0 && uniform() < i_.reorder) {
    // Held back, and not waited for: the messages after it may pass it.
    auto extra = i_.reorder_delay.count() ? i_.reorder_delay
                                          : std::max(i_.delay + i_.jitter, microseconds(1000));
    arrival += extra;
    fate.reordered = true;
    ++stats_.reordered;
  } else {
    arrival = std::max(arrival, last_arrival_); // order kept
    last_arrival_ = arrival;
  }
  auto offset = arrival - now; // (exact: a rounded offset could put a message before the last)
  if (offset.count() > 0) ++stats_.delayed;
  fate.arrivals.push_back(offset);
  if (!reliable_ && i_.duplicate > 0 && uniform() < i_.duplicate) {
    fate.arrivals.push_back(offset);
    ++stats_.duplicated;
  }
  return fate;
}

impairment_model::time_point impairment_model::opportunity(std::uint64_t k) const {
  auto& t = *i_.trace;
  auto period = std::uint64_t(t.back());
  return trace_start_ + std::chrono::milliseconds(period * (k / t.size()) + t[k % t.size()]);
}

impairment_model::time_point impairment_model::depart(time_point now, std::size_t size) {
  using std::chrono::microseconds;
  if (!i_.trace) {
    auto on_wire = microseconds(static_cast<std::int64_t>(
        std::ceil(static_cast<double>(size) * 8e6 / static_cast<double>(i_.rate_bits_per_second))));
    link_free_ = std::max(link_free_, now) + on_wire;
    return link_free_;
  }
  auto& t = *i_.trace;
  if (!trace_started_) trace_start_ = now, trace_started_ = true;
  if (opportunity(next_opportunity_) < now) {
    // The link sat idle: the opportunities that passed are gone.  Jump to
    // the first one at or after now (whole periods first, then a search).
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - trace_start_);
    auto period = std::uint64_t(t.back());
    auto ms = std::uint64_t(elapsed.count());
    auto cycle = ms / period;
    auto within = ms % period;
    auto k =
        cycle * t.size() + std::uint64_t(std::lower_bound(t.begin(), t.end(), within) - t.begin());
    while (opportunity(k) < now) ++k; // (at most a few: the rounding of within)
    next_opportunity_ = std::max(next_opportunity_, k);
    opportunity_left_ = i_.trace_bytes;
  }
  if (opportunity_left_ == 0) opportunity_left_ = i_.trace_bytes;
  // The message takes bytes from as many opportunities as it needs and has
  // left when the one holding its last byte comes.
  auto need = std::max<std::size_t>(size, 1);
  while (need > opportunity_left_) {
    need -= opportunity_left_;
    ++next_opportunity_;
    opportunity_left_ = i_.trace_bytes;
  }
  opportunity_left_ -= need;
  auto when = opportunity(next_opportunity_);
  if (opportunity_left_ == 0) ++next_opportunity_;
  link_free_ = std::max(link_free_, when);
  return when;
}

result<std::shared_ptr<const std::vector<std::uint32_t>>>
load_delivery_trace(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return fail(std::error_code(errno, std::system_category()));
  auto trace = std::make_shared<std::vector<std::uint32_t>>();
  char line[128];
  bool ok = true;
  while (ok && std::fgets(line, sizeof line, f)) {
    std::string_view s(line);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
      s.remove_suffix(1);
    if (s.empty()) continue;
    std::uint32_t ms = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), ms);
    ok = ec == std::errc() && end == s.data() + s.size() && (trace->empty() || ms >= trace->back());
    if (ok) trace->push_back(ms);
  }
  std::fclose(f);
  if (!ok || trace->empty() || trace->back() == 0) return fail(errc::invalid_argument);
  return std::shared_ptr<const std::vector<std::uint32_t>>(std::move(trace));
}

// ---- the text form ----------------------------------------------------------

namespace {

std::optional<double> number(std::string_view& s) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || !std::isfinite(v) || v < 0) return std::nullopt;
  s.remove_prefix(static_cast<std::size_t>(end - s.data()));
  return v;
}

// "2%" or "0.02": a probability.
std::optional<double> probability(std::string_view s) {
  auto v = number(s);
  if (!v) return std::nullopt;
  if (s == "%")
    *v /= 100;
  else if (!s.empty())
    return std::nullopt;
  if (*v > 1) return std::nullopt;
  return v;
}

std::optional<std::chrono::microseconds> duration(std::string_view s) {
  auto v = number(s);
  if (!v) return std::nullopt;
  double scale = s == "us" ? 1 : s == "ms" ? 1e3 : s == "s" ? 1e6 : -1;
  if (scale < 0 || *v * scale > 3.6e9) return std::nullopt; // an hour at most
  return std::chrono::microseconds(std::llround(*v * scale));
}

std::optional<std::uint64_t>
scaled(std::string_view s, std::initializer_list<std::pair<std::string_view, double>> units) {
  auto v = number(s);
  if (!v) return std::nullopt;
  for (auto& [unit, scale] : units)
    if (s == unit) {
      auto total = *v * scale;
      if (total < 1 || total > 1e15) return std::nullopt;
      return static_cast<std::uint64_t>(std::llround(total));
    }
  return std::nullopt;
}

// Splits "a,b(c,d),e" at the commas outside parentheses; false when they
// do not balance.
bool split(std::string_view s, std::vector<std::string_view>& out) {
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || (s[i] == ',' && depth == 0)) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    } else if (s[i] == '(') {
      ++depth;
    } else if (s[i] == ')' && --depth < 0) {
      return false;
    }
  }
  return depth == 0;
}

bool parse_into(std::string_view text, impairment& i, std::vector<std::string>& seen,
                impairment* other, bool top) {
  std::vector<std::string_view> items;
  if (text.empty() || !split(text, items)) return false;
  for (auto item : items) {
    auto colon = item.find(':');
    if (colon == std::string_view::npos) return false;
    auto key = item.substr(0, colon), value = item.substr(colon + 1);
    auto name = key == "up" ? "send" : key == "down" ? "receive" : key;        // (synonyms)
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) return false; // once each
    seen.emplace_back(name);
    auto set_both = [&](auto member, auto v) {
      i.*member = v;
      if (other) other->*member = v;
    };
    if (top && (key == "send" || key == "up" || key == "receive" || key == "down")) {
      if (value.size() < 2 || value.front() != '(' || value.back() != ')') return false;
      continue; // (the caller parses the directions after the common keys)
    }
    if (key == "loss" || key == "reorder" || key == "dup") {
      auto p = probability(value);
      if (!p) return false;
      set_both(key == "loss"      ? &impairment::loss
               : key == "reorder" ? &impairment::reorder
                                  : &impairment::duplicate,
               *p);
    } else if (key == "delay" || key == "jitter" || key == "reorder-delay") {
      auto d = duration(value);
      if (!d) return false;
      set_both(key == "delay"    ? &impairment::delay
               : key == "jitter" ? &impairment::jitter
                                 : &impairment::reorder_delay,
               *d);
    } else if (key == "rate") {
      auto r = scaled(value, {{"bit", 1}, {"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}});
      if (!r) return false;
      set_both(&impairment::rate_bits_per_second, *r);
    } else if (key == "queue" && value.ends_with("p")) {
      auto q = scaled(value, {{"p", 1}});
      if (!q) return false;
      set_both(&impairment::queue_packets, static_cast<std::size_t>(*q));
    } else if (key == "queue") {
      auto q = scaled(value, {{"b", 1}, {"kb", 1024}, {"mb", 1024 * 1024}});
      if (!q) return false;
      set_both(&impairment::queue_bytes, static_cast<std::size_t>(*q));
    } else if (key == "burst") {
      // gilbert(p,r) or gilbert(p,r,loss-in-bad)
      if (!value.starts_with("gilbert(") || !value.ends_with(")")) return false;
      std::vector<std::string_view> args;
      if (!split(value.substr(8, value.size() - 9), args) || args.size() < 2 || args.size() > 3)
        return false;
      auto p = probability(args[0]), r = probability(args[1]);
      auto l = args.size() == 3 ? probability(args[2]) : std::optional<double>(1.0);
      if (!p || !r || !l || *p == 0 || *r == 0) return false;
      set_both(&impairment::burst_p, *p);
      set_both(&impairment::burst_r, *r);
      set_both(&impairment::burst_loss, *l);
    } else {
      return false;
    }
  }
  return true;
}

std::string percent(double p) {
  char text[32];
  std::snprintf(text, sizeof text, "%g%%", p * 100);
  return text;
}

std::string micros(std::chrono::microseconds d) {
  char text[32];
  if (d.count() % 1000 == 0)
    std::snprintf(text, sizeof text, "%lldms", (long long)(d.count() / 1000));
  else
    std::snprintf(text, sizeof text, "%lldus", (long long)d.count());
  return text;
}

std::string one_way(const impairment& i) {
  std::vector<std::string> parts;
  if (i.loss > 0) parts.push_back("loss:" + percent(i.loss));
  if (i.burst_p > 0) {
    char text[96];
    if (i.burst_loss == 1) // (the default third argument)
      std::snprintf(text, sizeof text, "burst:gilbert(%g,%g)", i.burst_p, i.burst_r);
    else
      std::snprintf(text, sizeof text, "burst:gilbert(%g,%g,%g)", i.burst_p, i.burst_r,
                    i.burst_loss);
    parts.push_back(text);
  }
  if (i.delay.count()) parts.push_back("delay:" + micros(i.delay));
  if (i.jitter.count()) parts.push_back("jitter:" + micros(i.jitter));
  if (i.reorder > 0) parts.push_back("reorder:" + percent(i.reorder));
  if (i.reorder_delay.count()) parts.push_back("reorder-delay:" + micros(i.reorder_delay));
  if (i.duplicate > 0) parts.push_back("dup:" + percent(i.duplicate));
  if (i.rate_bits_per_second)
    parts.push_back("rate:" + std::to_string(i.rate_bits_per_second) + "bit");
  if (i.queue_packets)
    parts.push_back("queue:" + std::to_string(i.queue_packets) + "p");
  else if (i.queue_bytes)
    parts.push_back("queue:" + std::to_string(i.queue_bytes) + "b");
  std::string out;
  for (auto& p : parts) (out += out.empty() ? "" : ",") += p;
  return out;
}

bool same(const impairment& a, const impairment& b) { return one_way(a) == one_way(b); }

} // namespace

result<impairment_spec> parse_impairment(std::string_view text) {
  impairment_spec spec;
  std::vector<std::string> seen;
  if (!parse_into(text, spec.send, seen, &spec.receive, true)) return fail(errc::invalid_argument);
  std::vector<std::string_view> items;
  split(text, items);
  for (auto item : items) {
    auto colon = item.find(':');
    auto key = item.substr(0, colon), value = item.substr(colon + 1);
    bool send = key == "send" || key == "up", receive = key == "receive" || key == "down";
    if (!send && !receive) continue;
    std::vector<std::string> inner_seen;
    if (!parse_into(value.substr(1, value.size() - 2), send ? spec.send : spec.receive, inner_seen,
                    nullptr, false))
      return fail(errc::invalid_argument);
  }
  return spec;
}

std::string to_string(const impairment_spec& spec) {
  if (same(spec.send, spec.receive)) return one_way(spec.send);
  std::string out;
  if (spec.send.any() || spec.send.queue_bytes || spec.send.queue_packets)
    out += "send:(" + one_way(spec.send) + ")";
  if (spec.receive.any() || spec.receive.queue_bytes || spec.receive.queue_packets)
    (out += out.empty() ? "" : ",") += "receive:(" + one_way(spec.receive) + ")";
  return out;
}

// ---- the decorator ----------------------------------------------------------

namespace {

using steady = std::chrono::steady_clock;

// A message waiting for its time.
struct held {
  steady::time_point due;
  std::uint64_t order; // (equal times: in the order decided)
  std::string bytes;
  message_kind kind;
  bool operator>(const held& o) const { return due != o.due ? due > o.due : order > o.order; }
};

// One direction's messages waiting for their time, earliest first.
struct delay_line {
  std::priority_queue<held, std::vector<held>, std::greater<>> queue;
  std::size_t bytes = 0;
  std::uint64_t next_order = 0;

  void put(steady::time_point due, message_view m) {
    bytes += m.size();
    queue.push({due, next_order++,
                std::string(reinterpret_cast<const char*>(m.data.data()), m.size()), m.kind});
  }
  bool ready(steady::time_point now) const { return !queue.empty() && queue.top().due <= now; }
  held take() {
    auto h = std::move(const_cast<held&>(queue.top()));
    queue.pop();
    bytes -= h.bytes.size();
    return h;
  }
};

class impaired final : public channel::endpoint, public std::enable_shared_from_this<impaired> {
public:
  impaired(channel inner, const impairment_spec& spec, std::uint64_t seed, std::size_t limit)
      : inner_(std::move(inner)), reliable_(inner_.properties().reliable),
        send_model_(spec.send, seed, reliable_),
        receive_model_(spec.receive, seed ^ 0x9e3779b97f4a7c15ull, reliable_), limit_(limit),
        ex_(inner_.get_executor()), sent_(ex_), received_(ex_), send_timer_(ex_),
        receive_timer_(ex_), deadline_(ex_) {
    link_.spec = spec;
    link_.send = &send_model_.stats();
    link_.receive = &receive_model_.stats();
  }

  void start() {
    asio::co_spawn(ex_, pump(shared_from_this()), log_failures("an impaired link's sender"));
    asio::co_spawn(ex_, read(shared_from_this()), log_failures("an impaired link's reader"));
  }

  asio::awaitable<result<message_view>> receive() override {
    auto self = shared_from_this();
    timed_out_ = false;
    if (timeout_.count()) {
      deadline_.expires_after(timeout_);
      deadline_.async_wait([w = std::weak_ptr<impaired>(self)](std::error_code ec) {
        if (auto s = w.lock(); s && !ec) {
          s->timed_out_ = true;
          s->received_.notify_all();
        }
      });
    }
    for (;;) {
      auto m = try_receive();
      if (m || m.error() != errc::would_block) {
        deadline_.cancel();
        co_return m;
      }
      if (timed_out_) co_return fail(errc::timeout);
      // Wake at the next message's time, or when one is put or the reading ends.
      if (!incoming_.queue.empty()) {
        receive_timer_.expires_at(incoming_.queue.top().due);
        receive_timer_.async_wait([w = std::weak_ptr<impaired>(self)](std::error_code ec) {
          if (auto s = w.lock(); s && !ec) s->received_.notify_all();
        });
      }
      co_await received_.wait();
      receive_timer_.cancel();
    }
  }

  result<message_view> try_receive() override {
    current_.clear();
    if (incoming_.ready(steady::now())) {
      auto h = incoming_.take();
      if (reliable_) received_.notify_all(); // (room for the reader)
      current_ = std::move(h.bytes);
      return message_view(std::string_view(current_), h.kind);
    }
    if (read_error_ && incoming_.queue.empty()) return fail(read_error_);
    return fail(errc::would_block);
  }

  asio::awaitable<result<void>> send(message_view m) override {
    while (reliable_ && !closed_ && outgoing_.bytes && outgoing_.bytes + m.size() > limit_)
      co_await sent_.wait(); // (a reliable link only delays: wait for room)
    co_return try_send(m);
  }

  result<void> try_send(message_view m) override {
    if (closed_) return fail(send_error_ ? send_error_ : errc::closed);
    auto now = steady::now(); // (one time for the decision and the delivery: order kept)
    auto fate = send_model_.decide(now, m.size());
    if (fate.dropped != message_fate::cause::none) return result<void>(); // lost on the way
    if (outgoing_.bytes && outgoing_.bytes + m.size() > limit_)
      return reliable_ ? fail(errc::backpressure) : result<void>(); // (held too long: dropped)
    for (auto offset : fate.arrivals) outgoing_.put(now + offset, m);
    sent_.notify_all();
    return result<void>();
  }

  asio::awaitable<result<void>> close(close_reason why) override {
    auto self = shared_from_this();
    while (!outgoing_.queue.empty() && !send_error_) co_await sent_.wait(); // what is on its way
    closed_ = true;
    sent_.notify_all();
    co_return co_await inner_.close(why);
  }

  void set_receive_timeout(std::chrono::milliseconds timeout) override { timeout_ = timeout; }
  void stop_receiving() override {
    inner_.stop_receiving();
    read_error_ = errc::closed;
    received_.notify_all();
  }
  void abort() override {
    closed_ = true;
    inner_.abort();
    sent_.notify_all();
    received_.notify_all();
  }
  const coronet::properties& properties() const override { return inner_.properties(); }
  std::string remote() const override { return inner_.remote(); }
  asio::any_io_executor get_executor() override { return ex_; }
  const void* info(const std::type_info& type) const override {
    if (type == typeid(impaired_link)) return &link_;
    return inner_.info(type);
  }

private:
  // Hands each outgoing message to the inner channel at its time.
  static asio::awaitable<void> pump(std::shared_ptr<impaired> self) {
    while (!self->closed_ || !self->outgoing_.queue.empty()) {
      if (self->send_error_) break;
      if (self->outgoing_.queue.empty()) {
        if (self->closed_) break;
        co_await self->sent_.wait();
        continue;
      }
      auto due = self->outgoing_.queue.top().due;
      if (due > steady::now()) {
        self->send_timer_.expires_at(due);
        co_await self->send_timer_.async_wait(detail::use_tuple);
        continue;
      }
      auto h = self->outgoing_.take();
      self->sent_.notify_all();
      auto sent = co_await self->inner_.send(message_view(std::string_view(h.bytes), h.kind));
      if (!sent && sent.error() != errc::backpressure) self->send_error_ = sent.error();
    }
    self->sent_.notify_all();
  }

  // Reads the inner channel; each message waits for its time in incoming_.
  static asio::awaitable<void> read(std::shared_ptr<impaired> self) {
    for (;;) {
      auto m = co_await self->inner_.receive();
      if (!m) {
        self->read_error_ = m.error();
        self->received_.notify_all();
        co_return;
      }
      auto now = steady::now(); // (one time for the decision and the delivery: order kept)
      auto fate = self->receive_model_.decide(now, m->size());
      for (auto offset : fate.arrivals) {
        if (!self->reliable_ && self->incoming_.bytes + m->size() > self->limit_) continue;
        self->incoming_.put(now + offset, *m);
      }
      self->received_.notify_all();
      while (self->reliable_ && self->incoming_.bytes > self->limit_ && !self->read_error_)
        co_await self->received_.wait(); // (the application is behind: stop reading)
    }
  }

  channel inner_;
  bool reliable_;
  impairment_model send_model_, receive_model_;
  std::size_t limit_;
  asio::any_io_executor ex_;
  detail::event sent_, received_;
  asio::steady_timer send_timer_, receive_timer_, deadline_;
  delay_line outgoing_, incoming_;
  std::string current_;
  std::error_code send_error_, read_error_;
  bool closed_ = false, timed_out_ = false;
  std::chrono::milliseconds timeout_{0};
  impaired_link link_;
};

// What the application holds.  The link's sender and reader hold the link
// itself, so it cannot end by being dropped; when the application's last
// copy of the channel goes, this aborts it, and they end.
class impaired_handle final : public channel::endpoint {
public:
  explicit impaired_handle(std::shared_ptr<impaired> link) : link_(std::move(link)) {}
  ~impaired_handle() override { link_->abort(); }

  asio::awaitable<result<message_view>> receive() override { return link_->receive(); }
  asio::awaitable<result<void>> send(message_view m) override { return link_->send(m); }
  result<void> try_send(message_view m) override { return link_->try_send(m); }
  result<message_view> try_receive() override { return link_->try_receive(); }
  asio::awaitable<result<void>> close(close_reason why) override { return link_->close(why); }
  void set_receive_timeout(std::chrono::milliseconds t) override { link_->set_receive_timeout(t); }
  void stop_receiving() override { link_->stop_receiving(); }
  void abort() override { link_->abort(); }
  const coronet::properties& properties() const override { return link_->properties(); }
  std::string remote() const override { return link_->remote(); }
  asio::any_io_executor get_executor() override { return link_->get_executor(); }
  const void* info(const std::type_info& type) const override { return link_->info(type); }

private:
  std::shared_ptr<impaired> link_;
};

} // namespace

channel impair(channel inner, const impairment_spec& spec, std::uint64_t seed, std::size_t limit) {
  auto link = std::make_shared<impaired>(std::move(inner), spec, seed, limit);
  link->start();
  return channel(std::make_shared<impaired_handle>(std::move(link)));
}

} // namespace coronet
