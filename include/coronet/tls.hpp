// tls_stream<Stream>: TLS (mbedTLS) over any coronet stream, itself a
// coronet stream, so framed<> and websocket<> run over it unchanged: that is
// what tls:// and wss:// are.
//
//   auto config = coronet::make_tls_config(coronet::tls_role::client, o.tls);
//   coronet::tls_stream<coronet::tcp_stream> s(std::move(tcp), *config, "example.com");
//   if (auto ok = co_await s.handshake(); !ok) ...   // tls_category() says why
//
// Most applications never name this type: connect("tls://...") and
// connect("wss://...") hand out channels.
//
// Contract
// - One reader and one writer at a time, as for any stream; a read and a
//   write may be in flight together.  Use it from its executor.
// - handshake() before any read or write; it does not time out by itself
//   (bound it with with_timeout(); the transports use
//   tls_options::handshake_timeout).
// - shutdown(shutdown_send) sends close_notify, then half-closes the TCP
//   connection; a peer's close_notify ends reads with errc::closed.
// - No blocking calls: mbedTLS is fed from memory buffers, and the bytes
//   move through the next layer's asynchronous operations.
#pragma once

#include <coronet/channel.hpp>
#include <coronet/detail/tls_engine.hpp>
#include <coronet/detail/use_result.hpp>
#include <coronet/listener.hpp>
#include <coronet/stream.hpp>
#include <coronet/tcp.hpp>
#include <coronet/url.hpp>

#include <asio/async_result.hpp>
#include <asio/compose.hpp>
#include <asio/write.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coronet {

/// A loaded TLS configuration (certificates, keys, CAs, the random
/// generator): make one per listener or client with make_tls_config() and
/// share it between the connections of one thread.
using detail::make_tls_config;
using detail::tls_config;
using detail::tls_role;

/// What a TLS connection knows once its handshake is done
/// (channel::info<tls_info>() on tls:// and wss://).
struct tls_info {
  std::string alpn; ///< the protocol ALPN chose, or ""
  /// The peer's certificate, DER-encoded, and its subject; empty when the
  /// peer sent none (a client without a certificate).  Verified against the
  /// CAs unless tls_options::insecure_skip_verify (client) or
  /// require_client_certificate is off (server: a certificate a client
  /// offers unasked is not verified).
  std::vector<std::byte> peer_certificate;
  std::string peer_subject;
};

template <stream Stream>
class tls_stream {
public:
  using executor_type = typename Stream::executor_type;
  using next_layer_type = Stream;

  /// `server_name` (client only): the name sent in SNI and checked against
  /// the server's certificate.
  tls_stream(Stream next, std::shared_ptr<const detail::tls_config> config,
             std::string_view server_name = {})
      : next_(std::move(next)),
        engine_(std::make_unique<detail::tls_engine>(std::move(config), server_name)) {}

  tls_stream(tls_stream&&) noexcept = default;
  tls_stream& operator=(tls_stream&&) noexcept = default;

  executor_type get_executor() { return next_.get_executor(); }
  Stream& next_layer() { return next_; }

  /// Runs the handshake to completion.  Fails with a tls_category() error
  /// that says why (tls_errc::unknown_ca, name_mismatch, not_tls, ... or
  /// mbedTLS's own code), or the next layer's error.
  asio::awaitable<result<void>> handshake() {
    for (;;) {
      auto step = engine_->handshake();
      if (auto sent = co_await flush(); !sent) co_return fail(sent.error());
      if (!step) co_return fail(step.error());
      if (*step) {
        handshake_done_ = true;
        co_return result<void>{};
      }
      auto space = engine_->input_space();
      auto [ec, n] = co_await next_.async_read_some(asio::buffer(space.data(), space.size()),
                                                    detail::use_tuple);
      if (ec) {
        // The peer hung up mid-handshake: silent from the start, it was no
        // TLS peer; after some TLS, it refused us (a missing client
        // certificate, say) without an alert.
        if (detail::normalize_stream_error(ec) != errc::closed) co_return fail(ec);
        co_return fail(engine_->peer_spoke() ? std::error_code(errc::handshake_failed)
                                             : std::error_code(tls_errc::not_tls));
      }
      engine_->commit_input(n);
    }
  }

  /// tls_info (once the handshake is done: made from the engine on the
  /// first ask, so a connection never asked carries none), or what the
  /// stream under it keeps; see channel::info() and coronet::info().
  const void* info(const std::type_info& type) const {
    if (type != typeid(tls_info)) return next_layer_info(next_, type);
    if (!handshake_done_) return nullptr;
    if (!info_)
      info_ = std::make_unique<tls_info>(tls_info{
          std::string(engine_->alpn()), engine_->peer_certificate(), engine_->peer_subject()});
    return info_.get();
  }

  /// shutdown_send: close_notify, then FIN.  No write may be in flight.
  result<void> shutdown(shutdown_type how) {
    if (how != asio::socket_base::shutdown_receive) {
      engine_->close_notify();
      // The alert is a few dozen bytes: the socket takes it at once, and if
      // it does not, the FIN still ends the stream.
      if constexpr (detail::has_try_write<Stream>) {
        auto& out = engine_->output();
        std::error_code ec;
        next_.try_write_some(asio::buffer(out), ec);
        out.clear();
      }
    }
    return next_.shutdown(how);
  }

  void close() { next_.close(); }
  std::string remote() const { return next_.remote(); }

  /// The next layer's count (a graceful close waits for it).
  long unacknowledged_bytes() const requires detail::has_unacknowledged<Stream> {
    return next_.unacknowledged_bytes();
  }

  /// Asio AsyncReadStream: completes with decrypted bytes (at least 1),
  /// asio::error::eof after the peer's close_notify, or an error.
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return asio::async_compose<Token, void(std::error_code, std::size_t)>(
        read_op{this, first_buffer(buffers)}, token, next_);
  }

  /// Asio AsyncWriteStream: encrypts (up to 256 KiB) and completes once the
  /// ciphertext is written.
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return asio::async_compose<Token, void(std::error_code, std::size_t)>(
        write_op{this, first_buffer(buffers)}, token, next_);
  }

private:
  template <class Buffers>
  static auto first_buffer(const Buffers& b) {
    using std::begin;
    auto it = asio::buffer_sequence_begin(b);
    using buffer_type = std::remove_cvref_t<decltype(*it)>;
    for (; it != asio::buffer_sequence_end(b); ++it)
      if (asio::buffer_size(*it) > 0) return buffer_type(*it);
    return buffer_type();
  }

  asio::awaitable<result<void>> flush() {
    auto& out = engine_->output();
    if (out.empty()) co_return result<void>{};
    auto [ec, n] = co_await asio::async_write(next_, asio::buffer(out), detail::use_tuple);
    out.clear();
    if (ec) co_return fail(ec);
    co_return result<void>{};
  }

  struct read_op {
    tls_stream* self;
    asio::mutable_buffer buf;
    bool waiting = false;

    template <class Self>
    void operator()(Self& op, std::error_code ec = {}, std::size_t n = 0) {
      auto& engine = *self->engine_;
      if (waiting) {
        waiting = false;
        if (ec) return op.complete(ec, 0);
        engine.commit_input(n);
      }
      if (buf.size() == 0) return op.complete({}, 0);
      auto got = engine.read({static_cast<std::byte*>(buf.data()), buf.size()});
      if (!got)
        return op.complete(
            got.error() == errc::closed ? std::error_code(asio::error::eof) : got.error(), 0);
      if (*got > 0) return op.complete({}, *got);
      auto space = engine.input_space();
      waiting = true;
      self->next_.async_read_some(asio::buffer(space.data(), space.size()), std::move(op));
    }
  };

  struct write_op {
    tls_stream* self;
    asio::const_buffer buf;
    std::size_t accepted = 0;
    bool writing = false;

    template <class Self>
    void operator()(Self& op, std::error_code ec = {}, std::size_t = 0) {
      auto& wire = self->writing_;
      if (writing) {
        wire.clear();
        return op.complete(ec, ec ? 0 : accepted);
      }
      auto n = self->engine_->write({static_cast<const std::byte*>(buf.data()), buf.size()});
      if (!n) return op.complete(n.error(), 0);
      accepted = *n;
      writing = true;
      // The ciphertext moves to the writer's own buffer: a read in flight may
      // append to the engine's output (an alert) while this write runs.
      std::swap(wire, self->engine_->output());
      asio::async_write(self->next_, asio::buffer(wire), std::move(op));
    }
  };

  Stream next_;
  std::unique_ptr<detail::tls_engine> engine_;
  std::vector<std::byte> writing_; // ciphertext of the write in flight
  // On the heap: a string member would make tls_stream unsafe to pass by
  // value in a co_await expression under GCC 12 (docs/design.md).
  mutable std::unique_ptr<tls_info> info_;
  bool handshake_done_ = false;
};

// ---- composition points for transports over TLS on TCP (tls://, wss://) ----

namespace transports {

using tls_tcp_stream = tls_stream<tcp_stream>;

/// Connects to the URL's host and port (within o.connect_timeout) and runs
/// the client's TLS handshake (within o.tls.handshake_timeout), verifying
/// the server as o.tls says, offering `alpn` besides o.tls.alpn.  `u`
/// must stay valid until it completes (as in `co_await connect_tls(u, ...)`).
asio::awaitable<result<tls_tcp_stream>> connect_tls(const url& u, options o,
                                                    std::vector<std::string> alpn = {});

/// Turns a TLS stream whose handshake is done into a channel.
using after_tls = std::function<asio::awaitable<result<channel>>(tls_tcp_stream)>;

/// A listener on the URL's host and port: each connection's TLS handshake,
/// then `then`, run as one task under o.tls.handshake_timeout plus
/// `then_timeout`.  Fails at once (tls_errc::configuration, logged) when the
/// certificates in o.tls cannot be loaded.
result<listener> listen_tls(asio::any_io_executor ex, const url& u, const options& o,
                            std::vector<std::string> alpn, after_tls then,
                            std::chrono::milliseconds then_timeout = {});

} // namespace transports

} // namespace coronet
