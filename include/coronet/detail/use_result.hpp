// Completion-token helpers that turn Asio's (error_code, value) completions
// into coronet::result<T> without exceptions.
#pragma once

#include <coronet/error.hpp>
#include <coronet/result.hpp>

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <cstddef>

namespace coronet::detail {

/// `co_await op(..., use_tuple)` yields std::tuple<std::error_code, ...>.
inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

/// End of stream and a locally aborted operation both mean "closed" to a
/// message endpoint; everything else is passed through unchanged.
inline std::error_code normalize_stream_error(std::error_code ec) noexcept {
  if (ec == asio::error::eof || ec == asio::error::operation_aborted ||
      ec == asio::error::bad_descriptor || ec == asio::error::shut_down)
    return errc::closed;
  return ec;
}

} // namespace coronet::detail
