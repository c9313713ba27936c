// Private: where a redis_layer connects, from its URL.
#pragma once

#include <coronet/result.hpp>

#include <string>
#include <string_view>

namespace coronet {

struct redis_address {
  std::string host; ///< empty for a Unix socket
  int port = 6379;
  std::string path; ///< a Unix socket's path
  int db = 0;
  std::string user, password;
};

/// redis://[[user]:password@]host[:port][/db] or
/// unix:///path[?db=N&password=P&user=U].  Fails with errc::invalid_url, or
/// errc::unsupported for rediss:// (no TLS in hiredis 0.14); `why` says what.
result<redis_address> parse_redis_url(std::string_view url, std::string& why);

} // namespace coronet
