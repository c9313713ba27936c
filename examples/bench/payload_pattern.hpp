// payload_pattern: the bytes the load generators put in their messages.
//
// A message's bytes are a fixed function of which message it is, so that
// an echo can be checked byte by byte without keeping a copy of everything
// sent.  Payloads are windows of one table of pseudo-random bytes, cut at an
// offset hashed from the message's identity: building a 64 KiB message costs
// a memcpy rather than 8192 hashes.  The table's period is prime, so windows
// at different offsets differ at almost every byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

/// A 64-bit mixing function (splitmix64's finalizer): every output bit
/// depends on every input bit.
std::uint64_t mix(std::uint64_t x);

class payload_pattern {
public:
  /// A table from which windows of up to `longest_window` bytes can be cut.
  explicit payload_pattern(std::size_t longest_window);

  /// The first of longest_window bytes chosen by `key`; any prefix of them
  /// is a message body.  Windows start at multiples of 4 (so that a masked
  /// copy of the table, see load_generator.cpp, lines up with every window).
  const std::byte* window(std::uint64_t key) const { return bytes_.data() + offset(key); }
  /// Where window(key) starts in the table.
  std::size_t offset(std::uint64_t key) const {
    return static_cast<std::size_t>(mix(key) % period) & ~std::size_t{3};
  }
  /// The whole table, windows of every offset included.
  const std::vector<std::byte>& bytes() const { return bytes_; }

private:
  static constexpr std::size_t period = 65521;
  std::vector<std::byte> bytes_;
};
