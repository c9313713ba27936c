// memory_stream: an in-memory stream pair with fault injection, for testing
// protocols without sockets (in the spirit of Beast's test::stream and
// Netty's EmbeddedChannel).
//
//   auto [client, server] = coronet::memory_stream::make_pair(ex, {}, {.read_chunk = 1});
//
// Each end models the coronet stream concept.  Faults, per end:
// - fail_at: the Nth operation on this end (reads and writes counted
//   together, from 0) fails with `error`, and so does every later one, as a
//   dead connection would.  Rerunning a scenario with fail_at = 0, 1, 2, ...
//   until it succeeds exercises every error path.
// - read_chunk: each read returns at most this many bytes (1 = byte by byte).
// - write_chunk: each write_some accepts at most this many bytes (split writes).
// - capacity: bytes this end may have unread at the peer before writes wait
//   (0 = unbounded), to make a slow consumer.
// close() on one end is a FIN for the peer (end of stream after the buffered
// bytes) and makes the peer's later writes fail with connection_reset.
#pragma once

#include <coronet/stream.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/async_result.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>

#include <cstddef>
#include <limits>
#include <memory>
#include <string>
#include <utility>

namespace coronet {

struct memory_stream_faults {
  std::size_t fail_at = std::numeric_limits<std::size_t>::max();
  std::error_code error = asio::error::connection_reset;
  std::size_t read_chunk = 0;
  std::size_t write_chunk = 0;
  std::size_t capacity = 0;
};

class memory_stream {
public:
  using executor_type = asio::any_io_executor;

  static std::pair<memory_stream, memory_stream>
  make_pair(executor_type ex, memory_stream_faults first = {}, memory_stream_faults second = {});

  memory_stream(memory_stream&&) noexcept = default;
  memory_stream& operator=(memory_stream&&) noexcept = default;
  ~memory_stream();

  executor_type get_executor() const { return ex_; }

  result<void> shutdown(shutdown_type how);
  void close();
  std::string remote() const { return "memory"; }

  /// Operations started on this end so far (the fail_at counter).
  std::size_t operations() const { return ops_; }
  /// Bytes the peer wrote that this end has not read yet.
  std::size_t available() const;

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& b, Token&& token) {
    return async_op(do_read(first(b, asio::mutable_buffer{})), std::forward<Token>(token));
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& b, Token&& token) {
    return async_op(do_write(first(b, asio::const_buffer{})), std::forward<Token>(token));
  }

private:
  struct pipe;
  struct link;
  using outcome = std::pair<std::error_code, std::size_t>;

  memory_stream(executor_type ex, std::shared_ptr<link> l, bool second, memory_stream_faults f);

  template <class Buffers, class B>
  static B first(const Buffers& bs, B) {
    auto it = asio::buffer_sequence_begin(bs);
    auto end = asio::buffer_sequence_end(bs);
    for (; it != end; ++it)
      if (B(*it).size() > 0) return B(*it);
    return B{};
  }

  template <class Token>
  auto async_op(asio::awaitable<outcome> op, Token&& token) {
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        [this](auto handler, asio::awaitable<outcome> op) {
          auto slot = asio::get_associated_cancellation_slot(handler);
          asio::co_spawn(ex_, std::move(op),
                         asio::bind_cancellation_slot(
                             slot, [h = std::move(handler)](std::exception_ptr, outcome r) mutable {
                               std::move(h)(r.first, r.second);
                             }));
        },
        token, std::move(op));
  }

  asio::awaitable<outcome> do_read(asio::mutable_buffer buf);
  asio::awaitable<outcome> do_write(asio::const_buffer buf);
  bool inject_fault(std::error_code& ec);
  pipe& inbound() const;
  pipe& outbound() const;

  executor_type ex_;
  std::shared_ptr<link> link_;
  bool second_ = false;
  bool closed_ = false;
  memory_stream_faults faults_;
  std::size_t ops_ = 0;
};

static_assert(stream<memory_stream>);

} // namespace coronet
