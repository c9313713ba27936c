// The stream concept and the algorithms every stream gets.
//
// A coronet stream is a byte pipe with one reader and one writer at a time:
//
// - an Asio AsyncReadStream / AsyncWriteStream: s.async_read_some(buffer,
//   token) and s.async_write_some(buffer, token) with any completion token,
//   which is what lets the message endpoints coalesce writes with callbacks
//   instead of a coroutine per write;
// - s.shutdown(direction): result<void>, half-close;
// - s.close(): abort; pending operations complete;
// - s.remote(): std::string, the peer's address for logs.
//
// The coroutine forms are free functions written once for every stream:
//
//   auto n = co_await coronet::read_some(s, asio::buffer(buf));  // >= 1 byte, or an error
//   if (!n) co_return n.error();                                 // end of stream: errc::closed
//   co_await coronet::write(s, asio::buffer(reply));             // all bytes, or an error
//
// (Call them qualified: unqualified, argument-dependent lookup also finds
// asio::write.)  tcp_stream, memory_stream and tls_stream<S> model it.
#pragma once

#include <coronet/detail/use_result.hpp>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/read.hpp>
#include <asio/socket_base.hpp>
#include <asio/write.hpp>

#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>

namespace coronet {

using shutdown_type = asio::socket_base::shutdown_type;

template <class S>
concept stream = requires(S& s, asio::mutable_buffer mb, asio::const_buffer cb, shutdown_type how) {
  typename S::executor_type;
  { s.get_executor() } -> std::convertible_to<typename S::executor_type>;
  { s.shutdown(how) } -> std::same_as<result<void>>;
  s.close();
  { s.remote() } -> std::convertible_to<std::string>;
  s.async_read_some(mb, detail::use_tuple);
  s.async_write_some(cb, detail::use_tuple);
};

namespace detail {
// Optional stream members that message endpoints use when present.
template <class S>
concept has_try_write = requires(S& s, asio::const_buffer b, std::error_code& ec) {
  { s.try_write_some(b, ec) } -> std::convertible_to<std::size_t>;
};
template <class S>
concept has_try_read = requires(S& s, asio::mutable_buffer b, std::error_code& ec) {
  { s.try_read_some(b, ec) } -> std::convertible_to<std::size_t>;
};
template <class S>
concept has_unacknowledged = requires(const S& s) {
  { s.unacknowledged_bytes() } -> std::convertible_to<long>;
};
} // namespace detail

/// Reads what is there (at least 1 byte; `buf` valid until completion).
/// Completes with errc::closed at end of stream or after close(), or the
/// stream's error (asio::error::connection_reset, ...).
template <stream S>
asio::awaitable<result<std::size_t>> read_some(S& s, asio::mutable_buffer buf) {
  auto [ec, n] = co_await s.async_read_some(buf, detail::use_tuple);
  if (ec) co_return fail(detail::normalize_stream_error(ec));
  co_return n;
}

/// Writes all of `buf` (valid until completion), or fails with the error
/// that stopped it.
template <stream S>
asio::awaitable<result<std::size_t>> write(S& s, asio::const_buffer buf) {
  auto [ec, n] = co_await asio::async_write(s, buf, detail::use_tuple);
  if (ec) co_return fail(detail::normalize_stream_error(ec));
  co_return n;
}

/// Reads exactly `buf.size()` bytes.  Completes with errc::closed if the
/// stream ends first (the bytes read so far are in `buf`).
template <stream S>
asio::awaitable<result<std::size_t>> read_exactly(S& s, asio::mutable_buffer buf) {
  auto [ec, n] = co_await asio::async_read(s, buf, detail::use_tuple);
  if (ec) co_return fail(detail::normalize_stream_error(ec));
  co_return n;
}

/// Reads until `delim` appears in `buf` (bytes already in `buf` count) and
/// returns the length of the data up to and including the delimiter; bytes
/// after it stay in `buf` for the next call.  Fails with
/// errc::message_too_large once `buf` would grow beyond `max_size` without a
/// delimiter.
template <stream S>
asio::awaitable<result<std::size_t>> read_until(S& s, std::string& buf, std::string_view delim,
                                                std::size_t max_size = 64 * 1024) {
  std::size_t scanned = 0;
  for (;;) {
    auto pos = buf.find(delim, scanned);
    if (pos != std::string::npos) co_return pos + delim.size();
    if (buf.size() >= max_size) co_return fail(errc::message_too_large);
    scanned = buf.size() >= delim.size() ? buf.size() - delim.size() + 1 : 0;
    auto old = buf.size();
    buf.resize(std::min(max_size, old + 4096));
    auto n = co_await coronet::read_some(s, asio::buffer(buf.data() + old, buf.size() - old));
    buf.resize(old + (n ? *n : 0));
    if (!n) co_return fail(n.error());
  }
}

} // namespace coronet
