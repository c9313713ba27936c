// Beast's fail loop for a conversation between two peers over an in-memory
// stream pair: operation 0, 1, 2, ... of one side fails in turn (as a dead
// connection would) until the conversation goes through.  Whatever fails,
// both sides must end, with an error or with their work done, within the
// limit: no hang (and, under the sanitizers, no crash or leak).
#pragma once

#include "run.hpp"

#include <coronet/memory_stream.hpp>
#include <coronet/timeout.hpp>

#include <asio/experimental/awaitable_operators.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <system_error>
#include <tuple>

namespace coronet::test {

/// How each side ended: empty when its part went through.
struct two_sides {
  std::error_code client, server;
};

/// Runs client(stream) and server(stream) (coroutines returning
/// awaitable<std::error_code>) at once over a memory_stream pair with those
/// faults; a side still running after `limit` ends with errc::timeout.
template <class Client, class Server>
two_sides converse(Client client, Server server, memory_stream_faults client_faults,
                   memory_stream_faults server_faults,
                   std::chrono::milliseconds limit = std::chrono::seconds(3)) {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context io;
  auto [a, b] = memory_stream::make_pair(io.get_executor(), client_faults, server_faults);
  auto bounded = [](asio::awaitable<std::error_code> side,
                    std::chrono::milliseconds limit) -> asio::awaitable<std::error_code> {
    auto as_result =
        [](asio::awaitable<std::error_code> s) -> asio::awaitable<result<std::error_code>> {
      co_return co_await std::move(s);
    };
    auto r = co_await with_timeout(as_result(std::move(side)), limit);
    co_return r ? *r : r.error();
  };
  auto both = [](auto c, auto s) -> asio::awaitable<std::tuple<std::error_code, std::error_code>> {
    co_return co_await (std::move(c) && std::move(s));
  };
  auto [c, s] =
      run(io, both(bounded(client(std::move(a)), limit), bounded(server(std::move(b)), limit)));
  return {c, s};
}

/// The fail loop: each side in turn fails at operation 0, 1, 2, ... (on top
/// of `base`) until the conversation goes through; every run must end both
/// sides, and the loop must have failed a few operations first.
template <class Client, class Server>
void check_fail_loop(Client client, Server server, memory_stream_faults base = {}) {
  for (bool client_fails : {true, false}) {
    bool passed = false;
    std::size_t fail_at = 0;
    for (; fail_at < 200 && !passed; ++fail_at) {
      INFO((client_fails ? "the client" : "the server") << " fails at operation " << fail_at);
      auto failing = base;
      failing.fail_at = fail_at;
      auto r = client_fails ? converse(client, server, failing, base)
                            : converse(client, server, base, failing);
      CHECK(r.client != errc::timeout);
      CHECK(r.server != errc::timeout);
      passed = !r.client && !r.server;
    }
    INFO((client_fails ? "the client" : "the server") << " failing");
    CHECK(passed);      // past its last operation, the conversation goes through
    CHECK(fail_at > 3); // and some operations did fail before
  }
}

} // namespace coronet::test
