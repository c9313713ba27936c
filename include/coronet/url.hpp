// coronet::url: the parsed form of an endpoint URL.
//
//   tcp://host:port[?framing=length|line|raw]    tls://host:port[...]
//   udp://host:port                              ws://host:port/path  wss://...
//
// Hosts are IPv4 literals, bracketed IPv6 literals ("[::1]") or DNS names.
// Options common to every scheme go in the query string: framing, timeout_ms,
// max_message.  Unknown query keys are kept in `query` for the transport.
#pragma once

#include <coronet/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coronet {

enum class scheme { tcp, tls, udp, ws, wss };

/// How a byte stream is cut into messages.
enum class framing {
  length_prefixed, ///< each message preceded by its length, u32 big-endian
  line,            ///< each message ends with '\n' (a preceding '\r' is dropped)
  raw,             ///< no framing: each read is one message, boundaries are not kept
};

std::string_view to_string(scheme s) noexcept;
std::string_view to_string(framing f) noexcept;

struct url {
  coronet::scheme scheme = scheme::tcp;
  std::string host; ///< without brackets for IPv6 literals
  std::uint16_t port = 0;
  std::string path = "/";                                 ///< only meaningful for ws:// and wss://
  std::vector<std::pair<std::string, std::string>> query; ///< every key=value, percent-decoded

  // Options recognised for every scheme (from the query string).
  std::optional<coronet::framing> framing;
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<std::size_t> max_message;

  /// The value of a query key, if present.
  std::optional<std::string_view> query_value(std::string_view key) const;

  /// "host:port", with brackets around an IPv6 host.
  std::string authority() const;

  /// The URL written back out (canonical form).
  std::string to_string() const;
};

/// Parses `text`.  On failure the error is errc::invalid_url and `why`, when
/// given, receives a sentence saying what is wrong.
result<url> parse_url(std::string_view text, std::string* why = nullptr);

} // namespace coronet
