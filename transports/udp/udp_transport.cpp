// udp:// as channels: a connected client socket, and a listener whose
// datagram_demux hands out a channel per peer address.  See <coronet/udp.hpp>.
//
// Everything here runs on the executor of the socket it belongs to: peers of
// one listener share its thread and its send batch, so the replies a handler
// queues in one turn leave in one sendmmsg.
#include <coronet/detail/event.hpp>
#include <coronet/error.hpp>
#include <coronet/timeout.hpp>
#include <coronet/transport/datagram_demux.hpp>
#include <coronet/transport/handoff.hpp>
#include <coronet/transport/registry.hpp>
#include <coronet/transport/socket_io.hpp>
#include <coronet/udp.hpp>

#include <asio/post.hpp>
#include <asio/this_coro.hpp>

#include <deque>
#include <vector>

namespace coronet::transports {
namespace {

using udp = asio::ip::udp;
using detail::use_tuple;

properties udp_properties(const options& o) {
  return {.reliable = false,
          .ordered = false,
          .preserves_boundaries = true,
          .encrypted = false,
          .max_message_size = std::min(o.max_message, max_udp_payload)};
}

// ---- client: a connected socket ---------------------------------------------

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
  asio::awaitable<result<void>> send(message_view m) { return st_->send(m.data, nullptr); }
  result<void> try_send(message_view m) { return st_->try_send(m.data, nullptr); }
  // A client reads one datagram at a time: nothing is ever buffered.
  result<message_view> try_receive() { return fail(errc::would_block); }
  asio::awaitable<result<void>> close(close_reason = {}) { return st_->close_gracefully(); }
  void set_receive_timeout(std::chrono::milliseconds timeout) { st_->receive_timeout = timeout; }
  void stop_receiving() { st_->stop_receiving(); }
  void abort() { st_->abort(); }
  const coronet::properties& properties() const { return st_->config()->properties; }
  std::string remote() const {
    return address_text(st_->details.peer.address(), st_->details.peer.port());
  }
  executor_type get_executor() { return st_->socket().get_executor(); }
  const void* info(const std::type_info& type) const {
    return type == typeid(udp_info) ? &st_->details : nullptr;
  }

private:
  struct state : datagram_socket {
    // One datagram at a time, one byte beyond the limit to tell one too large.
    std::unique_ptr<std::byte[]> buffer;
    bool receiving_stopped = false;
    udp_info details;
    std::chrono::milliseconds receive_timeout = opts().receive_timeout;

    state(udp::socket s, std::shared_ptr<const endpoint_config> c)
        : datagram_socket(std::move(s), std::move(c)), buffer(new std::byte[max_datagram() + 1]) {
      std::error_code ec;
      details.peer = socket().remote_endpoint(ec);
    }

    asio::awaitable<result<message_view>> receive() {
      auto keep = shared_from_this();
      if (receiving_stopped || !socket().is_open()) co_return fail(errc::closed);
      flush(); // replies first, as in framed<>
      // Asio reads before it waits, so a datagram already there costs no wake-up.
      auto [ec, size] = co_await socket().async_receive(
          asio::buffer(buffer.get(), max_datagram() + 1), use_tuple);
      if (ec) co_return fail(receiving_stopped ? errc::closed : error_of(ec));
      received();
      if (size > max_datagram()) co_return fail(errc::message_too_large);
      co_return message_view({buffer.get(), size}, message_kind::binary);
    }

    void stop_receiving() {
      receiving_stopped = true;
      std::error_code ec;
      socket().cancel(ec); // wakes a pending wait; a pending flush retries
      asio::post(socket().get_executor(), [self = shared_from_this()] { self->flush(); });
    }

    asio::awaitable<result<void>> close_gracefully() {
      auto keep = shared_from_this();
      receiving_stopped = true;
      bool drained = co_await drain();
      abort();
      if (!drained) co_return fail(errc::timeout);
      co_return result<void>{};
    }

    void abort() {
      receiving_stopped = true;
      close();
    }
  };
  std::shared_ptr<state> st_;
};

static_assert(message_endpoint<udp_client>);

asio::awaitable<result<channel>> connect_udp(url u, options o) {
  auto ex = co_await asio::this_coro::executor;
  udp::resolver resolver(ex);
  auto resolve = [&]() -> asio::awaitable<result<udp::resolver::results_type>> {
    auto [ec, found] = co_await resolver.async_resolve(u.host, std::to_string(u.port),
                                                       udp::resolver::numeric_service, use_tuple);
    if (ec || found.empty()) co_return fail(errc::resolve_failed);
    co_return found;
  };
  auto found = co_await with_timeout(resolve(), o.connect_timeout);
  if (!found) co_return fail(found.error());
  udp::endpoint target = *found->begin();
  udp::socket socket(ex);
  std::error_code ec;
  socket.open(target.protocol(), ec);
  if (ec) co_return fail(ec);
  socket.connect(target, ec); // no packet: only sets the peer filter
  if (ec) co_return fail(ec);
  co_return channel(udp_client(std::move(socket), make_endpoint_config(u, o)));
}

// ---- listener: a channel per peer of a datagram_demux --------------------------

// A peer's datagrams, queued until its channel receives them.
struct peer_state final : datagram_peer {
  struct datagram {
    std::vector<std::byte> bytes;
    bool truncated = false;
  };

  std::deque<datagram> inbox;
  std::vector<std::vector<std::byte>> spare; // buffers to reuse
  std::vector<std::byte> current;            // what the last receive() returned
  handoff readable; // the reader resumes a waiting receive() on its own stack
  bool receiving_stopped = false;
  bool waiting = false; // a receive() is waiting: try_receive() stays out
  udp_info details;
  std::chrono::milliseconds receive_timeout;

  peer_state(std::shared_ptr<datagram_demux> d, const udp::endpoint& from)
      : datagram_peer(std::move(d), from), readable(demux().socket().get_executor()), details{from},
        receive_timeout(demux().opts().receive_timeout) {}

  void on_datagram(std::span<const std::byte> data, bool truncated) override {
    if (receiving_stopped) return;
    if (inbox.size() >= demux().opts().udp.peer_queue) {
      demux().count_dropped();
      return;
    }
    std::vector<std::byte> bytes;
    if (!spare.empty()) {
      bytes = std::move(spare.back());
      spare.pop_back();
    }
    bytes.assign(data.begin(), data.end());
    inbox.push_back({std::move(bytes), truncated});
    readable.resume_here();
  }

  void on_idle() override { readable.notify(); }

  result<message_view> take() { // the first datagram of the inbox (not empty)
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
};

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
    if (p_->retired()) return closed_now();
    return p_->demux().send(m.data, &p_->address());
  }
  result<message_view> try_receive() {
    auto& p = *p_;
    if (p.waiting || p.receiving_stopped || p.retired() || p.inbox.empty())
      return fail(errc::would_block);
    return p.take();
  }
  result<void> try_send(message_view m) {
    if (p_->retired()) return fail(errc::closed);
    return p_->demux().try_send(m.data, &p_->address());
  }
  asio::awaitable<result<void>> close(close_reason = {}) {
    auto p = p_;
    stop_receiving();
    p->retire();
    co_await p->demux().drain();
    p->demux().forget(*p);
    co_return result<void>{};
  }
  void set_receive_timeout(std::chrono::milliseconds timeout) { p_->receive_timeout = timeout; }
  void stop_receiving() {
    p_->receiving_stopped = true;
    p_->readable.notify();
  }
  void abort() {
    stop_receiving();
    p_->retire();
    p_->demux().forget(*p_);
  }
  const coronet::properties& properties() const { return p_->demux().config()->properties; }
  std::string remote() const { return p_->remote(); }
  executor_type get_executor() { return p_->demux().socket().get_executor(); }
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
      if (p->receiving_stopped || p->retired()) co_return fail(errc::closed);
      if (!p->inbox.empty()) co_return p->take();
      // No flush here: the posted flush runs as soon as the handlers of this
      // batch are waiting, so their replies leave in one sendmmsg.
      co_await p->readable.wait();
    }
  }

  std::shared_ptr<peer_state> p_;
};

static_assert(message_endpoint<udp_peer>);

// New peers wait here for accept(); on the socket's thread.
struct accept_queue {
  std::deque<std::shared_ptr<peer_state>> peers;
  detail::event ready;
  bool accepting = true;
  explicit accept_queue(const asio::any_io_executor& ex) : ready(ex) {}
};

class udp_listener final : public listener::acceptor {
public:
  udp_listener(std::shared_ptr<datagram_demux> d, std::shared_ptr<accept_queue> q)
      : demux_(std::move(d)), queue_(std::move(q)) {
    demux_->start();
  }
  ~udp_listener() override { close(); }

  asio::awaitable<result<channel>> accept() override {
    auto q = queue_;
    auto d = demux_;
    for (;;) {
      if (!q->accepting) co_return fail(errc::closed);
      if (!q->peers.empty()) {
        auto p = std::move(q->peers.front());
        q->peers.pop_front();
        d->count_accepted();
        co_return channel(udp_peer(std::move(p)));
      }
      co_await q->ready.wait();
    }
  }
  std::uint16_t port() const override { return demux_->port(); }
  void close() override {
    if (closed_) return;
    closed_ = true;
    // close() may be called from another thread than the socket's: stop there.
    asio::post(demux_->socket().get_executor(), [q = queue_, d = demux_] {
      q->accepting = false;
      q->peers.clear(); // not accepted yet: their destructors forget them
      q->ready.notify_all();
      d->stop_accepting();
    });
  }
  listener_stats stats() const override { return demux_->stats(); }

private:
  std::shared_ptr<datagram_demux> demux_;
  std::shared_ptr<accept_queue> queue_;
  bool closed_ = false;
};

result<listener> listen_udp(asio::any_io_executor ex, const url& u, const options& o) {
  auto queue = std::make_shared<accept_queue>(ex);
  auto demux =
      datagram_demux::open(ex, u, make_endpoint_config(u, o),
                           [weak = std::weak_ptr<accept_queue>(queue)](
                               datagram_demux& d, const udp::endpoint& from,
                               std::span<const std::byte>) -> std::shared_ptr<datagram_peer> {
                             auto q = weak.lock();
                             if (!q || !q->accepting) return nullptr;
                             auto p = std::make_shared<peer_state>(d.self(), from);
                             q->peers.push_back(p);
                             q->ready.notify_all();
                             return p;
                           });
  if (!demux) return fail(demux.error());
  return listener(std::make_unique<udp_listener>(std::move(*demux), std::move(queue)));
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
