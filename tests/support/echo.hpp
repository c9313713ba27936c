// What the integration and interop tests share: the echo handler every
// server runs, a bounded receive, and the message bytes they send.
#pragma once

#include <coronet/channel.hpp>

#include <chrono>
#include <cstddef>
#include <string>

namespace coronet::test {

/// Sends every message back to its sender until the channel ends.
inline asio::awaitable<void> echo(coronet::channel ch) {
  while (auto m = co_await ch.receive())
    if (!co_await ch.send(*m)) break;
}

/// receive() with the channel's deadline set to `limit` first, so that a
/// message that never comes fails the test instead of hanging it.
inline asio::awaitable<result<message_view>> receive_within(channel& ch,
                                                            std::chrono::milliseconds limit) {
  ch.set_receive_timeout(limit);
  co_return co_await ch.receive();
}

/// `n` letters, a fixed function of (n, seed), so that an echo can be checked
/// and two messages of one test differ.
inline std::string pattern(std::size_t n, std::size_t seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (seed + i * 7) % 26);
  return s;
}

} // namespace coronet::test
