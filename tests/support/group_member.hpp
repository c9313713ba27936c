// A group member for tests: a channel over an in-memory pair, and the peer
// end that reads what the group sends it (both on `ex`'s thread).
#pragma once

#include <coronet/framed.hpp>
#include <coronet/group.hpp>
#include <coronet/memory_stream.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace coronet::test {

using member_endpoint = framed<memory_stream, length_prefixed_codec>;

struct group_member {
  channel ch;
  std::optional<member_endpoint> peer;
  membership joined; ///< set by join_member()
};

/// `capacity`: bytes the pipe holds before the member's writes wait (0: no
/// limit); `send_queue`: its channel's send queue limit.
inline group_member make_member(asio::any_io_executor ex, std::size_t capacity = 0,
                                std::size_t send_queue = 4 * 1024 * 1024) {
  auto [x, y] = memory_stream::make_pair(ex, {.capacity = capacity});
  auto c = std::make_shared<endpoint_config>();
  c->options.send_queue_limit = send_queue;
  c->options.close_timeout = std::chrono::milliseconds(100);
  group_member m;
  m.ch = channel(member_endpoint(std::move(x), c));
  m.peer.emplace(std::move(y), c);
  return m;
}

/// A new member of `g` named `name`.
inline std::unique_ptr<group_member> join_member(asio::any_io_executor ex, group g,
                                                 std::string name) {
  auto m = std::make_unique<group_member>(make_member(std::move(ex)));
  auto j = g.join(m->ch, std::move(name));
  REQUIRE(j);
  m->joined = std::move(*j);
  return m;
}

} // namespace coronet::test
