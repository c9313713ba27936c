// Private: batched datagram I/O on a non-blocking socket (recvmmsg /
// sendmmsg on Linux, one recvfrom / sendto per datagram elsewhere or when
// batching is off).  No waiting here: callers wait for readiness with Asio.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <memory>
#include <span>
#include <system_error>
#include <vector>

namespace coronet::detail {

struct received_datagram {
  std::span<std::byte> data; // up to the receive limit
  bool truncated = false;    // the datagram was larger than the limit
  sockaddr_storage from{};
  socklen_t from_size = 0;
};

class udp_batch_receiver {
public:
  /// `slots` datagrams of up to `max_datagram` bytes each per call.
  udp_batch_receiver(std::size_t slots, std::size_t max_datagram, bool batching);
  ~udp_batch_receiver();

  /// Reads what is there without waiting: the number of datagrams, or 0 with
  /// `ec` set (would_block when the socket is empty).
  std::size_t receive(int fd, std::error_code& ec);
  received_datagram& operator[](std::size_t i) { return got_[i]; }

  /// The buffer of slot `i` (max_datagram() + 1 bytes), for a read made by
  /// the caller; record() then describes what landed there.
  std::span<std::byte> slot(std::size_t i) { return {buffer_.get() + i * (max_ + 1), max_ + 1}; }
  received_datagram& record(std::size_t i, std::size_t size, const sockaddr* from,
                            socklen_t from_size);
  std::size_t max_datagram() const { return max_; }
  std::size_t slots() const { return slots_; }

private:
  struct native;
  std::size_t slots_, max_;
  bool batching_;
  std::unique_ptr<std::byte[]> buffer_; // slots * (max + 1): one spare byte detects truncation
  std::vector<received_datagram> got_;
  std::unique_ptr<native> native_;
};

class udp_batch_sender {
public:
  explicit udp_batch_sender(bool batching, std::size_t batch_size)
      : batching_(batching), batch_(batch_size ? batch_size : 1) {}

  /// Queues a copy of `data` for `to` (nullptr: the connected peer).
  void add(std::span<const std::byte> data, const sockaddr* to, socklen_t to_size);

  /// Sends one datagram now, bypassing the queue: would_block when the
  /// socket buffer is full, or the datagram's error.
  static std::error_code send_one(int fd, std::span<const std::byte> data, const sockaddr* to,
                                  socklen_t to_size);

  /// Sends what the socket takes now.  Returns would_block when it is full
  /// (wait for writability and call again) or the error of a datagram that
  /// could not be sent (that datagram is dropped; call again for the rest).
  std::error_code flush(int fd);

  bool empty() const { return next_ == entries_.size(); }
  std::size_t queued_bytes() const { return bytes_; }
  std::size_t queued_datagrams() const { return entries_.size() - next_; }

private:
  struct entry {
    std::size_t offset, size;
    sockaddr_storage to;
    socklen_t to_size;
  };
  void reset_if_done();

  bool batching_;
  std::size_t batch_;
  std::vector<std::byte> arena_;
  std::vector<entry> entries_;
  std::size_t next_ = 0, bytes_ = 0;
};

} // namespace coronet::detail
