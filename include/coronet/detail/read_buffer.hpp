// Private: how framed<> and websocket<> reshape their receive buffers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>

namespace coronet::detail {

/// Before a read into `buf` (`capacity` bytes, of which [begin, end) are
/// read and not consumed yet): makes it `cap` bytes if that differs, the
/// unconsumed bytes moved to the front; at the same size, moves them to the
/// front when fewer than `room` bytes, or fewer than a quarter of the
/// buffer, are free after them.
inline void reshape_read_buffer(std::unique_ptr<std::byte[]>& buf, std::size_t& capacity,
                                std::size_t& begin, std::size_t& end, std::size_t cap,
                                std::size_t room) {
  std::size_t have = end - begin;
  if (cap != capacity) {
    std::unique_ptr<std::byte[]> other(new std::byte[cap]);
    if (have) std::memcpy(other.get(), buf.get() + begin, have);
    buf = std::move(other);
    capacity = cap;
  } else if (begin > 0 && capacity - end < std::max(room, capacity / 4)) {
    std::memmove(buf.get(), buf.get() + begin, have);
  } else {
    return;
  }
  begin = 0;
  end = have;
}

} // namespace coronet::detail
