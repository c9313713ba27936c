// datagram_socket and datagram_demux (<coronet/transport/datagram_demux.hpp>):
// the UDP socket, its send batch and the peer demultiplexer that udp://
// listeners, and other transports over datagrams, are made of.
#include "udp_batch.hpp"

#include <coronet/error.hpp>
#include <coronet/log.hpp>
#include <coronet/transport/datagram_demux.hpp>
#include <coronet/transport/listen_address.hpp>
#include <coronet/transport/socket_io.hpp>

#include <asio/co_spawn.hpp>
#include <asio/ip/multicast.hpp>
#include <asio/post.hpp>

#include <netinet/in.h>
#include <netinet/ip.h>

#include <array>
#include <cstring>
#include <unordered_map>
#include <vector>

namespace coronet {
namespace {

using clock = std::chrono::steady_clock;
using detail::use_tuple;

void apply_socket_options(asio::ip::udp::socket& s, const options& o) {
  std::error_code ec;
  if (o.receive_buffer_size > 0)
    s.set_option(asio::socket_base::receive_buffer_size(o.receive_buffer_size), ec);
  if (o.send_buffer_size > 0)
    s.set_option(asio::socket_base::send_buffer_size(o.send_buffer_size), ec);
  if (o.udp.broadcast) s.set_option(asio::socket_base::broadcast(true), ec);
  if (o.udp.tos >= 0) {
    int tos = o.udp.tos;
    if (s.local_endpoint(ec).address().is_v6())
      ::setsockopt(s.native_handle(), IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof tos);
    else
      ::setsockopt(s.native_handle(), IPPROTO_IP, IP_TOS, &tos, sizeof tos);
  }
  s.non_blocking(true, ec);
}

// A peer address as a hash key (IPv4 as v4-mapped IPv6).
struct peer_key {
  std::array<unsigned char, 18> bytes{};
  bool operator==(const peer_key&) const = default;

  static peer_key of(const asio::ip::udp::endpoint& e) {
    peer_key k;
    auto* a = e.data();
    if (a->sa_family == AF_INET) {
      auto& in = reinterpret_cast<const sockaddr_in&>(*a);
      k.bytes[10] = k.bytes[11] = 0xff;
      std::memcpy(&k.bytes[12], &in.sin_addr, 4);
      std::memcpy(&k.bytes[16], &in.sin_port, 2);
    } else if (a->sa_family == AF_INET6) {
      auto& in6 = reinterpret_cast<const sockaddr_in6&>(*a);
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

asio::ip::udp::endpoint endpoint_of(const sockaddr_storage& a, socklen_t size) {
  asio::ip::udp::endpoint e;
  std::memcpy(e.data(), &a, size);
  e.resize(size);
  return e;
}

} // namespace

// ---- datagram_socket --------------------------------------------------------

std::error_code datagram_socket::error_of(std::error_code ec) {
  // Asio reports errno values in its own system category, our syscalls in std's.
  if (ec == std::errc::connection_refused || ec == asio::error::connection_refused)
    return errc::connection_refused;
  if (ec == std::errc::message_size || ec == asio::error::message_size)
    return errc::message_too_large;
  return detail::normalize_stream_error(ec);
}

datagram_socket::datagram_socket(asio::ip::udp::socket s, std::shared_ptr<const endpoint_config> c)
    : socket_(std::move(s)), config_(std::move(c)),
      sender_(std::make_unique<detail::udp_batch_sender>(config_->options.udp.batching,
                                                         config_->options.udp.batch_size)),
      room_(socket_.get_executor()) {
  apply_socket_options(socket_, opts());
}

datagram_socket::~datagram_socket() = default;

std::size_t datagram_socket::max_datagram() const {
  return std::min(opts().max_message, max_udp_payload);
}

result<void> datagram_socket::check(std::span<const std::byte> data) const {
  if (data.size() > max_datagram()) return fail(errc::message_too_large);
  if (!socket_.is_open()) return fail(errc::closed);
  return {};
}

bool datagram_socket::has_room(std::size_t n) const {
  return sender_->empty() || sender_->queued_bytes() + n <= opts().send_queue_limit;
}

void datagram_socket::queue(std::span<const std::byte> data, const endpoint* to) {
  sender_->add(data, to ? to->data() : nullptr, to ? static_cast<socklen_t>(to->size()) : 0);
  if (flush_posted_ || waiting_writable_ || defer_sends_) return; // (the reader flushes those)
  flush_posted_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
  });
}

void datagram_socket::flush() {
  if (waiting_writable_ || sender_->empty() || !socket_.is_open()) return;
  for (;;) {
    auto ec = sender_->flush(socket_.native_handle());
    if (!ec) break;
    if (ec == asio::error::would_block) {
      waiting_writable_ = true;
      socket_.async_wait(asio::ip::udp::socket::wait_write,
                         [self = shared_from_this()](std::error_code e) {
                           self->waiting_writable_ = false;
                           if (!e) self->flush();
                           self->room_.notify_all();
                         });
      return;
    }
    // That datagram is dropped; go on with the rest.  A connected socket
    // reports the error (ICMP refused); a shared one drops it (above).
    if (report_send_errors_) send_error_ = error_of(ec);
  }
  room_.notify_all();
}

result<void> datagram_socket::enqueue(std::span<const std::byte> data, const endpoint* to) {
  if (std::exchange(may_send_now_, false) && !defer_sends_ && sender_->empty() &&
      !waiting_writable_) {
    auto ec =
        detail::udp_batch_sender::send_one(socket_.native_handle(), data, to ? to->data() : nullptr,
                                           to ? static_cast<socklen_t>(to->size()) : 0);
    if (!ec) return {};
    if (ec != asio::error::would_block) {
      if (report_send_errors_) return fail(error_of(ec));
      return {}; // a shared socket: the error may be another peer's
    }
  }
  queue(data, to);
  return {};
}

result<void> datagram_socket::try_send(std::span<const std::byte> data, const endpoint* to) {
  if (auto ok = check(data); !ok) return ok;
  if (send_error_) return fail(std::exchange(send_error_, {}));
  if (!has_room(data.size())) return fail(errc::backpressure);
  return enqueue(data, to);
}

asio::awaitable<result<void>> datagram_socket::send(std::span<const std::byte> data,
                                                    const endpoint* to) {
  if (auto ok = check(data); !ok) co_return ok;
  if (send_error_) co_return fail(std::exchange(send_error_, {}));
  if (!has_room(data.size())) {
    auto keep = shared_from_this(); // the owner may go while we wait
    while (!has_room(data.size())) {
      switch (opts().slow_consumer) {
      case slow_consumer_policy::drop_newest:
      case slow_consumer_policy::drop_oldest:
      case slow_consumer_policy::disconnect: co_return fail(errc::backpressure);
      case slow_consumer_policy::wait: break;
      }
      co_await room_.wait();
      if (auto ok = check(data); !ok) co_return ok;
    }
  }
  co_return enqueue(data, to);
}

asio::awaitable<bool> datagram_socket::drain() {
  auto keep = shared_from_this();
  flush();
  auto deadline = clock::now() + opts().close_timeout;
  asio::steady_timer limit(socket_.get_executor(), deadline);
  limit.async_wait([keep](std::error_code ec) {
    if (!ec) keep->room_.notify_all();
  });
  while (!sender_->empty() && socket_.is_open() && clock::now() < deadline) co_await room_.wait();
  co_return sender_->empty();
}

void datagram_socket::close() {
  std::error_code ec;
  socket_.close(ec);
  room_.notify_all();
}

// ---- datagram_peer ------------------------------------------------------------

datagram_peer::datagram_peer(std::shared_ptr<datagram_demux> demux,
                             const asio::ip::udp::endpoint& address)
    : demux_(std::move(demux)), address_(address) {}

datagram_peer::~datagram_peer() { demux_->forget(*this); }

std::string datagram_peer::remote() const {
  return address_text(address_.address(), address_.port());
}

// ---- datagram_demux ----------------------------------------------------------

struct datagram_demux::peer_map {
  std::unordered_map<peer_key, std::weak_ptr<datagram_peer>, peer_key_hash> map;
};

datagram_demux::datagram_demux(asio::ip::udp::socket s, std::shared_ptr<const endpoint_config> c,
                               peer_factory make_peer)
    : datagram_socket(std::move(s), std::move(c)), make_peer_(std::move(make_peer)),
      receiver_(std::make_unique<detail::udp_batch_receiver>(opts().udp.batch_size, max_datagram(),
                                                             opts().udp.batching)),
      peers_(std::make_unique<peer_map>()), sweep_timer_(socket().get_executor()) {
  report_send_errors_ = false;
  std::error_code ec;
  port_ = socket().local_endpoint(ec).port();
}

datagram_demux::~datagram_demux() = default;

result<std::shared_ptr<datagram_demux>>
datagram_demux::open(asio::any_io_executor ex, const url& u,
                     std::shared_ptr<const endpoint_config> config, peer_factory make_peer) {
  auto& o = config->options;
  auto address = listen_address(ex, u.host);
  if (!address) return fail(address.error());
  asio::ip::udp::endpoint endpoint(*address, u.port);
  asio::ip::udp::socket socket(ex);
  std::error_code ec;
  socket.open(endpoint.protocol(), ec);
  if (ec) return fail(ec);
  if (auto e = prepare_to_bind(socket, *address, o.reuse_port)) return fail(e);
  socket.bind(endpoint, ec);
  if (ec) return fail(ec);
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
  return std::make_shared<datagram_demux>(std::move(socket), std::move(config),
                                          std::move(make_peer));
}

std::shared_ptr<datagram_demux> datagram_demux::self() {
  return std::static_pointer_cast<datagram_demux>(shared_from_this());
}

void datagram_demux::start() {
  auto ex = socket().get_executor();
  asio::co_spawn(ex, read_loop(self()), log_failures("a datagram reader"));
  if (opts().udp.peer_idle_timeout.count() > 0)
    asio::co_spawn(ex, sweep_loop(self()), log_failures("a datagram idle sweep"));
}

// Hands each datagram to its peer, making new peers as they appear.  A lone
// datagram is read through Asio, which reads before it waits; a busy socket
// is drained with recvmmsg, and the replies to each batch leave in one
// sendmmsg.  Ends when the socket is closed.
asio::awaitable<void> datagram_demux::read_loop(std::shared_ptr<datagram_demux> s) {
  endpoint from;
  for (;;) {
    if (!s->socket().is_open()) co_return;
    auto slot = s->receiver_->slot(0);
    auto [ec, size] = co_await s->socket().async_receive_from(
        asio::buffer(slot.data(), slot.size()), from, use_tuple);
    if (!s->socket().is_open()) co_return;
    if (ec) continue; // a stray ICMP error for some earlier datagram: not ours to report
    bool drain = s->worth_draining();
    s->defer_sends_ = drain; // then this reply joins the batch's
    s->received();
    auto n = std::min(size, s->max_datagram());
    s->dispatch(slot.first(n), size > s->max_datagram(), from);
    while (drain) {
      // Waiting handlers run inside dispatch() and queue their replies.
      auto got = s->receiver_->receive(s->socket().native_handle(), ec);
      s->backlog_ = got > 0; // got == 0: would_block, or a stray error as above
      for (std::size_t i = 0; i < got; ++i) {
        auto& d = (*s->receiver_)[i];
        s->dispatch(d.data, d.truncated, endpoint_of(d.from, d.from_size));
      }
      s->defer_sends_ = false;
      s->flush();
      if (got < s->receiver_->slots() || !s->socket().is_open()) break;
      // A full batch: let the rest of this thread run before the next.
      co_await asio::post(s->socket().get_executor(), asio::use_awaitable);
      s->defer_sends_ = true;
    }
  }
}

// Whether more datagrams are likely waiting: always with several peers or
// after a drain that found some; otherwise (one quiet peer) now and then, so
// that a burst is noticed without an extra read per ping-pong datagram.
bool datagram_demux::worth_draining() {
  if (!opts().udp.batching) return false;
  return backlog_ || peers_->map.size() > 1 || (++since_probe_ % 16) == 0;
}

void datagram_demux::dispatch(std::span<const std::byte> data, bool truncated,
                              const endpoint& from) {
  ++received_;
  if (opts().udp.drop_every && received_ % opts().udp.drop_every == 0) {
    count_dropped();
    return;
  }
  if (truncated) truncated_.fetch_add(1, std::memory_order_relaxed);
  auto key = peer_key::of(from);
  if (auto it = peers_->map.find(key); it != peers_->map.end()) {
    if (auto p = it->second.lock(); p && !p->retired_) {
      p->last_seen_ = clock::now();
      p->on_datagram(data, truncated);
      return;
    }
  }
  if (!accepting_ || peers_->map.size() >= opts().udp.max_peers) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto p = make_peer_(*this, from, data);
  if (!p) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  peers_->map[key] = p;
  p->on_datagram(data, truncated);
}

asio::awaitable<void> datagram_demux::sweep_loop(std::shared_ptr<datagram_demux> s) {
  std::weak_ptr<datagram_demux> weak = s;
  auto idle = s->opts().udp.peer_idle_timeout;
  auto period = std::max<clock::duration>(idle / 4, std::chrono::milliseconds(5));
  s.reset(); // the sweep must not keep the socket alive
  std::vector<std::shared_ptr<datagram_peer>> gone;
  for (;;) {
    auto live = weak.lock();
    if (!live || !live->socket().is_open()) co_return;
    live->sweep_timer_.expires_after(period);
    auto& timer = live->sweep_timer_;
    live.reset();
    auto [ec] = co_await timer.async_wait(use_tuple);
    live = weak.lock();
    if (ec || !live) co_return;
    auto now = clock::now();
    auto& map = live->peers_->map;
    for (auto it = map.begin(); it != map.end();) {
      auto p = it->second.lock();
      if (p && now - p->last_seen_ >= idle) {
        p->retired_ = true;
        gone.push_back(std::move(p));
        it = map.erase(it);
      } else {
        ++it;
      }
    }
    // (Not while iterating: on_idle() may close the peer, which forgets it.)
    for (auto& p : gone) p->on_idle();
    gone.clear();
  }
}

void datagram_demux::forget(datagram_peer& p) {
  auto& map = peers_->map;
  if (auto it = map.find(peer_key::of(p.address()));
      it != map.end() && (it->second.expired() || it->second.lock().get() == &p))
    map.erase(it);
  maybe_finish();
}

std::size_t datagram_demux::peers() const { return peers_->map.size(); }

// The socket closes once no new peer is accepted and no peer is left.
void datagram_demux::maybe_finish() {
  if (accepting_ || !peers_->map.empty() || !socket().is_open()) return;
  flush();
  close();
  sweep_timer_.cancel();
}

void datagram_demux::stop_accepting() {
  // (It may be called from another thread than the socket's: stop there.)
  asio::post(socket().get_executor(), [s = self()] {
    s->accepting_ = false;
    s->maybe_finish();
  });
}

listener_stats datagram_demux::stats() const {
  return {accepted_.load(), refused_.load(), dropped_.load(), truncated_.load()};
}

} // namespace coronet
