// coronet::url: the parsed form of an endpoint URL.
//
//   tcp://host:port[?framing=length|line|raw]    tls://host:port[...]
//   udp://host:port                              ws://host:port/path  wss://...
//   unix:///path/to.sock   unix://@abstract-name
//
// The scheme names a registered transport (<coronet/transport/registry.hpp>),
// which says how the rest is read: host:port, host:port/path, or an address
// of its own (a socket path) kept in `path`.  Hosts are IPv4 literals,
// bracketed IPv6 literals ("[::1]") or DNS names.  Options every scheme takes
// go in the query string (timeout_ms, max_message); the transport takes its
// own (framing=...), and rejects keys it does not know.
#pragma once

#include <coronet/impairment.hpp>

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

struct url {
  std::string scheme; ///< lower case, as registered: "tcp", "ws", ...
  std::string host;   ///< without brackets for IPv6 literals; empty for local addresses
  std::uint16_t port = 0;
  /// ws:// and wss://: the request path ("/" when the URL has none).  Schemes
  /// with local addresses: the address ("/run/app.sock", "@name").  Else empty.
  std::string path;
  std::vector<std::pair<std::string, std::string>> query; ///< every key=value, percent-decoded

  // Options every scheme takes (from the query string).
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<std::size_t> max_message;
  std::optional<impairment_spec> impair;    ///< ?impair=  (see <coronet/impairment.hpp>)
  std::optional<std::uint64_t> impair_seed; ///< ?impair_seed=

  /// The value of a query key, if present.
  std::optional<std::string_view> query_value(std::string_view key) const;

  /// "host:port", with brackets around an IPv6 host; the path for a local address.
  std::string authority() const;

  /// The URL written back out (canonical form).
  std::string to_string() const;
};

/// Parses `text` and checks its options with the scheme's transport.  On
/// failure the error is errc::invalid_url (errc::unknown_scheme when no
/// transport is registered for the scheme) and `why`, when given, receives a
/// sentence saying what is wrong (for an unknown scheme: the registered ones).
result<url> parse_url(std::string_view text, std::string* why = nullptr);

/// What percent_decode() does with a '%' not followed by two hex digits.
enum class bad_escape {
  fail, ///< the whole decode fails (URLs coronet parses)
  keep, ///< that '%' stays as it is, the rest is decoded (what peers send)
};

/// Decodes %XX escapes (and '+' as a space when `plus_as_space`, as in a
/// query string); see bad_escape for a malformed one.
std::optional<std::string> percent_decode(std::string_view s, bool plus_as_space = false,
                                          bad_escape bad = bad_escape::fail);

/// Escapes every byte but the unreserved ones (RFC 3986: A-Z a-z 0-9 - . _ ~).
std::string percent_encode(std::string_view s);

} // namespace coronet
