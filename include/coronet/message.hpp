// Messages and what a transport promises about them.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <typeinfo>

namespace coronet {

enum class message_kind : unsigned char { binary, text };

/// A message's bytes and kind.  It does not own the bytes: a view returned by
/// receive() stays valid until the next receive() on the same endpoint, and a
/// view passed to send() need only stay valid until send() returns (send
/// copies the bytes into the endpoint's queue).
struct message_view {
  std::span<const std::byte> data;
  message_kind kind = message_kind::binary;

  message_view() = default;
  message_view(std::span<const std::byte> d, message_kind k = message_kind::binary)
      : data(d), kind(k) {}
  /// A text message from a string (the bytes are not copied).
  message_view(std::string_view s, message_kind k = message_kind::text)
      : data(reinterpret_cast<const std::byte*>(s.data()), s.size()), kind(k) {}

  /// A text message from a C string (lets `ch.send("hello")` compile).
  message_view(const char* s) : message_view(std::string_view(s)) {}

  std::size_t size() const noexcept { return data.size(); }
  bool empty() const noexcept { return data.empty(); }
  std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
  }
};

/// Why an endpoint is closed.  Transports with a close handshake (WebSocket)
/// send it to the peer; byte streams and datagrams ignore it.
struct close_reason {
  std::uint16_t code = 1000; ///< RFC 6455 close code; 1000 = normal closure
  std::string_view reason;   ///< at most 123 bytes of UTF-8
};

/// What a transport guarantees.  Applications that run on several transports
/// read this instead of testing the scheme.
struct properties {
  bool reliable = false;             ///< no message is lost while the endpoint is open
  bool ordered = false;              ///< messages arrive in the order sent
  bool preserves_boundaries = false; ///< one send() is one receive() at the peer
  bool encrypted = false;
  std::size_t max_message_size = 0; ///< the largest message receive() accepts
  std::string_view scheme = {};     ///< "tcp", "udp", "ws", ...
};

/// Details that only some transports have (websocket_info, tls_info,
/// udp_info) are found by type: an endpoint or stream that keeps a T answers
/// info(typeid(T)) with a pointer to it, and otherwise asks the layer under
/// it (nullptr at the bottom), so a wss:// channel has a websocket_info and a
/// tls_info.  channel::info<T>() is how applications ask.
template <class E>
concept has_info = requires(const E& e, const std::type_info& t) {
  { e.info(t) } -> std::same_as<const void*>;
};

/// The details of type T that an endpoint or stream keeps, or nullptr; on a
/// concrete endpoint what channel::info<T>() is on a channel:
///
///   if (auto ws = coronet::info<coronet::websocket_info>(endpoint)) ...
template <class T, has_info E>
const T* info(const E& e) {
  return static_cast<const T*>(e.info(typeid(T)));
}

/// What an endpoint or stream answers for a layer under it.
template <class Next>
const void* next_layer_info(const Next& next, const std::type_info& type) {
  if constexpr (has_info<Next>) return next.info(type);
  return nullptr;
}

} // namespace coronet
