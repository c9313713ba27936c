#include "forwarder.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <poll.h>
#include <queue>
#include <unistd.h>
#include <vector>

namespace linkem {

using steady = std::chrono::steady_clock;

namespace {

// A packet waiting for its time on the far side.
struct in_flight {
  steady::time_point due;
  std::uint64_t order; // (ties: first read, first written)
  int to;
  std::vector<unsigned char> bytes;
  bool operator>(const in_flight& o) const { return due != o.due ? due > o.due : order > o.order; }
};

struct side {
  int from, to;
  coronet::impairment_model model;
  direction_stats stats;
};

} // namespace

struct forwarder::impl {
  side up, down;
  std::size_t max_in_flight;
  std::size_t held = 0;
  std::uint64_t order = 0;
  std::priority_queue<in_flight, std::vector<in_flight>, std::greater<>> line;

  impl(int client, int server, const forwarder_options& o)
      : up{client, server, coronet::impairment_model(o.uplink, o.seed), {}},
        down{server, client, coronet::impairment_model(o.downlink, o.seed + 1), {}},
        max_in_flight(o.max_in_flight) {}

  void take(side& s, steady::time_point now, const unsigned char* data, std::size_t n) {
    ++s.stats.packets;
    s.stats.bytes += n;
    auto fate = s.model.decide(now, n);
    for (auto offset : fate.arrivals) {
      if (held + n > max_in_flight) {
        ++s.stats.overflow;
        continue;
      }
      held += n;
      line.push({now + offset, order++, s.to, std::vector<unsigned char>(data, data + n)});
    }
  }

  // Reads what one device has (a bounded batch, so the other side and the
  // deliveries are not starved).
  void read_from(side& s) {
    unsigned char buf[65536];
    for (int batch = 0; batch < 256; ++batch) {
      auto n = ::read(s.from, buf, sizeof buf);
      if (n <= 0) return; // (EAGAIN: drained)
      take(s, steady::now(), buf, static_cast<std::size_t>(n));
    }
  }

  void deliver_due(steady::time_point now) {
    while (!line.empty() && line.top().due <= now) {
      auto& p = line.top();
      auto& s = p.to == up.to ? up : down;
      if (::write(p.to, p.bytes.data(), p.bytes.size()) == static_cast<ssize_t>(p.bytes.size())) {
        ++s.stats.delivered;
        s.stats.delivered_bytes += p.bytes.size();
      } else {
        ++s.stats.write_errors;
      }
      held -= p.bytes.size();
      line.pop();
    }
  }
};

forwarder::forwarder(int client_tun, int server_tun, const forwarder_options& o)
    : impl_(std::make_shared<impl>(client_tun, server_tun, o)) {}

void forwarder::run(int event_fd, const std::function<bool()>& on_event) {
  auto& d = *impl_;
  pollfd fds[3] = {{d.up.from, POLLIN, 0}, {d.down.from, POLLIN, 0}, {event_fd, POLLIN, 0}};
  for (;;) {
    timespec wait{}, *timeout = nullptr;
    if (!d.line.empty()) {
      auto left = std::max(d.line.top().due - steady::now(), steady::duration::zero());
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      wait = {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
      timeout = &wait;
    }
    if (::ppoll(fds, 3, timeout, nullptr) < 0 && errno != EINTR) {
      std::perror("linkem: ppoll");
      return;
    }
    if (fds[0].revents & POLLIN) d.read_from(d.up);
    if (fds[1].revents & POLLIN) d.read_from(d.down);
    d.deliver_due(steady::now());
    if ((fds[2].revents & POLLIN) && !on_event()) return;
  }
}

direction_stats forwarder::uplink() const {
  auto s = impl_->up.stats;
  s.model = impl_->up.model.stats();
  return s;
}

direction_stats forwarder::downlink() const {
  auto s = impl_->down.stats;
  s.model = impl_->down.model.stats();
  return s;
}

std::string to_json(const direction_stats& s) {
  char text[512];
  std::snprintf(text, sizeof text,
                "{\"packets\": %llu, \"bytes\": %llu, \"delivered\": %llu, "
                "\"delivered_bytes\": %llu, \"lost\": %llu, \"burst_lost\": %llu, "
                "\"queue_dropped\": %llu, \"duplicated\": %llu, \"reordered\": %llu, "
                "\"overflow\": %llu, \"write_errors\": %llu}",
                (unsigned long long)s.packets, (unsigned long long)s.bytes,
                (unsigned long long)s.delivered, (unsigned long long)s.delivered_bytes,
                (unsigned long long)s.model.lost, (unsigned long long)s.model.burst_lost,
                (unsigned long long)s.model.queue_dropped, (unsigned long long)s.model.duplicated,
                (unsigned long long)s.model.reordered, (unsigned long long)s.overflow,
                (unsigned long long)s.write_errors);
  return text;
}

} // namespace linkem
