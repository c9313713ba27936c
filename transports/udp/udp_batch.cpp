#include "udp_batch.hpp"

#include <asio/error.hpp>

#include <netinet/in.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace coronet::detail {

namespace {
std::error_code last_error() {
  int e = errno;
  if (e == EAGAIN || e == EWOULDBLOCK) return asio::error::would_block;
  return {e, std::system_category()};
}
} // namespace

#if defined(__linux__)
struct udp_batch_receiver::native {
  std::vector<mmsghdr> headers;
  std::vector<iovec> iovs;
};
#else
struct udp_batch_receiver::native {};
#endif

udp_batch_receiver::udp_batch_receiver(std::size_t slots, std::size_t max_datagram, bool batching)
    : slots_(slots ? slots : 1), max_(max_datagram), batching_(batching),
      buffer_(new std::byte[slots_ * (max_ + 1)]), got_(slots_),
      native_(std::make_unique<native>()) {
#if defined(__linux__)
  native_->headers.resize(slots_);
  native_->iovs.resize(slots_);
#endif
}

udp_batch_receiver::~udp_batch_receiver() = default;

std::size_t udp_batch_receiver::receive(int fd, std::error_code& ec) {
  ec = {};
  // One byte beyond the limit in each slot: a datagram that fills it is too large.
  const std::size_t room = max_ + 1;
#if defined(__linux__)
  if (batching_ && slots_ > 1) {
    auto& h = native_->headers;
    auto& v = native_->iovs;
    for (std::size_t i = 0; i < slots_; ++i) {
      v[i] = {buffer_.get() + i * room, room};
      h[i] = {};
      h[i].msg_hdr.msg_iov = &v[i];
      h[i].msg_hdr.msg_iovlen = 1;
      h[i].msg_hdr.msg_name = &got_[i].from;
      h[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    }
    int n = ::recvmmsg(fd, h.data(), static_cast<unsigned>(slots_), MSG_DONTWAIT, nullptr);
    if (n < 0) {
      ec = last_error();
      return 0;
    }
    for (int i = 0; i < n; ++i) {
      auto size = static_cast<std::size_t>(h[i].msg_len);
      bool truncated = size > max_ || (h[i].msg_hdr.msg_flags & MSG_TRUNC);
      got_[i].data = {buffer_.get() + i * room, std::min(size, max_)};
      got_[i].truncated = truncated;
      got_[i].from_size = h[i].msg_hdr.msg_namelen;
    }
    return static_cast<std::size_t>(n);
  }
#endif
  got_[0].from_size = sizeof(sockaddr_storage);
  auto n = ::recvfrom(fd, buffer_.get(), room, MSG_DONTWAIT | MSG_TRUNC,
                      reinterpret_cast<sockaddr*>(&got_[0].from), &got_[0].from_size);
  if (n < 0) {
    ec = last_error();
    return 0;
  }
  auto size = static_cast<std::size_t>(n); // MSG_TRUNC: the real length
  got_[0].data = {buffer_.get(), std::min(size, max_)};
  got_[0].truncated = size > max_;
  return 1;
}

received_datagram& udp_batch_receiver::record(std::size_t i, std::size_t size, const sockaddr* from,
                                              socklen_t from_size) {
  auto& d = got_[i];
  d.data = slot(i).first(std::min(size, max_));
  d.truncated = size > max_;
  d.from_size = std::min<socklen_t>(from_size, sizeof d.from);
  std::memcpy(&d.from, from, d.from_size);
  return d;
}

std::error_code udp_batch_sender::send_one(int fd, std::span<const std::byte> data,
                                           const sockaddr* to, socklen_t to_size) {
  if (::sendto(fd, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL, to, to_size) < 0)
    return last_error();
  return {};
}

void udp_batch_sender::add(std::span<const std::byte> data, const sockaddr* to, socklen_t to_size) {
  entry e{arena_.size(), data.size(), {}, 0};
  if (to) {
    std::memcpy(&e.to, to, to_size);
    e.to_size = to_size;
  }
  arena_.insert(arena_.end(), data.begin(), data.end());
  entries_.push_back(e);
  bytes_ += data.size();
}

void udp_batch_sender::reset_if_done() {
  if (next_ == entries_.size()) {
    entries_.clear();
    next_ = 0;
    bytes_ = 0;
    if (arena_.capacity() > (1u << 20))
      std::vector<std::byte>().swap(arena_);
    else
      arena_.clear();
  }
}

std::error_code udp_batch_sender::flush(int fd) {
  while (next_ < entries_.size()) {
#if defined(__linux__)
    if (batching_ && entries_.size() - next_ > 1) {
      std::size_t count = std::min(batch_, entries_.size() - next_);
      mmsghdr h[64];
      iovec v[64];
      count = std::min<std::size_t>(count, 64);
      for (std::size_t i = 0; i < count; ++i) {
        auto& e = entries_[next_ + i];
        v[i] = {arena_.data() + e.offset, e.size};
        h[i] = {};
        h[i].msg_hdr.msg_iov = &v[i];
        h[i].msg_hdr.msg_iovlen = 1;
        if (e.to_size) {
          h[i].msg_hdr.msg_name = &e.to;
          h[i].msg_hdr.msg_namelen = e.to_size;
        }
      }
      int n = ::sendmmsg(fd, h, static_cast<unsigned>(count), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        auto ec = last_error();
        if (ec == asio::error::would_block) return ec;
        bytes_ -= entries_[next_].size; // the first datagram failed: drop it
        ++next_;
        reset_if_done();
        return ec;
      }
      for (int i = 0; i < n; ++i) bytes_ -= entries_[next_ + static_cast<std::size_t>(i)].size;
      next_ += static_cast<std::size_t>(n);
      continue;
    }
#endif
    auto& e = entries_[next_];
    auto n = ::sendto(fd, arena_.data() + e.offset, e.size, MSG_DONTWAIT | MSG_NOSIGNAL,
                      e.to_size ? reinterpret_cast<const sockaddr*>(&e.to) : nullptr, e.to_size);
    if (n < 0) {
      auto ec = last_error();
      if (ec == asio::error::would_block) return ec;
      bytes_ -= e.size;
      ++next_;
      reset_if_done();
      return ec;
    }
    bytes_ -= e.size;
    ++next_;
  }
  reset_if_done();
  return {};
}

} // namespace coronet::detail
