// Options every transport takes.
//
// options is passed by value into coroutines, so it holds no std::string or
// other type that points into itself (containers of strings are fine: their
// elements live on the heap): GCC 12 relocates temporaries of a
// co_await expression bitwise (see docs/design.md, "Toolchain notes").  Where a URL is the only
// input, the same settings come from its query string (?timeout_ms=, ?max_message=, ?framing=) and
// override the struct.
#pragma once

#include <coronet/codec.hpp>
#include <coronet/http.hpp>
#include <coronet/impairment.hpp>
#include <coronet/message.hpp>

#include <asio/ip/address.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace coronet {

/// What happens to a message that finds a send queue full: a channel's
/// (options::slow_consumer, applied by send()) or a group member's
/// (group_options::slow_consumer, <coronet/group.hpp>).
enum class slow_consumer_policy {
  wait,        ///< send() waits for room (try_send() still fails with errc::backpressure)
  drop_newest, ///< the new message is dropped and send() fails with errc::backpressure
  /// Groups: the oldest message waiting for the member is dropped instead.
  /// A channel's queue holds encoded bytes that cannot be taken back, so
  /// its send() treats this as drop_newest.
  drop_oldest,
  disconnect, ///< the connection is aborted and send() fails with errc::backpressure
};

/// UDP settings (udp:// only).
struct udp_options {
  /// Peers a udp:// listener tracks at once; datagrams from further new
  /// addresses are dropped and counted in listener::stats().refused.
  std::size_t max_peers = 10'000;
  /// A peer silent this long is dropped: its channel's receive() completes
  /// with errc::closed.  Zero = never.
  std::chrono::milliseconds peer_idle_timeout{30'000};
  /// Datagrams queued for one peer channel that has not called receive();
  /// more are dropped (and counted), as the network would.
  std::size_t peer_queue = 1024;
  /// recvmmsg/sendmmsg batches on Linux; off = one syscall per datagram.
  bool batching = true;
  std::size_t batch_size = 64;
  bool broadcast = false; ///< SO_BROADCAST
  /// listen(): join this multicast group (unspecified address = none).
  asio::ip::address multicast_group;
  /// IPv4 address of the interface to join on (unspecified = the default).
  asio::ip::address_v4 multicast_interface;
  bool multicast_loopback = true; ///< receive our own multicast sends
  int tos = -1;                   ///< IP_TOS / IPV6_TCLASS byte (DSCP << 2); -1 = leave
  /// Fault injection for tests: drop every Nth datagram received (0 = none).
  std::size_t drop_every = 0;
};

/// WebSocket settings (ws:// and wss:// only).  The containers and hooks
/// live on the heap, so this struct is safe to pass by value into coroutines.
struct websocket_options {
  // ---- both sides -------------------------------------------------------
  /// Server: the subprotocols it speaks, most preferred first; the first one
  /// the client offers is chosen.  Client: the ones it offers; the server's
  /// choice must be one of them (else errc::handshake_failed).
  std::vector<std::string> subprotocols;
  /// Largest request (server) or response (client) head; a larger request is
  /// refused with 431, a larger response fails the handshake.
  std::size_t max_header_bytes = 16 * 1024;
  /// The whole opening handshake must finish within this; else the
  /// connection is closed (client: errc::timeout).  Zero = no limit.
  std::chrono::milliseconds handshake_timeout{10'000};
  /// Messages larger than this are sent as a fragmented message, in frames
  /// of at most this many payload bytes.  Zero = never fragment.
  std::size_t fragment_size = 0;
  /// Send a ping this often; if no pong has come back `pong_timeout` after
  /// a ping, the connection is dropped (receive() fails with errc::timeout).
  /// Zero = no keepalive.
  std::chrono::milliseconds ping_interval{0};
  std::chrono::milliseconds pong_timeout{10'000};

  // ---- server -----------------------------------------------------------
  /// Origin header values accepted (exact match, e.g. "https://example.com");
  /// others get 403.  Empty = any origin, and requests without one.
  std::vector<std::string> allowed_origins;
  /// Called with every upgrade request that passed the protocol checks:
  /// allow it (with details for channel::info<T>()), or refuse it with a
  /// response (401, 403, ...).  See authorization, and jwt_authorize() in
  /// <coronet/jwt.hpp>.
  std::function<authorization(const http_request&)> authorize;
  /// Answers requests that are not upgrade requests (a plain GET of the
  /// page that opens the WebSocket).  Unset: such requests get 400.
  std::function<http_response(const http_request&)> http_handler;
  /// Extra headers on the 101 response.
  http_headers response_headers;

  // ---- client -----------------------------------------------------------
  /// Extra headers on the upgrade request (Origin, Authorization, Cookie).
  http_headers request_headers;
};

/// A certificate chain and its private key, PEM-encoded: from files, or the
/// PEM text itself (the file fields win when set).
struct tls_identity {
  std::string certificate_chain_file; ///< leaf first, then intermediates
  std::string private_key_file;
  std::string certificate_chain_pem;
  std::string private_key_pem;
  std::string private_key_password; ///< for an encrypted key; empty = none
};

/// TLS settings (tls:// and wss://).  TLS 1.2 with ECDHE and AEAD cipher
/// suites only (AES-GCM, ChaCha20-Poly1305).  Like websocket_options, every
/// string lives on the heap, so the struct is safe in coroutines.
struct tls_options {
  /// Server: its certificates, the first the default, the others chosen by
  /// SNI (the client's server name against each certificate's DNS names).
  /// Client: at most one, sent when the server asks (mutual TLS).
  std::vector<tls_identity> identities;
  /// Trusted CAs (PEM files, or PEM text in ca_pem).  Client: empty = the
  /// system bundle /etc/ssl/certs/ca-certificates.crt.  Server: the CAs of
  /// the client certificates it accepts (with require_client_certificate).
  std::vector<std::string> ca_files;
  std::vector<std::string> ca_pem;
  /// Server: refuse clients without a certificate signed by one of the CAs.
  bool require_client_certificate = false;
  /// Client: the name to send in SNI and to check the certificate against;
  /// empty = the URL's host.
  std::vector<std::string> server_name;
  /// Client: do not verify the server's certificate at all.  Anyone on the
  /// path can then impersonate the server: for tests and local tools only.
  bool insecure_skip_verify = false;
  /// ALPN protocols, preferred first (wss:// adds "http/1.1").
  std::vector<std::string> alpn;
  /// The TLS handshake must finish within this; zero = no limit.
  std::chrono::milliseconds handshake_timeout{10'000};
};

struct options {
  /// The largest message receive() accepts.  A larger one fails with
  /// errc::message_too_large; on a stream the framing is then lost, so every
  /// later receive() fails the same way (close the channel).  Raw framing
  /// has no message size: its reads are at most read_buffer_size.
  std::size_t max_message = 64 * 1024 * 1024;

  /// Framing for the stream schemes (tcp://, tls://, unix://); the URL's
  /// ?framing= wins.
  coronet::framing framing = framing::length_prefixed;

  /// Listeners of schemes whose URLs have a path (ws://, wss://): the
  /// request paths accepted (exact match on the decoded path); others are
  /// refused (WebSocket: 404).  Empty = the listen URL's path, or any path
  /// when that is "/".  A server with routes sets it from them.
  std::vector<std::string> paths;

  /// Time allowed for resolve + TCP connect.  Zero = no limit.  (The TLS and
  /// WebSocket handshakes have their own: tls.handshake_timeout,
  /// websocket.handshake_timeout.)
  std::chrono::milliseconds connect_timeout{10'000};

  /// Deadline for each receive(); zero = none.  On a server this is the idle
  /// timeout: receive() on a connection silent this long fails with
  /// errc::timeout, and the usual handler loop then returns, which closes it.
  /// The URL's ?timeout_ms= sets both this and connect_timeout;
  /// channel::set_receive_timeout() changes it for one channel.
  std::chrono::milliseconds receive_timeout{0};

  /// Bytes the send queue may hold before the slow-consumer policy applies.
  /// One message larger than this is still accepted into an empty queue.
  std::size_t send_queue_limit = 4 * 1024 * 1024;
  slow_consumer_policy slow_consumer = slow_consumer_policy::wait;

  /// How long close() waits for queued messages to reach the socket and for
  /// the peer to acknowledge them before it drops the connection (close()
  /// then fails with errc::timeout).
  std::chrono::milliseconds close_timeout{5'000};

  /// Largest single read; the read buffer starts small and grows to this
  /// (or to the size of the message being received, if larger; WebSocket
  /// keeps binary frames of up to 4x this whole in it, with room for a few).
  std::size_t read_buffer_size = 64 * 1024;

  /// SO_RCVBUF / SO_SNDBUF in bytes; 0 leaves the system default.
  int receive_buffer_size = 0;
  int send_buffer_size = 0;

  bool tcp_nodelay = true;
  bool reuse_port = false; ///< SO_REUSEPORT on listeners (serve() sets it for threads > 1)
  int backlog = 1024;

  coronet::udp_options udp;
  coronet::websocket_options websocket;
  coronet::tls_options tls;

  /// Every channel connect() or a listener makes goes through this
  /// impaired link (coronet::impair(), <coronet/impair.hpp>); the URL's
  /// ?impair=loss:0.02,delay:20ms sets it, ?impair_seed=N its seed (a
  /// listener's channels take seed, seed + 1, ...).
  std::optional<impairment_spec> impair;
  std::uint64_t impair_seed = 1;
};

/// Settings shared by every endpoint created by one listener or connect
/// call (held once, not per connection).
struct endpoint_config {
  coronet::options options;
  coronet::properties properties;
};

} // namespace coronet
