// For transport authors: one UDP socket shared by many peers, as udp://
// listeners use it and a transport with a protocol of its own over
// datagrams (reliable UDP, say) can.
//
// datagram_socket: a UDP socket and its send queue.  The datagrams queued in
// one turn of the event loop leave in one sendmmsg; the first one sent after
// each datagram received leaves at once, so a ping-pong reply waits for
// nothing.  The queue is bounded by options::send_queue_limit and
// options::slow_consumer applies, as for every endpoint.
//
// datagram_demux: a bound datagram_socket that reads (a lone datagram with a
// speculative read, a backlog with recvmmsg, options::udp.batching) and hands
// each datagram to the peer of its sender's address.  The first datagram from
// a new address goes to the peer factory, which makes the peer or refuses it;
// at most options::udp.max_peers peers are kept, and one silent for
// options::udp.peer_idle_timeout is dropped (on_idle()).  The socket closes
// once stop_accepting() was called and the last peer is gone.
//
//   auto demux = coronet::datagram_demux::open(ex, u, config,
//       [](coronet::datagram_demux& d, const asio::ip::udp::endpoint& from,
//          std::span<const std::byte> first) -> std::shared_ptr<coronet::datagram_peer> {
//         if (!verified(first)) return nullptr;  // refused (counted), or answer statelessly
//         return std::make_shared<my_peer>(d.self(), from);
//       });
//   (*demux)->start();
//
// Everything runs on the socket's executor: not thread-safe.
#pragma once

#include <coronet/detail/event.hpp>
#include <coronet/listener.hpp>
#include <coronet/options.hpp>
#include <coronet/result.hpp>
#include <coronet/udp.hpp>
#include <coronet/url.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>

namespace coronet {

namespace detail {
class udp_batch_sender;
class udp_batch_receiver;
} // namespace detail

class datagram_socket : public std::enable_shared_from_this<datagram_socket> {
public:
  using endpoint = asio::ip::udp::endpoint;

  /// `s` is open, and bound or connected; options::udp's socket options
  /// (buffers, broadcast, TOS) are applied and it is made non-blocking.
  datagram_socket(asio::ip::udp::socket s, std::shared_ptr<const endpoint_config> c);
  virtual ~datagram_socket();
  datagram_socket(const datagram_socket&) = delete;
  datagram_socket& operator=(const datagram_socket&) = delete;

  asio::ip::udp::socket& socket() { return socket_; }
  const std::shared_ptr<const endpoint_config>& config() const { return config_; }
  const options& opts() const { return config_->options; }
  /// The largest payload sent or received: options::max_message, at most max_udp_payload.
  std::size_t max_datagram() const;

  /// Queues `data` for `to` (nullptr: the connected peer) or fails at once:
  /// errc::message_too_large over max_datagram(), errc::closed once the
  /// socket is closed, errc::backpressure with a full queue, or (connected
  /// sockets) the error an earlier datagram met, such as
  /// errc::connection_refused after an ICMP port unreachable.
  result<void> try_send(std::span<const std::byte> data, const endpoint* to);
  /// As try_send(), waiting for room when options::slow_consumer says wait.
  asio::awaitable<result<void>> send(std::span<const std::byte> data, const endpoint* to);
  /// Writes what is queued, waiting up to options::close_timeout for room
  /// in the socket buffer; true if nothing is left.
  asio::awaitable<bool> drain();
  /// Writes what the socket buffer takes now.
  void flush();
  /// A datagram was received: the next one sent leaves at once.
  void received() { may_send_now_ = true; }
  /// Closes the socket; queued datagrams are dropped.
  void close();
  /// What a failed receive or send on the socket means to a channel:
  /// errc::connection_refused (an ICMP port unreachable on a connected
  /// socket), errc::message_too_large, errc::closed, or the system error.
  static std::error_code error_of(std::error_code ec);

protected:
  /// A shared socket (a demux) drops a failed datagram silently: the error
  /// may be another peer's.  A connected one reports it by the next send.
  bool report_send_errors_ = true;
  /// While set, sends are queued for the next flush (a batch's replies).
  bool defer_sends_ = false;

private:
  bool has_room(std::size_t n) const;
  result<void> check(std::span<const std::byte> data) const;
  result<void> enqueue(std::span<const std::byte> data, const endpoint* to);
  void queue(std::span<const std::byte> data, const endpoint* to);

  asio::ip::udp::socket socket_;
  std::shared_ptr<const endpoint_config> config_;
  std::unique_ptr<detail::udp_batch_sender> sender_;
  bool flush_posted_ = false, waiting_writable_ = false, may_send_now_ = true;
  std::error_code send_error_; // reported once by the next send
  detail::event room_;
};

class datagram_demux;

/// The state a demux keeps for one peer address: derive from it.  The demux
/// holds it weakly; whoever owns it (a channel) keeps it alive, and it
/// leaves the demux when destroyed, or through datagram_demux::forget().
class datagram_peer {
public:
  datagram_peer(std::shared_ptr<datagram_demux> demux, const asio::ip::udp::endpoint& address);
  virtual ~datagram_peer();
  datagram_peer(const datagram_peer&) = delete;
  datagram_peer& operator=(const datagram_peer&) = delete;

  /// A datagram from this peer (its first included), on the demux's reader,
  /// so a waiting coroutine may be resumed right here (handoff).
  /// `truncated`: it was larger than max_datagram() and `data` is cut.
  virtual void on_datagram(std::span<const std::byte> data, bool truncated) = 0;
  /// The peer was silent for options::udp.peer_idle_timeout and is dropped.
  /// (Not on the reader's stack: wake waiters with notify, not inline.)
  virtual void on_idle() = 0;

  /// No more datagrams for this peer: the next from its address makes a
  /// new peer.  It still counts until it is forgotten (or destroyed), so a
  /// demux that stops accepting keeps its socket open for its last sends.
  void retire() { retired_ = true; }
  bool retired() const { return retired_; }

  datagram_demux& demux() const { return *demux_; }
  const asio::ip::udp::endpoint& address() const { return address_; }
  /// "address:port", "[v6]:port" for IPv6.
  std::string remote() const;
  std::chrono::steady_clock::time_point last_seen() const { return last_seen_; }

private:
  friend class datagram_demux;
  std::shared_ptr<datagram_demux> demux_;
  asio::ip::udp::endpoint address_;
  std::chrono::steady_clock::time_point last_seen_ = std::chrono::steady_clock::now();
  bool retired_ = false;
};

class datagram_demux : public datagram_socket {
public:
  /// Makes the peer for a datagram from a new address (`first` is that
  /// datagram, handed to the peer's on_datagram() next), or returns nullptr
  /// to drop it (counted as refused).
  using peer_factory = std::function<std::shared_ptr<datagram_peer>(
      datagram_demux& demux, const asio::ip::udp::endpoint& from,
      std::span<const std::byte> first)>;

  /// Binds the URL's host and port on `ex` (SO_REUSEPORT with
  /// options::reuse_port; joins options::udp.multicast_group).
  static result<std::shared_ptr<datagram_demux>> open(asio::any_io_executor ex, const url& u,
                                                      std::shared_ptr<const endpoint_config> config,
                                                      peer_factory make_peer);

  datagram_demux(asio::ip::udp::socket s, std::shared_ptr<const endpoint_config> c,
                 peer_factory make_peer);
  ~datagram_demux() override;

  /// Starts reading (and sweeping idle peers).
  void start();
  std::shared_ptr<datagram_demux> self();
  /// No new peers from now on; the socket closes once the last peer is gone.
  /// Safe from any thread.
  void stop_accepting();
  bool accepting() const { return accepting_; }
  /// `p` leaves now (its channel was closed); later datagrams from its
  /// address make a new peer.
  void forget(datagram_peer& p);
  /// The bound port.
  std::uint16_t port() const { return port_; }
  std::size_t peers() const;

  /// Counters, safe to read from any thread: peers made, refused (over
  /// max_peers, or by the factory), datagrams dropped (a peer's queue
  /// full: count_dropped(); fault injection) and truncated.
  listener_stats stats() const;
  void count_accepted() { accepted_.fetch_add(1, std::memory_order_relaxed); }
  void count_dropped() { dropped_.fetch_add(1, std::memory_order_relaxed); }

private:
  struct peer_map;
  static asio::awaitable<void> read_loop(std::shared_ptr<datagram_demux> self);
  static asio::awaitable<void> sweep_loop(std::shared_ptr<datagram_demux> self);
  bool worth_draining();
  void dispatch(std::span<const std::byte> data, bool truncated, const endpoint& from);
  void maybe_finish();

  peer_factory make_peer_;
  std::unique_ptr<detail::udp_batch_receiver> receiver_;
  std::unique_ptr<peer_map> peers_;
  asio::steady_timer sweep_timer_;
  std::uint16_t port_ = 0;
  bool accepting_ = true, backlog_ = false;
  std::size_t received_ = 0, since_probe_ = 0;
  std::atomic<std::size_t> accepted_{0}, refused_{0}, dropped_{0}, truncated_{0};
};

} // namespace coronet
