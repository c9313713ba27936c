#include "load_generator.hpp"

#include "datagram_load.hpp"
#include "payload_pattern.hpp"

#include <coronet/detail/ws_protocol.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::size_t read_chunk = 64 * 1024;
constexpr int max_events = 256;
// Level-triggered epoll brings a busy connection back on the next wait, so
// a few reads per event keep one connection from starving the others.
constexpr int reads_per_event = 4;
constexpr int writes_per_flush = 4;
// No single wait may overshoot a phase boundary by more than this.
constexpr auto longest_wait = 50ms;

// Bytes of the WebSocket frame header for a payload of n bytes, unmasked.
std::size_t ws_header_size(std::size_t n) { return n < 126 ? 2 : n < 65536 ? 4 : 10; }

// Writes the header of a final binary frame; returns where the payload goes.
std::byte* put_ws_header(std::byte* out, std::size_t n, bool masked) {
  *out++ = std::byte{0x82};
  auto mask_bit = masked ? std::byte{0x80} : std::byte{0};
  if (n < 126) {
    *out++ = mask_bit | std::byte(n);
  } else if (n < 65536) {
    *out++ = mask_bit | std::byte{126};
    *out++ = std::byte(n >> 8);
    *out++ = std::byte(n);
  } else {
    *out++ = mask_bit | std::byte{127};
    for (int shift = 56; shift >= 0; shift -= 8) *out++ = std::byte(std::uint64_t(n) >> shift);
  }
  return out;
}

// Message `seq` of connection `id` as the server echoes it is a prefix --
// the framing header (length or unmasked WebSocket header), then 8 bytes
// hashed from (id, seq) that make every message of the run unique -- and
// then a window of the pattern at an offset hashed from those 8 bytes, so
// that every byte depends on which message it belongs to.
struct expected_message {
  std::array<std::byte, 18> prefix; // at most a 10-byte header and the stamp
  std::size_t prefix_size;
  const std::byte* body; // the rest: wire size - prefix_size bytes
  std::uint64_t stamp;
};

expected_message expect(std::uint32_t id, std::uint64_t seq, std::size_t payload,
                        wire_framing framing, const payload_pattern& pattern) {
  expected_message m{};
  auto* out = m.prefix.data();
  if (framing == wire_framing::length_prefixed) {
    auto n = static_cast<std::uint32_t>(payload);
    *out++ = std::byte(n >> 24);
    *out++ = std::byte(n >> 16);
    *out++ = std::byte(n >> 8);
    *out++ = std::byte(n);
  }
  if (framing == wire_framing::websocket) out = put_ws_header(out, payload, false);
  m.stamp = mix((std::uint64_t{id} << 40) ^ seq);
  auto head = std::min<std::size_t>(sizeof m.stamp, payload);
  std::memcpy(out, &m.stamp, head);
  m.prefix_size = static_cast<std::size_t>(out + head - m.prefix.data());
  m.body = pattern.window(m.stamp);
  return m;
}

// The pattern masked with each of a few keys, so that masking a message
// body costs a copy, as a raw message's body does, and the generator does
// no more work per WebSocket message than per raw one.  Windows start at
// multiples of 4, so a window of a masked table is that window masked from
// key byte 0 on.  The server cannot tell: it unmasks every byte it gets.
class masked_patterns {
public:
  static constexpr std::size_t count = 4;

  explicit masked_patterns(const payload_pattern& p) : pattern_(p) {
    for (std::size_t k = 0; k < count; ++k) {
      keys_[k] = static_cast<std::uint32_t>(mix(0x6d61736bu + k)); // "mask"
      auto& src = p.bytes();
      tables_[k].resize(src.size());
      coronet::detail::unmask_copy(tables_[k].data(), src.data(), src.size(),
                                   reinterpret_cast<const std::uint8_t*>(&keys_[k]), 0);
    }
  }

  std::uint32_t key(std::size_t k) const { return keys_[k]; }
  /// pattern.window(stamp), masked with key(k).
  const std::byte* window(std::size_t k, std::uint64_t stamp) const {
    return tables_[k].data() + pattern_.offset(stamp);
  }

private:
  const payload_pattern& pattern_;
  std::array<std::uint32_t, count> keys_{};
  std::array<std::vector<std::byte>, count> tables_;
};

// Writes message `m` as the client sends it: as expected back, but for
// WebSocket a masked frame.
void fill_message(std::byte* out, const expected_message& m, std::size_t payload,
                  wire_framing framing, const masked_patterns* masked) {
  auto head = std::min<std::size_t>(sizeof m.stamp, payload);
  if (framing != wire_framing::websocket) {
    std::memcpy(out, m.prefix.data(), m.prefix_size);
    std::memcpy(out + m.prefix_size, m.body, payload - head);
    return;
  }
  out = put_ws_header(out, payload, true);
  auto k = static_cast<std::size_t>(m.stamp >> 60) % masked_patterns::count;
  auto key = masked->key(k);
  std::memcpy(out, &key, 4);
  out += 4;
  // The stamp is 8 bytes: the body starts at key byte 0 again.
  coronet::detail::unmask_copy(out, m.prefix.data() + m.prefix_size - head, head,
                               reinterpret_cast<const std::uint8_t*>(&key), 0);
  std::memcpy(out + head, masked->window(k, m.stamp), payload - head);
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

bool is_would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

// One connection's streams.  Messages all have the same wire size (E in the
// echo, S as sent; equal but for WebSocket), so message `seq` starts at
// offset seq * E of the echo stream and seq * S of the sent one.  The last
// `in_flight` messages have a slot each (seq modulo in_flight): their sent
// form in `ring`, where the writer reads them, and what their echo must be
// in `expected`, where the checker reads it.
struct connection {
  int fd = -1;
  std::uint32_t id = 0;
  std::vector<std::byte> ring;                   // in_flight * S bytes
  std::vector<expected_message> expected;        // per slot
  std::vector<clock_type::time_point> queued_at; // per slot
  std::uint64_t queued = 0;                      // messages generated
  std::uint64_t written = 0;                     // sent stream bytes handed to the kernel
  std::uint64_t verified = 0;                    // echo stream bytes received and checked
  bool polling_out = false;

  bool open() const { return fd >= 0; }
};

class session {
public:
  explicit session(const load_config& c)
      : config_(c), payload_size_(c.message_size), wire_size_(echo_size(c)),
        send_size_(wire_size_ + (c.framing == wire_framing::websocket ? 4 : 0)),
        scratch_(new std::byte[read_chunk]), pattern_(c.message_size) {
    if (websocket()) masked_ = std::make_unique<masked_patterns>(pattern_);
  }

  ~session() {
    for (auto& c : conns_)
      if (c.open()) ::close(c.fd);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
  }

  session(const session&) = delete;
  session& operator=(const session&) = delete;

  load_report run() {
    if (!set_up()) return std::move(report_);
    auto start = clock_type::now();
    auto measure_begin = start + config_.warmup;
    auto measure_end = measure_begin + config_.duration;
    for (auto& c : conns_) {
      queue(c);
      flush(c);
    }
    for (auto now = clock_type::now(); now < measure_end && open_count_ > 0;
         now = clock_type::now()) {
      if (!measuring_ && now >= measure_begin) begin_measuring();
      poll_once(measuring_ ? measure_end : measure_begin);
    }
    if (!measuring_) begin_measuring(); // every connection failed during warm-up
    end_measuring();
    drain();
    return std::move(report_);
  }

private:
  static std::size_t echo_size(const load_config& c) {
    switch (c.framing) {
    case wire_framing::length_prefixed: return c.message_size + 4;
    case wire_framing::websocket: return c.message_size + ws_header_size(c.message_size);
    default: return c.message_size;
    }
  }
  bool websocket() const { return config_.framing == wire_framing::websocket; }
  std::uint64_t outstanding(const connection& c) const {
    return c.queued * wire_size_ - c.verified;
  }

  bool set_up() {
    if (config_.connections < 1 || config_.in_flight < 1 || wire_size_ == 0 ||
        (config_.framing == wire_framing::length_prefixed && payload_size_ > 0xffffffffu))
      return fail_setup("invalid load configuration");
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) return fail_setup(errno_text("epoll_create1"));
    conns_.resize(static_cast<std::size_t>(config_.connections));
    auto deadline = clock_type::now() + config_.connect_timeout;
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      auto& c = conns_[i];
      c.id = static_cast<std::uint32_t>(i);
      c.ring.resize(static_cast<std::size_t>(config_.in_flight) * send_size_);
      c.expected.resize(static_cast<std::size_t>(config_.in_flight));
      c.queued_at.resize(static_cast<std::size_t>(config_.in_flight));
      if (auto why = connect_one(c, deadline); !why.empty()) return fail_setup(why);
      if (websocket())
        if (auto why = upgrade(c, deadline); !why.empty()) return fail_setup(why);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = c.id;
      if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) != 0)
        return fail_setup(errno_text("epoll_ctl"));
      ++open_count_;
    }
    return true;
  }

  bool over_unix() const { return !config_.unix_path.empty(); }

  // Where the server listens, for messages.
  std::string server_name() const {
    return over_unix() ? config_.unix_path : "127.0.0.1:" + std::to_string(config_.port);
  }

  // The server's socket address: 127.0.0.1:port, or the Unix socket (an
  // abstract name's sun_path is a NUL byte, then the name, counted by the
  // address length rather than ended by a NUL).
  std::string server_address(sockaddr_storage& to, socklen_t& size) const {
    to = {};
    if (!over_unix()) {
      auto& in = reinterpret_cast<sockaddr_in&>(to);
      in.sin_family = AF_INET;
      in.sin_port = htons(config_.port);
      in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      size = sizeof in;
      return {};
    }
    auto& un = reinterpret_cast<sockaddr_un&>(to);
    const auto& path = config_.unix_path;
    if (path.size() >= sizeof un.sun_path) return "Unix socket address too long: " + path;
    un.sun_family = AF_UNIX;
    path.copy(un.sun_path, path.size());
    if (path.front() == '@') un.sun_path[0] = '\0';
    size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
    return {};
  }

  // A non-blocking connect awaited with poll(), so that a server that never
  // accepts cannot hold the generator past the deadline.  (A Unix socket
  // connects at once, or fails with EAGAIN if the server's backlog is full.)
  std::string connect_one(connection& c, clock_type::time_point deadline) {
    sockaddr_storage to;
    socklen_t to_size = 0;
    if (auto why = server_address(to, to_size); !why.empty()) return why;
    c.fd = ::socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return errno_text("socket");
    if (!over_unix()) {
      int one = 1;
      ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&to), to_size) == 0) return {};
    if (int e = errno; e != EINPROGRESS)
      return "connect to " + server_name() + ": " + std::strerror(e);
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock_type::now());
    pollfd p{c.fd, POLLOUT, 0};
    int ready = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
    if (ready == 0) return "connect to " + server_name() + " timed out";
    if (ready < 0) return errno_text("poll");
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return "connect to " + server_name() + ": " + std::strerror(err);
    return {};
  }

  // The opening handshake, with blocking-style waits bounded by `deadline`.
  std::string upgrade(connection& c, clock_type::time_point deadline) {
    std::string request = "GET / HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(config_.port) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n";
    auto wait_for = [&](short what) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock_type::now());
      pollfd p{c.fd, what, 0};
      return ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0))) > 0;
    };
    for (std::size_t sent = 0; sent < request.size();) {
      if (!wait_for(POLLOUT)) return "WebSocket upgrade: the server did not take the request";
      auto n = ::send(c.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && !is_would_block(errno)) return errno_text("send");
      if (n > 0) sent += static_cast<std::size_t>(n);
    }
    std::string reply;
    while (reply.find("\r\n\r\n") == std::string::npos) {
      if (reply.size() > 16384 || !wait_for(POLLIN))
        return "WebSocket upgrade: no complete response";
      char buf[1024];
      auto n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n == 0) return "WebSocket upgrade: the server closed the connection";
      if (n < 0 && !is_would_block(errno)) return errno_text("recv");
      if (n > 0) reply.append(buf, static_cast<std::size_t>(n));
    }
    if (reply.rfind("HTTP/1.1 101 ", 0) != 0 ||
        reply.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == std::string::npos)
      return "WebSocket upgrade refused: " + reply.substr(0, reply.find("\r\n"));
    if (reply.size() != reply.find("\r\n\r\n") + 4)
      return "WebSocket upgrade: the server sent frames before any request";
    return {};
  }

  bool fail_setup(std::string why) {
    ++report_.errors;
    if (report_.first_error.empty()) report_.first_error = std::move(why);
    return false;
  }

  void fail(connection& c, std::string why) {
    ++report_.errors;
    if (report_.first_error.empty())
      report_.first_error = "connection " + std::to_string(c.id) + ": " + why;
    ::close(c.fd); // also leaves the epoll set
    c.fd = -1;
    --open_count_;
  }

  void begin_measuring() {
    if (config_.on_measure_begin) config_.on_measure_begin();
    report_.latency.clear();
    report_.messages = 0;
    report_.payload_bytes = 0;
    measuring_ = true;
    measured_from_ = clock_type::now();
  }

  void end_measuring() {
    report_.measured = clock_type::now() - measured_from_;
    measuring_ = false;
    sending_ = false;
    if (config_.on_measure_end) config_.on_measure_end();
  }

  void drain() {
    auto deadline = clock_type::now() + config_.drain_timeout;
    auto waiting = [&] {
      return std::any_of(conns_.begin(), conns_.end(),
                         [&](const connection& c) { return c.open() && outstanding(c) > 0; });
    };
    while (open_count_ > 0 && waiting() && clock_type::now() < deadline) poll_once(deadline);
    for (auto& c : conns_)
      if (c.open() && outstanding(c) > 0)
        fail(c, std::to_string(outstanding(c)) + " bytes never echoed (drain timed out)");
  }

  // One epoll_wait, at most until `until` (and never longer than
  // longest_wait), and the events it returned.
  void poll_once(clock_type::time_point until) {
    auto left = std::clamp<clock_type::duration>(until - clock_type::now(), 0ns, longest_wait);
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    std::array<epoll_event, max_events> events;
    int n = ::epoll_wait(epoll_fd_, events.data(), max_events, static_cast<int>(ms));
    if (n < 0) {
      if (errno == EINTR) return;
      auto why = errno_text("epoll_wait");
      for (auto& c : conns_)
        if (c.open()) fail(c, why);
      return;
    }
    for (int i = 0; i < n; ++i) {
      auto& c = conns_[events[static_cast<std::size_t>(i)].data.u32];
      auto what = events[static_cast<std::size_t>(i)].events;
      if (c.open() && (what & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(c);
      if (c.open() && (what & EPOLLOUT)) flush(c);
    }
  }

  void on_readable(connection& c) {
    for (int i = 0; i < reads_per_event; ++i) {
      auto n = ::recv(c.fd, scratch_.get(), read_chunk, MSG_DONTWAIT);
      if (n > 0) {
        check_echo(c, static_cast<std::size_t>(n), clock_type::now());
        if (!c.open()) return;
        if (static_cast<std::size_t>(n) < read_chunk) break;
        continue;
      }
      if (n == 0) return fail(c, "the server closed the connection");
      if (is_would_block(errno)) break;
      if (errno == EINTR) continue;
      return fail(c, errno_text("recv"));
    }
    if (sending_) queue(c);
    flush(c);
  }

  void check_echo(connection& c, std::size_t n, clock_type::time_point now) {
    const std::byte* in = scratch_.get();
    if (n > outstanding(c))
      return fail(c, "received " + std::to_string(n) + " bytes, only " +
                         std::to_string(outstanding(c)) + " were outstanding");
    // Message by message: the part of each prefix and of each body that
    // this read brought; a message whose last byte came is done.
    auto seq = c.verified / wire_size_;
    auto at = static_cast<std::size_t>(c.verified % wire_size_);
    auto slot = static_cast<std::size_t>(seq % c.expected.size());
    for (std::size_t done = 0; done < n;) {
      auto len = std::min(n - done, wire_size_ - at);
      auto& m = c.expected[slot];
      if (at < m.prefix_size) {
        auto k = std::min(len, m.prefix_size - at);
        if (!same(in + done, m.prefix.data() + at, k))
          return report_mismatch(c, seq, at, in + done, m.prefix.data() + at, k);
        done += k;
        at += k;
        len -= k;
      }
      auto body = m.body + (at - m.prefix_size);
      if (len && std::memcmp(in + done, body, len) != 0)
        return report_mismatch(c, seq, at, in + done, body, len);
      done += len;
      at += len;
      if (at < wire_size_) break; // the rest comes with a later read
      if (measuring_) {
        auto ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.queued_at[slot]).count();
        report_.latency.record(static_cast<std::uint64_t>(std::max<std::int64_t>(ns, 0)));
        ++report_.messages;
        report_.payload_bytes += payload_size_;
      }
      ++seq;
      at = 0;
      if (++slot == c.expected.size()) slot = 0;
    }
    c.verified += n;
  }

  // A few bytes: a loop beats a call to memcmp.
  static bool same(const std::byte* a, const std::byte* b, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      if (a[i] != b[i]) return false;
    return true;
  }

  // `len` bytes at offset `at` of message `seq` differ from `want`.
  void report_mismatch(connection& c, std::uint64_t seq, std::size_t at, const std::byte* got,
                       const std::byte* want, std::size_t len) {
    std::size_t i = 0;
    while (i + 1 < len && got[i] == want[i]) ++i;
    auto offset = at + i;
    auto header_size = wire_size_ - payload_size_;
    char text[160];
    std::snprintf(text, sizeof text,
                  "echo mismatch in message %llu at byte %zu (%s): expected 0x%02x, got 0x%02x",
                  static_cast<unsigned long long>(seq), offset,
                  offset < header_size ? "header" : "payload", static_cast<unsigned>(want[i]),
                  static_cast<unsigned>(got[i]));
    fail(c, text);
  }

  // Fills every free slot (a slot is free once the echo of the message that
  // used it has been checked in full), then stamps the new messages: their
  // latency starts once they are ready to be written, not while we build them.
  void queue(connection& c) {
    auto first = c.queued;
    auto slots = c.queued_at.size();
    while (c.queued - c.verified / wire_size_ < slots) {
      auto seq = c.queued;
      auto slot = static_cast<std::size_t>(seq % slots);
      auto& m = c.expected[slot];
      m = expect(c.id, seq, payload_size_, config_.framing, pattern_);
      fill_message(c.ring.data() + slot * send_size_, m, payload_size_, config_.framing,
                   masked_.get());
      ++c.queued;
    }
    auto now = clock_type::now();
    for (auto seq = first; seq < c.queued; ++seq) c.queued_at[seq % slots] = now;
  }

  void flush(connection& c) {
    auto& ring = c.ring;
    auto total = c.queued * send_size_;
    for (int i = 0; i < writes_per_flush && c.written < total; ++i) {
      auto at = static_cast<std::size_t>(c.written % ring.size());
      auto left = static_cast<std::size_t>(total - c.written);
      iovec parts[2];
      parts[0] = {ring.data() + at, std::min(left, ring.size() - at)};
      parts[1] = {ring.data(), left - parts[0].iov_len};
      msghdr m{};
      m.msg_iov = parts;
      m.msg_iovlen = parts[1].iov_len ? 2 : 1;
      auto n = ::sendmsg(c.fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (is_would_block(errno)) break;
        if (errno == EINTR) continue;
        return fail(c, errno_text("send"));
      }
      c.written += static_cast<std::uint64_t>(n);
    }
    set_polling_out(c, c.written < total);
  }

  void set_polling_out(connection& c, bool on) {
    if (c.polling_out == on) return;
    epoll_event ev{};
    ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
    ev.data.u32 = c.id;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev) != 0)
      return fail(c, errno_text("epoll_ctl"));
    c.polling_out = on;
  }

  const load_config& config_;
  std::size_t payload_size_;
  std::size_t wire_size_; // per message in the echo
  std::size_t send_size_; // per message as written
  std::unique_ptr<std::byte[]> scratch_;
  payload_pattern pattern_;
  std::unique_ptr<masked_patterns> masked_; // WebSocket only
  std::vector<connection> conns_;
  int epoll_fd_ = -1;
  int open_count_ = 0;
  bool sending_ = true;
  bool measuring_ = false;
  clock_type::time_point measured_from_{};
  load_report report_;
};

} // namespace

double load_report::messages_per_second() const {
  auto s = std::chrono::duration<double>(measured).count();
  return s > 0 ? static_cast<double>(messages) / s : 0.0;
}

double load_report::megabytes_per_second() const {
  auto s = std::chrono::duration<double>(measured).count();
  return s > 0 ? static_cast<double>(payload_bytes) / s / 1e6 : 0.0;
}

double load_report::loss() const {
  return datagrams_sent > 0
             ? static_cast<double>(datagrams_lost) / static_cast<double>(datagrams_sent)
             : 0.0;
}

load_report load_generator::run() const {
  if (config_.framing == wire_framing::datagram) return run_datagram_load(config_);
  return session(config_).run();
}
