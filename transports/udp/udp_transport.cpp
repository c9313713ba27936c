// udp:// as channels: a connected client socket, and a listener that owns
// one socket and hands out a channel per peer address.  See <coronet/udp.hpp>.
//
// Everything here runs on the executor of the socket it belongs to: peers of
// one listener share its thread and its send batch, so the replies a handler
// queues in one turn leave in one sendmmsg.
#include "udp_batch.hpp"

#include <coronet/detail/event.hpp>
#include <coronet/error.hpp>
#include <coronet/log.hpp>
#include <coronet/timeout.hpp>
#include <coronet/transport/handoff.hpp>
#include <coronet/transport/listen_address.hpp>
#include <coronet/transport/registry.hpp>
#include <coronet/udp.hpp>

#include <asio/co_spawn.hpp>
#include <asio/ip/multicast.hpp>
#include <asio/ip/udp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include <netinet/in.h>
#include <netinet/ip.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <deque>
#include <unordered_map>

namespace coronet::transports {
using namespace coronet::detail;
namespace {

using udp = asio::ip::udp;
using clock = std::chrono::steady_clock;

std::error_code map_udp_error(std::error_code ec) {
  // Asio reports errno values in its own system category, our syscalls in std's.
  if (ec == std::errc::connection_refused || ec == asio::error::connection_refused)
    return errc::connection_refused;
  if (ec == std::errc::message_size || ec == asio::error::message_size)
    return errc::message_too_large;
  return normalize_stream_error(ec);
}

std::size_t payload_limit(const options& o) { return std::min(o.max_message, max_udp_payload); }

properties udp_properties(const options& o) {
  return {.reliable = false,
          .ordered = false,
          .preserves_boundaries = true,
          .encrypted = false,
          .max_message_size = payload_limit(o)};
}

// ---- the socket and its send batch (client and listener alike) -------------

struct socket_state : std::enable_shared_from_this<socket_state> {
  udp::socket socket;
  std::shared_ptr<const endpoint_config> config;
  udp_batch_sender sender;
  bool flush_posted = false, waiting_writable = false;
  bool report_send_errors = true;
  // The first datagram sent after each one received leaves at once, as a
  // plain receive/send loop's would: a ping-pong reply waits for nothing.
  // Later sends are queued, so a burst (or the replies to a batch, while
  // `defer_sends` is set) leaves in one sendmmsg.
  bool may_send_now = true, defer_sends = false;
  std::error_code send_error; // the last datagram error, reported once by send()
  event room;

  socket_state(udp::socket s, std::shared_ptr<const endpoint_config> c)
      : socket(std::move(s)), config(std::move(c)),
        sender(config->options.udp.batching, config->options.udp.batch_size),
        room(socket.get_executor()) {}

  const options& opts() const { return config->options; }

  result<void> check(message_view m) const {
    if (m.size() > payload_limit(opts())) return fail(errc::message_too_large);
    if (!socket.is_open()) return fail(errc::closed);
    return {};
  }

  bool has_room(std::size_t n) const {
    return sender.empty() || sender.queued_bytes() + n <= opts().send_queue_limit;
  }

  void queue(message_view m, const sockaddr* to, socklen_t to_size) {
    sender.add(m.data, to, to_size);
    if (flush_posted || waiting_writable || defer_sends) return; // (the reader flushes those)
    flush_posted = true;
    asio::post(socket.get_executor(), [self = shared_from_this()] {
      self->flush_posted = false;
      self->flush();
    });
  }

  void flush() {
    if (waiting_writable || sender.empty() || !socket.is_open()) return;
    for (;;) {
      auto ec = sender.flush(socket.native_handle());
      if (!ec) break;
      if (ec == asio::error::would_block) {
        waiting_writable = true;
        socket.async_wait(udp::socket::wait_write, [self = shared_from_this()](std::error_code e) {
          self->waiting_writable = false;
          if (!e) self->flush();
          self->room.notify_all();
        });
        return;
      }
      // That datagram is dropped; go on with the rest.  A connected client
      // reports the error (ICMP refused); a listener's socket is shared by
      // all peers, so an error there would reach the wrong one: drop it.
      if (report_send_errors) send_error = map_udp_error(ec);
    }
    room.notify_all();
  }

  result<void> try_send(message_view m, const sockaddr* to, socklen_t to_size) {
    if (auto ok = check(m); !ok) return ok;
    if (send_error) return fail(std::exchange(send_error, {}));
    if (!has_room(m.size())) return fail(errc::backpressure);
    return enqueue(m, to, to_size);
  }

  result<void> enqueue(message_view m, const sockaddr* to, socklen_t to_size) {
    if (std::exchange(may_send_now, false) && !defer_sends && sender.empty() && !waiting_writable) {
      auto ec = udp_batch_sender::send_one(socket.native_handle(), m.data, to, to_size);
      if (!ec) return {};
      if (ec != asio::error::would_block) {
        if (report_send_errors) return fail(map_udp_error(ec));
        return {}; // a listener's shared socket: the error may be another peer's
      }
    }
    queue(m, to, to_size);
    return {};
  }

  // The slow-consumer policy for a socket whose buffer and queue are full.
  asio::awaitable<result<void>> send(message_view m, const sockaddr* to, socklen_t to_size) {
    if (auto ok = check(m); !ok) co_return ok;
    if (send_error) co_return fail(std::exchange(send_error, {}));
    while (!has_room(m.size())) {
      switch (opts().slow_consumer) {
      case slow_consumer_policy::drop_newest:
      case slow_consumer_policy::disconnect: co_return fail(errc::backpressure);
      case slow_consumer_policy::wait: break;
      }
      co_await room.wait();
      if (auto ok = check(m); !ok) co_return ok;
    }
    co_return enqueue(m, to, to_size);
  }

  // Flushes what is queued, waiting up to the close timeout for a full socket buffer.
  asio::awaitable<void> drain() {
    flush();
    auto deadline = clock::now() + opts().close_timeout;
    asio::steady_timer limit(socket.get_executor(), deadline);
    limit.async_wait([self = shared_from_this()](std::error_code ec) {
      if (!ec) self->room.notify_all();
    });
    while (!sender.empty() && socket.is_open() && clock::now() < deadline) co_await room.wait();
  }
};

void apply_socket_options(udp::socket& s, const options& o, std::error_code& ec) {
  if (o.receive_buffer_size > 0)
    s.set_option(asio::socket_base::receive_buffer_size(o.receive_buffer_size), ec);
  if (o.send_buffer_size > 0)
    s.set_option(asio::socket_base::send_buffer_size(o.send_buffer_size), ec);
  if (o.udp.broadcast) s.set_option(asio::socket_base::broadcast(true), ec);
  if (o.udp.tos >= 0) {
    int tos = o.udp.tos;
    bool v6 = s.local_endpoint(ec).address().is_v6();
    if (v6)
      ::setsockopt(s.native_handle(), IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof tos);
    else
      ::setsockopt(s.native_handle(), IPPROTO_IP, IP_TOS, &tos, sizeof tos);
  }
  s.non_blocking(true, ec);
}

// ---- client: a connected socket -------------------------------------------

class udp_client {
public:
  using executor_type = udp::socket::executor_type;

  explicit udp_client(udp::socket s, std::shared_ptr<const endpoint_config> c)
      : st_(std::make_shared<state>(std::move(s), std::move(c))) {}
  udp_client(udp_client&&) noexcept = default;
  udp_client& operator=(udp_client&&) noexcept = default;
  ~udp_client() {
    if (st_) st_->abort(); // the handle owns the socket
  }

  asio::awaitable<result<message_view>> receive() {
    auto timeout = st_->receive_timeout;
    if (timeout.count() > 0) return with_timeout(st_->receive(), timeout);
    return st_->receive();
  }
  asio::awaitable<result<void>> send(message_view m) { return st_->send(m, nullptr, 0); }
  result<void> try_send(message_view m) { return st_->try_send(m, nullptr, 0); }
  // A client reads one datagram at a time: nothing is ever buffered.
  result<message_view> try_receive() { return fail(errc::would_block); }
  asio::awaitable<result<void>> close(close_reason = {}) { return st_->close(); }
  void stop_receiving() { st_->stop_receiving(); }
  void abort() { st_->abort(); }
  const coronet::properties& properties() const { return st_->config->properties; }
  std::string remote() const { return st_->peer; }
  executor_type get_executor() { return st_->socket.get_executor(); }
  void set_receive_timeout(std::chrono::milliseconds timeout) { st_->receive_timeout = timeout; }
  const void* info(const std::type_info& type) const {
    return type == typeid(udp_info) ? &st_->details : nullptr;
  }

private:
  struct state : socket_state {
    udp_batch_receiver receiver; // one slot, read through Asio
    bool receiving_stopped = false;
    std::string peer;
    udp_info details;
    std::chrono::milliseconds receive_timeout = opts().receive_timeout;

    state(udp::socket s, std::shared_ptr<const endpoint_config> c)
        : socket_state(std::move(s), std::move(c)),
          // one slot: a client talks to one peer, and a slot is up to 64 KiB
          receiver(1, payload_limit(opts()), false) {
      std::error_code ec;
      auto ep = socket.remote_endpoint(ec);
      details.peer = ep;
      if (!ec)
        peer = (ep.address().is_v6() ? "[" + ep.address().to_string() + "]"
                                     : ep.address().to_string()) +
               ":" + std::to_string(ep.port());
    }

    asio::awaitable<result<message_view>> receive() {
      auto keep = shared_from_this();
      if (receiving_stopped || !socket.is_open()) co_return fail(errc::closed);
      if (flush_posted) flush(); // replies first, as in framed<>
      // Asio reads before it waits, so a datagram already there costs no wake-up.
      auto slot = receiver.slot(0);
      auto [ec, size] =
          co_await socket.async_receive(asio::buffer(slot.data(), slot.size()), use_tuple);
      if (ec) co_return fail(receiving_stopped ? errc::closed : map_udp_error(ec));
      may_send_now = true;
      if (size > receiver.max_datagram()) co_return fail(errc::message_too_large);
      co_return message_view(slot.first(size), message_kind::binary);
    }

    void stop_receiving() {
      receiving_stopped = true;
      std::error_code ec;
      socket.cancel(ec); // wakes a pending wait; a pending flush retries
      if (!sender.empty())
        asio::post(socket.get_executor(), [self = shared_from_this()] { self->flush(); });
    }

    asio::awaitable<result<void>> close() {
      auto keep = shared_from_this();
      receiving_stopped = true;
      co_await drain();
      bool drained = sender.empty();
      abort();
      if (!drained) co_return fail(errc::timeout);
      co_return result<void>{};
    }

    void abort() {
      receiving_stopped = true;
      std::error_code ec;
      socket.close(ec);
      room.notify_all();
    }

    std::shared_ptr<state> shared_from_this() {
      return std::static_pointer_cast<state>(socket_state::shared_from_this());
    }
  };
  std::shared_ptr<state> st_;
};

static_assert(message_endpoint<udp_client>);

// ---- server: one socket, a channel per peer ---------------------------------

// A peer address as a hash key (IPv4 as v4-mapped IPv6).
struct peer_key {
  std::array<unsigned char, 18> bytes{};
  bool operator==(const peer_key&) const = default;

  static peer_key of(const sockaddr_storage& a) {
    peer_key k;
    if (a.ss_family == AF_INET) {
      auto& in = reinterpret_cast<const sockaddr_in&>(a);
      k.bytes[10] = k.bytes[11] = 0xff;
      std::memcpy(&k.bytes[12], &in.sin_addr, 4);
      std::memcpy(&k.bytes[16], &in.sin_port, 2);
    } else if (a.ss_family == AF_INET6) {
      auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
      std::memcpy(&k.bytes[0], &in6.sin6_addr, 16);
      std::memcpy(&k.bytes[16], &in6.sin6_port, 2);
    }
    return k;
  }
};

struct peer_key_hash {
  std::size_t operator()(const peer_key& k) const noexcept {
    std::size_t h = 1469598103934665603ull;
    for (auto b : k.bytes) h = (h ^ b) * 1099511628211ull;
    return h;
  }
};

struct server_state;

struct peer_state {
  struct datagram {
    std::vector<std::byte> bytes;
    bool truncated = false;
  };

  std::shared_ptr<server_state> server;
  peer_key key;
  sockaddr_storage address{};
  socklen_t address_size = 0;
  udp_info details; // the address as Asio's endpoint
  std::chrono::milliseconds receive_timeout;
  std::deque<datagram> inbox;
  std::vector<std::vector<std::byte>> spare; // buffers to reuse
  std::vector<std::byte> current;            // what the last receive() returned
  handoff readable; // the reader resumes a waiting receive() on its own stack
  bool receiving_stopped = false, gone = false;
  bool waiting = false; // a receive() is waiting: try_receive() stays out
  clock::time_point last_seen = clock::now();

  peer_state(std::shared_ptr<server_state> s, const received_datagram& d);
  ~peer_state();

  void deliver(const received_datagram& d);
  result<message_view> take(); // the first datagram of the inbox (not empty)
  std::string remote() const;
};

struct server_state : socket_state {
  udp_batch_receiver receiver;
  std::unordered_map<peer_key, std::weak_ptr<peer_state>, peer_key_hash> peers;
  std::deque<std::shared_ptr<peer_state>> accept_queue;
  event accept_ready;
  bool accepting = true;
  asio::steady_timer sweep_timer;
  std::atomic<std::size_t> accepted{0}, refused{0}, dropped{0}, truncated{0};
  std::size_t received = 0, since_probe = 0;
  bool backlog = false;

  server_state(udp::socket s, std::shared_ptr<const endpoint_config> c)
      : socket_state(std::move(s), std::move(c)),
        receiver(opts().udp.batch_size, payload_limit(opts()), opts().udp.batching),
        accept_ready(socket.get_executor()), sweep_timer(socket.get_executor()) {
    report_send_errors = false;
  }

  std::shared_ptr<server_state> self() {
    return std::static_pointer_cast<server_state>(shared_from_this());
  }

  void start() {
    asio::co_spawn(socket.get_executor(), read_loop(self()), log_failures("a udp:// reader"));
    if (opts().udp.peer_idle_timeout.count() > 0)
      asio::co_spawn(socket.get_executor(), sweep_loop(self()),
                     log_failures("a udp:// idle sweep"));
  }

  // Hands each datagram to its peer, making new peers as they appear.  A
  // lone datagram is read through Asio, which reads before it waits; a busy
  // socket is drained with recvmmsg, and the replies to each batch leave in
  // one sendmmsg.  Ends when the socket is closed.
  static asio::awaitable<void> read_loop(std::shared_ptr<server_state> s) {
    udp::endpoint from;
    for (;;) {
      if (!s->socket.is_open()) co_return;
      auto slot = s->receiver.slot(0);
      auto [ec, size] = co_await s->socket.async_receive_from(
          asio::buffer(slot.data(), slot.size()), from, use_tuple);
      if (!s->socket.is_open()) co_return;
      if (ec) continue; // a stray ICMP error for some earlier datagram: not ours to report
      bool drain = s->worth_draining();
      s->defer_sends = drain; // then this reply joins the batch's
      s->may_send_now = true;
      s->dispatch(s->receiver.record(0, size, from.data(), static_cast<socklen_t>(from.size())));
      while (drain) {
        // Waiting handlers run inside dispatch() and queue their replies.
        auto n = s->receiver.receive(s->socket.native_handle(), ec);
        s->backlog = n > 0; // n == 0: would_block, or a stray error as above
        for (std::size_t i = 0; i < n; ++i) s->dispatch(s->receiver[i]);
        s->defer_sends = false;
        s->flush();
        if (n < s->receiver.slots() || !s->socket.is_open()) break;
        // A full batch: let the rest of this thread run before the next.
        co_await asio::post(s->socket.get_executor(), asio::use_awaitable);
        s->defer_sends = true;
      }
    }
  }

  // Whether more datagrams are likely waiting: always with several peers or
  // after a drain that found some; otherwise (one quiet peer) now and then,
  // so that a burst is noticed without an extra read per ping-pong datagram.
  bool worth_draining() {
    if (!opts().udp.batching) return false;
    return backlog || peers.size() > 1 || (++since_probe % 16) == 0;
  }

  void dispatch(const received_datagram& d) {
    ++received;
    if (opts().udp.drop_every && received % opts().udp.drop_every == 0) {
      dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    auto key = peer_key::of(d.from);
    if (auto it = peers.find(key); it != peers.end()) {
      if (auto p = it->second.lock(); p && !p->gone) {
        p->deliver(d);
        return;
      }
    }
    if (!accepting || peers.size() >= opts().udp.max_peers) {
      refused.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    auto p = std::make_shared<peer_state>(self(), d);
    peers[key] = p;
    p->deliver(d);
    accept_queue.push_back(std::move(p));
    accept_ready.notify_all();
  }

  static asio::awaitable<void> sweep_loop(std::shared_ptr<server_state> s) {
    std::weak_ptr<server_state> weak = s;
    auto idle = s->opts().udp.peer_idle_timeout;
    auto period = std::max<clock::duration>(idle / 4, std::chrono::milliseconds(5));
    s.reset(); // the sweep must not keep the socket alive
    for (;;) {
      auto live = weak.lock();
      if (!live || !live->socket.is_open()) co_return;
      live->sweep_timer.expires_after(period);
      auto& timer = live->sweep_timer;
      live.reset();
      auto [ec] = co_await timer.async_wait(use_tuple);
      live = weak.lock();
      if (ec || !live) co_return;
      auto now = clock::now();
      for (auto it = live->peers.begin(); it != live->peers.end();) {
        auto p = it->second.lock();
        if (p && now - p->last_seen >= idle) {
          p->gone = true;
          p->readable.notify(); // not inline: this loop is iterating the map
          it = live->peers.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  void forget(peer_state& p) {
    if (auto it = peers.find(p.key);
        it != peers.end() && (it->second.expired() || it->second.lock().get() == &p))
      peers.erase(it);
    maybe_finish();
  }

  // The socket closes once the listener is closed and no peer is left.
  void maybe_finish() {
    if (accepting || !peers.empty() || !socket.is_open()) return;
    flush();
    std::error_code ec;
    socket.close(ec);
    sweep_timer.cancel();
  }

  void stop_accepting() {
    accepting = false;
    accept_queue.clear(); // not accepted yet: their destructors forget them
    accept_ready.notify_all();
    maybe_finish();
  }
};

peer_state::peer_state(std::shared_ptr<server_state> s, const received_datagram& d)
    : server(std::move(s)), key(peer_key::of(d.from)), address_size(d.from_size),
      readable(server->socket.get_executor()) {
  std::memcpy(&address, &d.from, d.from_size);
  std::memcpy(details.peer.data(), &d.from, d.from_size);
  details.peer.resize(d.from_size);
  receive_timeout = server->opts().receive_timeout;
}

peer_state::~peer_state() { server->forget(*this); }

void peer_state::deliver(const received_datagram& d) {
  last_seen = clock::now();
  if (receiving_stopped) return;
  if (inbox.size() >= server->opts().udp.peer_queue) {
    server->dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::vector<std::byte> bytes;
  if (!spare.empty()) {
    bytes = std::move(spare.back());
    spare.pop_back();
  }
  bytes.assign(d.data.begin(), d.data.end());
  if (d.truncated) server->truncated.fetch_add(1, std::memory_order_relaxed);
  inbox.push_back({std::move(bytes), d.truncated});
  readable.resume_here();
}

result<message_view> peer_state::take() {
  if (!current.empty() || current.capacity()) spare.push_back(std::move(current));
  current = {};
  auto d = std::move(inbox.front());
  inbox.pop_front();
  if (d.truncated) {
    spare.push_back(std::move(d.bytes));
    return fail(errc::message_too_large);
  }
  current = std::move(d.bytes);
  return message_view(current, message_kind::binary);
}

std::string peer_state::remote() const {
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (address.ss_family == AF_INET) {
    auto& in = reinterpret_cast<const sockaddr_in&>(address);
    inet_ntop(AF_INET, &in.sin_addr, host, sizeof host);
    port = ntohs(in.sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  auto& in6 = reinterpret_cast<const sockaddr_in6&>(address);
  inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host);
  port = ntohs(in6.sin6_port);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

// The channel of one peer of a listener.
class udp_peer {
public:
  using executor_type = udp::socket::executor_type;

  explicit udp_peer(std::shared_ptr<peer_state> p) : p_(std::move(p)) {}

  asio::awaitable<result<message_view>> receive() {
    auto timeout = p_->receive_timeout;
    if (timeout.count() > 0) return with_timeout(receive_now(), timeout);
    return receive_now();
  }
  asio::awaitable<result<void>> send(message_view m) {
    if (p_->gone) return closed_now();
    return p_->server->send(m, reinterpret_cast<const sockaddr*>(&p_->address), p_->address_size);
  }
  result<message_view> try_receive() {
    auto& p = *p_;
    if (p.waiting || p.receiving_stopped || p.gone || p.inbox.empty())
      return fail(errc::would_block);
    return p.take();
  }
  result<void> try_send(message_view m) {
    if (p_->gone) return fail(errc::closed);
    return p_->server->try_send(m, reinterpret_cast<const sockaddr*>(&p_->address),
                                p_->address_size);
  }
  asio::awaitable<result<void>> close(close_reason = {}) {
    auto p = p_;
    stop_receiving();
    p->gone = true;
    co_await p->server->drain();
    p->server->forget(*p);
    co_return result<void>{};
  }
  void stop_receiving() {
    p_->receiving_stopped = true;
    p_->readable.notify();
  }
  void abort() {
    stop_receiving();
    p_->gone = true;
    p_->server->forget(*p_);
  }
  const coronet::properties& properties() const { return p_->server->config->properties; }
  std::string remote() const { return p_->remote(); }
  executor_type get_executor() { return p_->server->socket.get_executor(); }
  void set_receive_timeout(std::chrono::milliseconds timeout) { p_->receive_timeout = timeout; }
  const void* info(const std::type_info& type) const {
    return type == typeid(udp_info) ? &p_->details : nullptr;
  }

private:
  static asio::awaitable<result<void>> closed_now() { co_return fail(errc::closed); }

  asio::awaitable<result<message_view>> receive_now() {
    auto p = p_;
    struct waiting_mark {
      bool& flag;
      explicit waiting_mark(bool& f) : flag(f) { flag = true; }
      ~waiting_mark() { flag = false; }
    } mark(p->waiting); // try_receive() stays out meanwhile
    for (;;) {
      if (p->receiving_stopped || p->gone) co_return fail(errc::closed);
      if (!p->inbox.empty()) co_return p->take();
      // No flush here: the posted flush runs as soon as the handlers of this
      // batch are waiting, so their replies leave in one sendmmsg.
      co_await p->readable.wait();
    }
  }

  std::shared_ptr<peer_state> p_;
};

static_assert(message_endpoint<udp_peer>);

class udp_listener final : public listener::acceptor {
public:
  explicit udp_listener(std::shared_ptr<server_state> s) : s_(std::move(s)) {
    std::error_code ec;
    port_ = s_->socket.local_endpoint(ec).port();
    s_->start();
  }
  ~udp_listener() override { close(); }

  asio::awaitable<result<channel>> accept() override {
    auto s = s_;
    for (;;) {
      if (!s->accepting) co_return fail(errc::closed);
      if (!s->accept_queue.empty()) {
        auto p = std::move(s->accept_queue.front());
        s->accept_queue.pop_front();
        s->accepted.fetch_add(1, std::memory_order_relaxed);
        co_return channel(udp_peer(std::move(p)));
      }
      co_await s->accept_ready.wait();
    }
  }
  std::uint16_t port() const override { return port_; }
  void close() override {
    if (closed_) return;
    closed_ = true;
    // close() may be called from another thread than the socket's: stop there.
    asio::post(s_->socket.get_executor(), [s = s_] { s->stop_accepting(); });
  }
  listener_stats stats() const override {
    return {s_->accepted.load(), s_->refused.load(), s_->dropped.load(), s_->truncated.load()};
  }

private:
  std::shared_ptr<server_state> s_;
  std::uint16_t port_ = 0;
  bool closed_ = false;
};

asio::awaitable<result<channel>> connect_udp(url u, options o) {
  auto ex = co_await asio::this_coro::executor;
  udp::resolver resolver(ex);
  auto resolve = [&]() -> asio::awaitable<result<udp::resolver::results_type>> {
    auto [ec, found] = co_await resolver.async_resolve(u.host, std::to_string(u.port),
                                                       udp::resolver::numeric_service, use_tuple);
    if (ec || found.empty()) co_return fail(errc::resolve_failed);
    co_return found;
  };
  // (no co_await inside ?: — GCC 12 miscompiles it)
  result<udp::resolver::results_type> found;
  if (o.connect_timeout.count() > 0)
    found = co_await with_timeout(resolve(), o.connect_timeout);
  else
    found = co_await resolve();
  if (!found) co_return fail(found.error());
  udp::endpoint target = *found->begin();
  udp::socket socket(ex);
  std::error_code ec;
  socket.open(target.protocol(), ec);
  if (ec) co_return fail(ec);
  socket.connect(target, ec); // no packet: only sets the peer filter
  if (ec) co_return fail(ec);
  apply_socket_options(socket, o, ec);
  co_return channel(udp_client(std::move(socket), make_endpoint_config(u, o)));
}

result<listener> listen_udp(asio::any_io_executor ex, const url& u, const options& o) {
  std::error_code ec;
  auto address = listen_address(ex, u.host);
  if (!address) return fail(address.error());
  udp::endpoint endpoint(*address, u.port);
  udp::socket socket(ex);
  socket.open(endpoint.protocol(), ec);
  if (ec) return fail(ec);
  if (auto e = prepare_to_bind(socket, *address, o.reuse_port)) return fail(e);
  socket.bind(endpoint, ec);
  if (ec) return fail(ec);
  apply_socket_options(socket, o, ec);
  if (!o.udp.multicast_group.is_unspecified()) {
    auto group = o.udp.multicast_group;
    if (!group.is_multicast()) return fail(errc::invalid_argument);
    if (group.is_v4() && !o.udp.multicast_interface.is_unspecified())
      socket.set_option(asio::ip::multicast::join_group(group.to_v4(), o.udp.multicast_interface),
                        ec);
    else
      socket.set_option(asio::ip::multicast::join_group(group), ec);
    if (ec) return fail(ec);
    socket.set_option(asio::ip::multicast::enable_loopback(o.udp.multicast_loopback), ec);
  }
  auto state = std::make_shared<server_state>(std::move(socket), make_endpoint_config(u, o));
  return listener(std::make_unique<udp_listener>(std::move(state)));
}

} // namespace

void register_udp() {
  (void)register_transport({
      .scheme = "udp",
      .connect = connect_udp,
      .listen = listen_udp,
      .properties = udp_properties,
  });
}

} // namespace coronet::transports
