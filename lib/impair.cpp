#include <coronet/error.hpp>
#include <coronet/impair.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>

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
  if (i_.rate_bits_per_second) {
    // The messages that have left the queue by now no longer hold it.
    std::erase_if(in_queue_, [&](auto& q) {
      if (q.first > now) return false;
      queued_bytes_ -= q.second;
      return true;
    });
    auto limit = i_.queue_bytes ? i_.queue_bytes : std::size_t(64 * 1024);
    if (!reliable_ && queued_bytes_ > 0 && queued_bytes_ + size > limit) {
      fate.dropped = message_fate::cause::queue_full;
      ++stats_.queue_dropped;
      return fate;
    }
    auto on_wire = microseconds(static_cast<std::int64_t>(
        std::ceil(static_cast<double>(size) * 8e6 / static_cast<double>(i_.rate_bits_per_second))));
    link_free_ = std::max(link_free_, now) + on_wire;
    in_queue_.emplace_back(link_free_, size);
    queued_bytes_ += size;
    base = link_free_;
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
  auto offset = std::chrono::duration_cast<microseconds>(arrival - now);
  if (offset.count() > 0) ++stats_.delayed;
  fate.arrivals.push_back(offset);
  if (!reliable_ && i_.duplicate > 0 && uniform() < i_.duplicate) {
    fate.arrivals.push_back(offset);
    ++stats_.duplicated;
  }
  return fate;
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
  if (i.queue_bytes) parts.push_back("queue:" + std::to_string(i.queue_bytes) + "b");
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
  if (spec.send.any() || spec.send.queue_bytes) out += "send:(" + one_way(spec.send) + ")";
  if (spec.receive.any() || spec.receive.queue_bytes)
    (out += out.empty() ? "" : ",") += "receive:(" + one_way(spec.receive) + ")";
  return out;
}

} // namespace coronet
