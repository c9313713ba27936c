#include <coronet/error.hpp>
#include <coronet/url.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace coronet {
namespace {

struct scheme_info {
  std::string_view name;
  coronet::scheme scheme;
  std::uint16_t default_port; // 0 = the URL must give one
};

constexpr scheme_info schemes[] = {
    {"tcp", scheme::tcp, 0}, {"tls", scheme::tls, 0},   {"udp", scheme::udp, 0},
    {"ws", scheme::ws, 80},  {"wss", scheme::wss, 443},
};

result<url> bad(std::string* why, std::string text) {
  if (why) *why = std::move(text);
  return fail(errc::invalid_url);
}

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (in[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(in[i]);
    }
  }
  return true;
}

template <class Int>
bool parse_number(std::string_view s, Int& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

} // namespace

std::string_view to_string(scheme s) noexcept {
  for (auto& i : schemes)
    if (i.scheme == s) return i.name;
  return "?";
}

std::string_view to_string(framing f) noexcept {
  switch (f) {
  case framing::length_prefixed: return "length";
  case framing::line: return "line";
  case framing::raw: return "raw";
  }
  return "?";
}

std::optional<std::string_view> url::query_value(std::string_view key) const {
  for (auto& [k, v] : query)
    if (k == key) return std::string_view(v);
  return std::nullopt;
}

std::string url::authority() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string url::to_string() const {
  std::string s(coronet::to_string(scheme));
  s += "://" + authority();
  if (scheme == scheme::ws || scheme == scheme::wss) s += path;
  char sep = '?';
  for (auto& [k, v] : query) {
    s += sep + k + "=" + v;
    sep = '&';
  }
  return s;
}

result<url> parse_url(std::string_view text, std::string* why) {
  url u;
  auto colon = text.find("://");
  if (colon == std::string_view::npos)
    return bad(why, "missing \"://\" after the scheme (expected e.g. tcp://host:port)");
  auto name = text.substr(0, colon);
  auto known = std::find_if(std::begin(schemes), std::end(schemes), [&](auto& i) {
    return std::equal(name.begin(), name.end(), i.name.begin(), i.name.end(), [](char a, char b) {
      return std::tolower(static_cast<unsigned char>(a)) == b;
    });
  });
  if (known == std::end(schemes))
    return bad(why,
               "unknown scheme \"" + std::string(name) + "\" (expected tcp, tls, udp, ws or wss)");
  u.scheme = known->scheme;
  std::string_view rest = text.substr(colon + 3);

  if (auto hash = rest.find('#'); hash != std::string_view::npos)
    return bad(why, "a fragment (#...) has no meaning in an endpoint URL");

  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view authority = rest, path;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash);
  }
  if (authority.find('@') != std::string_view::npos)
    return bad(why, "user information (user@host) is not supported");

  std::string_view port_text;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return bad(why, "IPv6 address is missing its closing ']'");
    u.host = std::string(authority.substr(1, close - 1));
    in6_addr a6;
    if (inet_pton(AF_INET6, u.host.c_str(), &a6) != 1)
      return bad(why, "\"" + u.host + "\" is not a valid IPv6 address");
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':')
        return bad(why, "unexpected text after the IPv6 address (expected ':port')");
      port_text = after.substr(1);
      if (port_text.empty()) return bad(why, "empty port after ':'");
    }
  } else {
    auto c = authority.rfind(':');
    if (c != std::string_view::npos) {
      if (authority.find(':') != c)
        return bad(why, "an IPv6 address must be written in brackets, e.g. [::1]:port");
      port_text = authority.substr(c + 1);
      if (port_text.empty()) return bad(why, "empty port after ':'");
      authority = authority.substr(0, c);
    }
    u.host = std::string(authority);
    if (!std::all_of(u.host.begin(), u.host.end(), is_host_char))
      return bad(why, "\"" + u.host + "\" is not a valid host name");
  }
  if (u.host.empty()) return bad(why, "missing host");

  if (!port_text.empty()) {
    unsigned long port = 0;
    if (!parse_number(port_text, port) || port > 65535)
      return bad(why, "port \"" + std::string(port_text) + "\" is not a number from 0 to 65535");
    u.port = static_cast<std::uint16_t>(port);
  } else if (known->default_port != 0) {
    u.port = known->default_port;
  } else {
    return bad(why, std::string(known->name) + ":// needs a port (" + std::string(known->name) +
                        "://host:port)");
  }

  if (!path.empty()) {
    if (u.scheme != scheme::ws && u.scheme != scheme::wss && path != "/")
      return bad(why, "a path is only meaningful for ws:// and wss:// URLs");
    u.path = std::string(path);
  }

  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    std::string key, value;
    if (!percent_decode(pair.substr(0, eq), key) ||
        (eq != std::string_view::npos && !percent_decode(pair.substr(eq + 1), value)))
      return bad(why, "bad percent-encoding in the query string");
    if (key == "framing") {
      if (u.scheme != scheme::tcp && u.scheme != scheme::tls)
        return bad(why, "framing= applies to tcp:// and tls:// only");
      if (value == "length" || value == "length_prefixed")
        u.framing = framing::length_prefixed;
      else if (value == "line")
        u.framing = framing::line;
      else if (value == "raw")
        u.framing = framing::raw;
      else
        return bad(why, "framing=" + value + " is unknown (expected length, line or raw)");
    } else if (key == "timeout_ms") {
      long long ms = 0;
      if (!parse_number(value, ms) || ms <= 0)
        return bad(why, "timeout_ms=" + value + " is not a positive number of milliseconds");
      u.timeout = std::chrono::milliseconds(ms);
    } else if (key == "max_message") {
      std::size_t n = 0;
      if (!parse_number(value, n) || n == 0)
        return bad(why, "max_message=" + value + " is not a positive number of bytes");
      u.max_message = n;
    } else if (u.scheme != scheme::ws && u.scheme != scheme::wss) {
      // ws:// queries belong to the application (tokens...); elsewhere a
      // key we do not know is most likely a typo.
      return bad(why,
                 "unknown option \"" + key + "\" (expected framing, timeout_ms or max_message)");
    }
    u.query.emplace_back(std::move(key), std::move(value));
  }
  return u;
}

} // namespace coronet
