// latency_histogram: a fixed-size log-linear histogram of durations.
//
// Values are nanoseconds.  Below 64 every value has its own bucket; above,
// each power of two is cut into 32 equal buckets, so a percentile read back
// is within about 3% of the true value at any scale.  Recording is a few
// instructions and never allocates, so it can sit on the hot path of the
// load generator for any number of samples.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

class latency_histogram {
public:
  void record(std::uint64_t ns) noexcept;
  void clear() noexcept;

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t max() const noexcept { return max_; }

  /// The smallest recorded value v such that a fraction `q` (0 < q <= 1) of
  /// the samples are <= v, as the midpoint of its bucket; 0 when empty.
  std::uint64_t percentile(double q) const noexcept;

private:
  static constexpr int sub_bucket_bits = 5;
  // The largest value, 2^64 - 1, lands in bucket (58 << 5) + 63.
  static constexpr std::size_t bucket_count = (58u << sub_bucket_bits) + 64;

  static std::size_t bucket_of(std::uint64_t ns) noexcept;
  static std::uint64_t lowest_in(std::size_t bucket) noexcept;
  static std::uint64_t width_of(std::size_t bucket) noexcept;

  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};
