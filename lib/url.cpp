#include <coronet/error.hpp>
#include <coronet/transport/registry.hpp>
#include <coronet/url.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace coronet {
namespace {

result<url> bad(std::string* why, std::string text, errc code = errc::invalid_url) {
  if (why) *why = std::move(text);
  return fail(code);
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

template <class Int>
bool parse_number(std::string_view s, Int& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string scheme_list() {
  std::string out;
  for (auto& s : registered_schemes()) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "none" : out;
}

// host[:port] into u; `t` gives the default port.
result<void> parse_authority(std::string_view authority, const transport& t, url& u,
                             std::string* why) {
  auto no = [&](std::string text) -> result<void> {
    if (why) *why = std::move(text);
    return fail(errc::invalid_url);
  };
  if (authority.find('@') != std::string_view::npos)
    return no("user information (user@host) is not supported");
  std::string_view port_text;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return no("IPv6 address is missing its closing ']'");
    u.host = std::string(authority.substr(1, close - 1));
    in6_addr a6;
    if (inet_pton(AF_INET6, u.host.c_str(), &a6) != 1)
      return no("\"" + u.host + "\" is not a valid IPv6 address");
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return no("unexpected text after the IPv6 address (expected ':port')");
      port_text = after.substr(1);
      if (port_text.empty()) return no("empty port after ':'");
    }
  } else {
    auto c = authority.rfind(':');
    if (c != std::string_view::npos) {
      if (authority.find(':') != c)
        return no("an IPv6 address must be written in brackets, e.g. [::1]:port");
      port_text = authority.substr(c + 1);
      if (port_text.empty()) return no("empty port after ':'");
      authority = authority.substr(0, c);
    }
    u.host = std::string(authority);
    if (!std::all_of(u.host.begin(), u.host.end(), is_host_char))
      return no("\"" + u.host + "\" is not a valid host name");
  }
  if (u.host.empty()) return no("missing host");
  if (!port_text.empty()) {
    unsigned long port = 0;
    if (!parse_number(port_text, port) || port > 65535)
      return no("port \"" + std::string(port_text) + "\" is not a number from 0 to 65535");
    u.port = static_cast<std::uint16_t>(port);
  } else if (t.default_port != 0) {
    u.port = t.default_port;
  } else {
    return no(t.scheme + ":// needs a port (" + t.scheme + "://host:port)");
  }
  return {};
}

} // namespace

std::optional<std::string> percent_decode(std::string_view in, bool plus_as_space, bad_escape bad) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      int hi = i + 2 < in.size() ? hex_value(in[i + 1]) : -1;
      int lo = i + 2 < in.size() ? hex_value(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        if (bad == bad_escape::fail) return std::nullopt;
        out.push_back('%');
        continue;
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (in[i] == '+' && plus_as_space) {
      out.push_back(' ');
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::optional<std::string_view> url::query_value(std::string_view key) const {
  for (auto& [k, v] : query)
    if (k == key) return std::string_view(v);
  return std::nullopt;
}

std::string url::authority() const {
  if (host.empty()) return path;
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string url::to_string() const {
  std::string s = scheme + "://";
  if (host.empty()) {
    // A local address as parse_url() reads it back: '%', '?' and '#' escaped.
    for (char c : path) {
      if (c == '%' || c == '?' || c == '#')
        s += percent_encode(std::string_view(&c, 1));
      else
        s += c;
    }
  } else {
    s += authority() + path;
  }
  char sep = '?';
  for (auto& [k, v] : query) {
    s += sep + percent_encode(k) + "=" + percent_encode(v);
    sep = '&';
  }
  return s;
}

result<url> parse_url(std::string_view text, std::string* why) {
  url u;
  auto colon = text.find("://");
  if (colon == std::string_view::npos)
    return bad(why, "missing \"://\" after the scheme (expected e.g. tcp://host:port)");
  u.scheme = lower(text.substr(0, colon));
  auto t = find_transport(u.scheme);
  if (!t)
    return bad(why,
               "unknown scheme \"" + std::string(text.substr(0, colon)) +
                   "\" (registered: " + scheme_list() + ")",
               errc::unknown_scheme);
  std::string_view rest = text.substr(colon + 3);

  if (auto hash = rest.find('#'); hash != std::string_view::npos)
    return bad(why, "a fragment (#...) has no meaning in an endpoint URL");
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }

  if (t->syntax == url_syntax::local) {
    if (rest.empty()) return bad(why, u.scheme + ":// needs an address after \"://\"");
    auto address = percent_decode(rest);
    if (!address) return bad(why, "bad percent-encoding in the address");
    u.path = std::move(*address);
  } else {
    std::string_view authority = rest, path;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
      authority = rest.substr(0, slash);
      path = rest.substr(slash);
    }
    if (auto ok = parse_authority(authority, *t, u, why); !ok) return fail(ok.error());
    if (t->syntax == url_syntax::host_port_path)
      u.path = path.empty() ? "/" : std::string(path);
    else if (!path.empty() && path != "/")
      return bad(why, "a path has no meaning in a " + u.scheme + ":// URL");
  }

  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq), true);
    auto value = eq == std::string_view::npos ? std::optional<std::string>(std::string())
                                              : percent_decode(pair.substr(eq + 1), true);
    if (!key || !value) return bad(why, "bad percent-encoding in the query string");
    if (*key == "timeout_ms") {
      long long ms = 0;
      if (!parse_number(*value, ms) || ms <= 0)
        return bad(why, "timeout_ms=" + *value + " is not a positive number of milliseconds");
      u.timeout = std::chrono::milliseconds(ms);
    } else if (*key == "max_message") {
      std::size_t n = 0;
      if (!parse_number(*value, n) || n == 0)
        return bad(why, "max_message=" + *value + " is not a positive number of bytes");
      u.max_message = n;
    } else if (*key == "impair") {
      auto spec = parse_impairment(*value);
      if (!spec)
        return bad(why, "impair=" + *value +
                            " is not an impairment (e.g. loss:0.02,delay:20ms; docs/impair.md)");
      u.impair = *spec;
    } else if (*key == "impair_seed") {
      std::uint64_t n = 0;
      if (!parse_number(*value, n)) return bad(why, "impair_seed=" + *value + " is not a number");
      u.impair_seed = n;
    }
    u.query.emplace_back(std::move(*key), std::move(*value));
  }
  // The transport's own options, checked now so that a typo fails here.
  if (auto o = apply_url_options(u, {}, why); !o) return fail(o.error());
  return u;
}

} // namespace coronet
