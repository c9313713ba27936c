#include "redis_url.hpp"

#include <coronet/error.hpp>
#include <coronet/url.hpp>

#include <charconv>

namespace coronet {
namespace {

bool to_int(std::string_view s, int& out, int max) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out >= 0 && out <= max;
}

std::optional<std::string> decoded(std::string_view s) {
  return percent_decode(s, false, bad_escape::fail);
}

} // namespace

result<redis_address> parse_redis_url(std::string_view url, std::string& why) {
  redis_address a;
  auto bad = [&](std::string reason) -> result<redis_address> {
    why = "bad Redis URL \"" + std::string(url) + "\": " + std::move(reason);
    return fail(errc::invalid_url);
  };
  // Query options (unix:// only): db, password, user.
  auto apply_query = [&](std::string_view query) -> bool {
    while (!query.empty()) {
      auto amp = query.find('&');
      auto item = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      auto eq = item.find('=');
      auto key = item.substr(0, eq);
      auto value = decoded(eq == std::string_view::npos ? "" : item.substr(eq + 1));
      if (!value) return why = "bad escape in \"" + std::string(item) + "\"", false;
      if (key == "db") {
        if (!to_int(*value, a.db, 1'000'000)) return why = "db must be a number", false;
      } else if (key == "password") {
        a.password = *value;
      } else if (key == "user") {
        a.user = *value;
      } else {
        return why = "unknown option \"" + std::string(key) + "\"", false;
      }
    }
    return true;
  };

  if (url.starts_with("rediss://")) {
    why = "rediss:// (Redis over TLS) is not supported: hiredis 0.14 has no TLS";
    return fail(errc::unsupported);
  }
  if (url.starts_with("unix://")) {
    auto rest = url.substr(7);
    auto q = rest.find('?');
    auto path = decoded(rest.substr(0, q));
    if (!path || path->empty() || path->front() != '/')
      return bad("a Unix socket path must be absolute: unix:///path/to/redis.sock");
    a.path = *path;
    if (q != std::string_view::npos && !apply_query(rest.substr(q + 1))) return bad(why);
    return a;
  }
  if (!url.starts_with("redis://")) return bad("the scheme must be redis:// or unix://");
  auto rest = url.substr(8);
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    auto userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = userinfo.find(':');
    auto user = decoded(userinfo.substr(0, colon));
    auto password = decoded(colon == std::string_view::npos ? "" : userinfo.substr(colon + 1));
    if (!user || !password) return bad("bad escape in the user or password");
    // redis://:password@host (no user) and redis://password@host (old form).
    if (colon == std::string_view::npos) {
      a.password = *user;
    } else {
      a.user = *user;
      a.password = *password;
    }
  }
  if (authority.starts_with('[')) { // [::1]:6379
    auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("unclosed [ in the host");
    a.host = std::string(authority.substr(1, close - 1));
    authority = authority.substr(close + 1);
    if (!authority.empty() && !authority.starts_with(':')) return bad("junk after the host");
    if (!authority.empty() && !to_int(authority.substr(1), a.port, 65535))
      return bad("the port must be a number up to 65535");
  } else {
    auto colon = authority.rfind(':');
    a.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos && !to_int(authority.substr(colon + 1), a.port, 65535))
      return bad("the port must be a number up to 65535");
  }
  if (a.host.empty()) return bad("no host");
  if (slash != std::string_view::npos) {
    auto db = rest.substr(slash + 1);
    if (auto q = db.find('?'); q != std::string_view::npos)
      return bad("no query options on redis://");
    if (!db.empty() && !to_int(db, a.db, 1'000'000)) return bad("the path must be a db number");
  }
  return a;
}

} // namespace coronet
