// coronet::result<T>: the return type of every fallible coronet operation.
//
// It is tl::expected<T, std::error_code> where <tl/expected.hpp> is available
// and std::expected<T, std::error_code> otherwise (C++23).  Either way the
// spelling at a call site is the same:
//
//   auto n = co_await coronet::read_some(stream, buf);
//   if (!n) co_return n.error();
#pragma once

#include <system_error>
#include <utility>

#if __has_include(<tl/expected.hpp>) && !defined(CORONET_USE_STD_EXPECTED)
#include <tl/expected.hpp>
namespace coronet {
template <class T>
using result = tl::expected<T, std::error_code>;
using unexpected_error = tl::unexpected<std::error_code>;
namespace detail {
inline constexpr auto result_in_place = tl::in_place;
}
} // namespace coronet
#else
#include <expected>
namespace coronet {
template <class T>
using result = std::expected<T, std::error_code>;
using unexpected_error = std::unexpected<std::error_code>;
namespace detail {
inline constexpr auto result_in_place = std::in_place;
}
} // namespace coronet
#endif

namespace coronet {

/// Wraps an error code so that it converts to any result<T>.
inline unexpected_error fail(std::error_code ec) { return unexpected_error(ec); }

/// A result holding a T made from `args` in place.  On hot paths: a value
/// built first and then copied in can cost a store-forwarding stall.
template <class T, class... Args>
result<T> succeed(Args&&... args) {
  return result<T>(detail::result_in_place, std::forward<Args>(args)...);
}

} // namespace coronet
