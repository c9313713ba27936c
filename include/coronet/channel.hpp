// coronet::channel: any message endpoint behind one type, chosen by URL.
//
//   auto ch = co_await coronet::connect("tcp://127.0.0.1:9000");
//   if (!ch) co_return report(ch.error());
//   co_await ch->send("hello");
//   auto reply = co_await ch->receive();
//
// A channel is a shared handle: copies refer to the same connection.  The
// rules of the endpoint behind it apply (one receive() at a time, many
// send()s, use it from its executor); see <coronet/framed.hpp>.  Each
// operation costs one virtual call over the concrete endpoint.
#pragma once

#include <coronet/error.hpp>
#include <coronet/message.hpp>
#include <coronet/options.hpp>
#include <coronet/result.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <chrono>
#include <concepts>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>

namespace coronet {

/// What every message endpoint offers (framed<S, C>, websocket<S>, udp).
template <class E>
concept message_endpoint = requires(E& e, const E& ce, message_view m, close_reason why) {
  { e.receive() } -> std::same_as<asio::awaitable<result<message_view>>>;
  { e.send(m) } -> std::same_as<asio::awaitable<result<void>>>;
  { e.try_send(m) } -> std::same_as<result<void>>;
  { e.try_receive() } -> std::same_as<result<message_view>>;
  { e.close(why) } -> std::same_as<asio::awaitable<result<void>>>;
  e.set_receive_timeout(std::chrono::milliseconds());
  e.stop_receiving();
  e.abort();
  { ce.properties() } -> std::convertible_to<const properties&>;
  { ce.remote() } -> std::convertible_to<std::string>;
  e.get_executor();
};

class channel {
public:
  /// The interface behind a channel; implement it to add a transport.
  class endpoint {
  public:
    virtual ~endpoint() = default;
    virtual asio::awaitable<result<message_view>> receive() = 0;
    virtual asio::awaitable<result<void>> send(message_view m) = 0;
    virtual result<void> try_send(message_view m) = 0;
    /// Transports that buffer several messages per read override this.
    virtual result<message_view> try_receive() { return fail(errc::would_block); }
    virtual asio::awaitable<result<void>> close(close_reason why) = 0;
    virtual void set_receive_timeout(std::chrono::milliseconds timeout) = 0;
    virtual void stop_receiving() = 0;
    virtual void abort() = 0;
    virtual const coronet::properties& properties() const = 0;
    virtual std::string remote() const = 0;
    virtual asio::any_io_executor get_executor() = 0;
    /// The details of type `type` this endpoint (or a layer under it)
    /// keeps, or nullptr (the default: none); see channel::info().
    virtual const void* info(const std::type_info&) const { return nullptr; }
  };

  channel() = default;
  explicit channel(std::shared_ptr<endpoint> e) : impl_(std::move(e)) {}

  /// Wraps a concrete endpoint (moved in).
  template <message_endpoint E>
  requires(!std::same_as<std::remove_cvref_t<E>, channel>) explicit channel(E e)
      : impl_(std::make_shared<model<E>>(std::move(e))) {}

  /// The next message; the view is valid until the next receive() or
  /// try_receive().  Fails with errc::timeout once the receive timeout has
  /// passed without one (the channel stays usable, nothing is lost),
  /// errc::closed once the peer or close() ended it, or the transport's error.
  asio::awaitable<result<message_view>> receive() { return impl_->receive(); }
  /// The deadline of every later receive() on this channel (zero: none).  It
  /// starts as options::receive_timeout (the URL's ?timeout_ms=): on a
  /// server, the idle timeout.  The one way to bound a receive.
  void set_receive_timeout(std::chrono::milliseconds timeout) {
    impl_->set_receive_timeout(timeout);
  }
  /// The next message if one has already arrived, without waiting or I/O;
  /// else errc::would_block (call receive(), which waits, or says why no
  /// message will come).  Lets a handler answer every message of one read
  /// without suspending for each:
  ///
  ///   auto m = co_await ch.receive();
  ///   while (m) {
  ///     handle(*m);
  ///     m = ch.try_receive();
  ///     if (!m && m.error() == coronet::errc::would_block) m = co_await ch.receive();
  ///   }
  ///
  /// While a receive() is pending it fails with errc::would_block.
  result<message_view> try_receive() { return impl_->try_receive(); }
  /// Queues `m` (copied); waits or fails per the slow-consumer policy when full.
  asio::awaitable<result<void>> send(message_view m) { return impl_->send(m); }
  /// Queues `m` or fails with errc::backpressure at once.
  result<void> try_send(message_view m) { return impl_->try_send(m); }
  /// Graceful close: flushes the send queue, then the transport's close handshake.
  asio::awaitable<result<void>> close(close_reason why = {}) { return impl_->close(why); }
  /// A pending receive() completes with errc::closed, and so does every later
  /// one once the messages already buffered are delivered; sends go on.
  void stop_receiving() { impl_->stop_receiving(); }
  /// Drops the connection now.
  void abort() { impl_->abort(); }

  const coronet::properties& properties() const { return impl_->properties(); }
  std::string remote() const { return impl_->remote(); }
  asio::any_io_executor get_executor() { return impl_->get_executor(); }
  /// Details only some transports have, by type: nullptr where the
  /// transport has none of that type.  Valid as long as the channel.
  ///
  ///   if (auto ws = ch.info<coronet::websocket_info>())   // ws://, wss://
  ///     route(ws->request.path, ws->subprotocol);
  ///   if (auto request = ch.info<coronet::http_request>()) // opened by an HTTP request
  ///     greet(request->cookie("session"));
  ///   if (auto tls = ch.info<coronet::tls_info>())        // tls://, wss://
  ///     log(tls->peer_subject);
  ///   if (auto udp = ch.info<coronet::udp_info>())        // udp://
  ///     ban(udp->peer.address());
  template <class T>
  const T* info() const {
    return static_cast<const T*>(impl_->info(typeid(T)));
  }
  /// The same by type_info: what a decorator's endpoint::info() forwards to
  /// the channel it wraps.
  const void* info(const std::type_info& type) const { return impl_->info(type); }

  explicit operator bool() const noexcept { return impl_ != nullptr; }
  /// Identity of the connection (copies compare equal).
  const void* id() const noexcept { return impl_.get(); }

private:
  template <class E>
  class model final : public endpoint {
  public:
    explicit model(E e) : e_(std::move(e)) {}
    asio::awaitable<result<message_view>> receive() override { return e_.receive(); }
    asio::awaitable<result<void>> send(message_view m) override { return e_.send(m); }
    result<void> try_send(message_view m) override { return e_.try_send(m); }
    result<message_view> try_receive() override { return e_.try_receive(); }
    asio::awaitable<result<void>> close(close_reason why) override { return e_.close(why); }
    void set_receive_timeout(std::chrono::milliseconds timeout) override {
      e_.set_receive_timeout(timeout);
    }
    void stop_receiving() override { e_.stop_receiving(); }
    void abort() override { e_.abort(); }
    const coronet::properties& properties() const override { return e_.properties(); }
    std::string remote() const override { return e_.remote(); }
    asio::any_io_executor get_executor() override { return e_.get_executor(); }
    const void* info(const std::type_info& type) const override {
      if constexpr (has_info<E>) return e_.info(type);
      return nullptr;
    }

  private:
    E e_;
  };

  std::shared_ptr<endpoint> impl_;
};

/// Connects to `url` (tcp://, ...) on the calling coroutine's executor.
/// URL query options override `o`.  Fails with errc::invalid_url,
/// errc::resolve_failed, errc::connection_refused, errc::timeout, ...
asio::awaitable<result<channel>> connect(std::string_view url, options o = {});

} // namespace coronet
