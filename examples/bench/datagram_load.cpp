#include "datagram_load.hpp"

#include "payload_pattern.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::size_t header_size = 12;         // peer id (u32), sequence number (u64)
constexpr std::size_t largest_datagram = 65507; // UDP over IPv4
constexpr int max_events = 256;
// No single wait may overshoot a phase boundary or a loss sweep by more than this.
constexpr auto longest_wait = 50ms;
// Sequence numbers counted lost that a peer remembers, to tell a late echo
// from a duplicate one.  Beyond that, an unknown old echo is taken as late.
constexpr std::size_t remembered_losses = 1 << 16;

void put_le(std::byte* out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = std::byte(v >> (8 * i));
}

std::uint64_t get_le(const std::byte* in, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t(in[i]) << (8 * i);
  return v;
}

// Datagram `seq` of peer `id`: who and which in clear, then bytes that
// depend on both.
void fill_datagram(std::byte* out, std::uint32_t id, std::uint64_t seq, std::size_t size,
                   const payload_pattern& pattern) {
  put_le(out, id, 4);
  put_le(out + 4, seq, 8);
  std::memcpy(out + header_size, pattern.window((std::uint64_t{id} << 40) ^ seq),
              size - header_size);
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

bool is_would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

struct slot {
  bool busy = false;
  bool measured = false; // sent during the measured interval: its fate counts
  std::uint64_t seq = 0;
  clock_type::time_point sent_at{};
};

struct peer {
  int fd = -1;
  std::uint32_t id = 0;
  std::uint64_t next_seq = 0;
  std::vector<slot> slots;        // in_flight of them
  std::vector<std::byte> sent;    // slot i's datagram at i * message_size
  std::deque<std::uint64_t> lost; // sequence numbers counted lost, ascending
  bool forgot_losses = false;     // `lost` was trimmed at the front

  bool open() const { return fd >= 0; }
  bool waiting() const {
    return std::any_of(slots.begin(), slots.end(), [](const slot& s) { return s.busy; });
  }
};

class datagram_session {
public:
  explicit datagram_session(const load_config& c)
      : config_(c), size_(c.message_size), pattern_(c.message_size),
        scratch_(new std::byte[largest_datagram + 1]), expected_(c.message_size),
        sweep_period_(std::max<clock_type::duration>(c.loss_timeout / 8, 1ms)) {}

  ~datagram_session() {
    for (auto& p : peers_)
      if (p.open()) ::close(p.fd);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
  }

  datagram_session(const datagram_session&) = delete;
  datagram_session& operator=(const datagram_session&) = delete;

  load_report run() {
    if (!set_up()) return std::move(report_);
    auto start = clock_type::now();
    auto measure_begin = start + config_.warmup;
    auto measure_end = measure_begin + config_.duration;
    next_sweep_ = start + sweep_period_;
    for (auto& p : peers_)
      for (std::size_t i = 0; i < p.slots.size() && p.open(); ++i) send_next(p, i);
    for (auto now = clock_type::now(); now < measure_end && open_count_ > 0;
         now = clock_type::now()) {
      if (!measuring_ && now >= measure_begin) begin_measuring();
      poll_once(measuring_ ? measure_end : measure_begin);
    }
    if (!measuring_) begin_measuring(); // every peer failed during warm-up
    end_measuring();
    drain();
    return std::move(report_);
  }

private:
  bool set_up() {
    if (config_.connections < 1 || config_.in_flight < 1 || size_ < header_size ||
        size_ > largest_datagram)
      return fail_setup("invalid datagram load configuration (message size " +
                        std::to_string(header_size) + ".." + std::to_string(largest_datagram) +
                        ")");
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) return fail_setup(errno_text("epoll_create1"));
    peers_.resize(static_cast<std::size_t>(config_.connections));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(config_.port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (std::size_t i = 0; i < peers_.size(); ++i) {
      auto& p = peers_[i];
      p.id = static_cast<std::uint32_t>(i);
      p.slots.resize(static_cast<std::size_t>(config_.in_flight));
      p.sent.resize(p.slots.size() * size_);
      p.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (p.fd < 0) return fail_setup(errno_text("socket"));
      // Sends no packet: binds an ephemeral port and keeps other senders out.
      if (::connect(p.fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0)
        return fail_setup(errno_text("connect"));
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = p.id;
      if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, p.fd, &ev) != 0)
        return fail_setup(errno_text("epoll_ctl"));
      ++open_count_;
    }
    return true;
  }

  bool fail_setup(std::string why) {
    ++report_.errors;
    if (report_.first_error.empty()) report_.first_error = std::move(why);
    return false;
  }

  void fail(peer& p, std::string why) {
    ++report_.errors;
    if (report_.first_error.empty())
      report_.first_error = "peer " + std::to_string(p.id) + ": " + why;
    ::close(p.fd); // also leaves the epoll set
    p.fd = -1;
    --open_count_;
  }

  void begin_measuring() {
    if (config_.on_measure_begin) config_.on_measure_begin();
    report_.latency.clear();
    report_.messages = 0;
    report_.payload_bytes = 0;
    report_.datagrams_sent = 0;
    report_.datagrams_lost = 0;
    measuring_ = true;
    measured_from_ = clock_type::now();
  }

  void end_measuring() {
    report_.measured = clock_type::now() - measured_from_;
    measuring_ = false;
    sending_ = false;
    if (config_.on_measure_end) config_.on_measure_end();
  }

  // Until every datagram still out is echoed or counted lost; what the
  // drain timeout cuts short is counted lost too.
  void drain() {
    auto deadline = clock_type::now() + config_.drain_timeout;
    auto waiting = [&] {
      return std::any_of(peers_.begin(), peers_.end(),
                         [](const peer& p) { return p.open() && p.waiting(); });
    };
    while (open_count_ > 0 && waiting() && clock_type::now() < deadline) poll_once(deadline);
    for (auto& p : peers_)
      for (auto& s : p.slots)
        if (p.open() && s.busy) count_lost(p, s);
  }

  // One epoll_wait, at most until `until` or the next loss sweep, and the
  // events it returned; then the sweep if it is due.
  void poll_once(clock_type::time_point until) {
    auto wake = std::min(until, next_sweep_);
    auto left = std::clamp<clock_type::duration>(wake - clock_type::now(), 0ns, longest_wait);
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    std::array<epoll_event, max_events> events;
    int n = ::epoll_wait(epoll_fd_, events.data(), max_events, static_cast<int>(ms));
    if (n < 0 && errno != EINTR) {
      auto why = errno_text("epoll_wait");
      for (auto& p : peers_)
        if (p.open()) fail(p, why);
      return;
    }
    // One datagram per event: level triggering brings a peer with more back
    // on the next wait, and no read is spent on finding a socket empty.
    for (int i = 0; i < n; ++i) {
      auto& p = peers_[events[static_cast<std::size_t>(i)].data.u32];
      if (p.open()) on_readable(p);
    }
    if (auto now = clock_type::now(); now >= next_sweep_) {
      sweep(now);
      next_sweep_ = now + sweep_period_;
    }
  }

  void on_readable(peer& p) {
    auto n = ::recv(p.fd, scratch_.get(), largest_datagram + 1, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (is_would_block(errno) || errno == EINTR) return;
      if (errno == ECONNREFUSED)
        return fail(p, "the server's port is unreachable (ICMP port unreachable)");
      return fail(p, errno_text("recv"));
    }
    check_echo(p, static_cast<std::size_t>(n), clock_type::now());
  }

  void check_echo(peer& p, std::size_t n, clock_type::time_point now) {
    const std::byte* in = scratch_.get();
    if (n != size_)
      return fail(p, "an echo of " + std::to_string(n) + " bytes; every datagram sent has " +
                         std::to_string(size_));
    auto id = get_le(in, 4);
    auto seq = get_le(in + 4, 8);
    if (id != p.id)
      return fail(p, "an echo that names peer " + std::to_string(id) + " (cross-wired?)");
    if (seq >= p.next_seq)
      return fail(p, "an echo of datagram " + std::to_string(seq) + ", which was never sent");
    for (std::size_t i = 0; i < p.slots.size(); ++i) {
      auto& s = p.slots[i];
      if (!s.busy || s.seq != seq) continue;
      const std::byte* sent = p.sent.data() + i * size_;
      if (std::memcmp(in, sent, size_) != 0) return report_mismatch(p, seq, in, sent);
      if (measuring_) {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - s.sent_at).count();
        report_.latency.record(static_cast<std::uint64_t>(std::max<std::int64_t>(ns, 0)));
        ++report_.messages;
        report_.payload_bytes += size_;
      }
      s.busy = false;
      if (sending_) send_next(p, i);
      return;
    }
    // Not outstanding: checked all the same, then a late echo of a datagram
    // counted lost, or a second echo of one already echoed.
    fill_datagram(expected_.data(), p.id, seq, size_, pattern_);
    if (std::memcmp(in, expected_.data(), size_) != 0)
      return report_mismatch(p, seq, in, expected_.data());
    bool was_lost = std::binary_search(p.lost.begin(), p.lost.end(), seq) ||
                    (p.forgot_losses && (p.lost.empty() || seq < p.lost.front()));
    if (!was_lost)
      return fail(p, "a second echo of datagram " + std::to_string(seq) + " (duplicated)");
    ++report_.late_echoes;
  }

  void report_mismatch(peer& p, std::uint64_t seq, const std::byte* got,
                       const std::byte* expected) {
    std::size_t i = 0;
    while (i < size_ && got[i] == expected[i]) ++i;
    char text[160];
    std::snprintf(text, sizeof text,
                  "echo mismatch in datagram %llu at byte %zu (%s): expected 0x%02x, got 0x%02x",
                  static_cast<unsigned long long>(seq), i, i < header_size ? "header" : "payload",
                  static_cast<unsigned>(expected[i]), static_cast<unsigned>(got[i]));
    fail(p, text);
  }

  // Builds the next datagram in slot `i` and sends it.  A datagram the
  // socket does not take is lost like one the network drops.
  void send_next(peer& p, std::size_t i) {
    auto& s = p.slots[i];
    std::byte* bytes = p.sent.data() + i * size_;
    s.seq = p.next_seq++;
    fill_datagram(bytes, p.id, s.seq, size_, pattern_);
    s.busy = true;
    s.measured = measuring_;
    if (measuring_) ++report_.datagrams_sent;
    s.sent_at = clock_type::now();
    for (;;) {
      if (::send(p.fd, bytes, size_, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) return;
      if (errno == EINTR) continue;
      if (is_would_block(errno) || errno == ENOBUFS) return;
      if (errno == ECONNREFUSED)
        return fail(p, "the server's port is unreachable (ICMP port unreachable)");
      return fail(p, errno_text("send"));
    }
  }

  void count_lost(peer& p, slot& s) {
    s.busy = false;
    if (s.measured) ++report_.datagrams_lost;
    // Slots time out in about the order they were sent: almost always an append.
    p.lost.insert(std::upper_bound(p.lost.begin(), p.lost.end(), s.seq), s.seq);
    if (p.lost.size() > remembered_losses) {
      p.lost.pop_front();
      p.forgot_losses = true;
    }
  }

  void sweep(clock_type::time_point now) {
    for (auto& p : peers_) {
      for (std::size_t i = 0; i < p.slots.size() && p.open(); ++i) {
        auto& s = p.slots[i];
        if (!s.busy || now - s.sent_at < config_.loss_timeout) continue;
        count_lost(p, s);
        if (sending_) send_next(p, i);
      }
    }
  }

  const load_config& config_;
  std::size_t size_;
  payload_pattern pattern_;
  std::unique_ptr<std::byte[]> scratch_; // one byte over the largest datagram
  std::vector<std::byte> expected_;      // a datagram rebuilt to check a late echo
  clock_type::duration sweep_period_;
  clock_type::time_point next_sweep_{};
  std::vector<peer> peers_;
  int epoll_fd_ = -1;
  int open_count_ = 0;
  bool sending_ = true;
  bool measuring_ = false;
  clock_type::time_point measured_from_{};
  load_report report_;
};

} // namespace

load_report run_datagram_load(const load_config& config) { return datagram_session(config).run(); }
