#include "latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

// Bucket b < 64 holds exactly the value b.  Above, the top six bits of a
// value (its leading 1 and five more) pick the bucket: values with the same
// `shift` (bit length - 6) share 32 buckets of width 2^shift.
std::size_t latency_histogram::bucket_of(std::uint64_t ns) noexcept {
  if (ns < 64) return static_cast<std::size_t>(ns);
  auto shift = static_cast<unsigned>(std::bit_width(ns)) - 1 - sub_bucket_bits;
  return (static_cast<std::size_t>(shift) << sub_bucket_bits) +
         static_cast<std::size_t>(ns >> shift);
}

std::uint64_t latency_histogram::lowest_in(std::size_t bucket) noexcept {
  if (bucket < 64) return bucket;
  auto shift = (bucket >> sub_bucket_bits) - 1;
  auto top = (bucket & ((1u << sub_bucket_bits) - 1)) + (1u << sub_bucket_bits);
  return static_cast<std::uint64_t>(top) << shift;
}

std::uint64_t latency_histogram::width_of(std::size_t bucket) noexcept {
  if (bucket < 64) return 1;
  return std::uint64_t{1} << ((bucket >> sub_bucket_bits) - 1);
}

void latency_histogram::record(std::uint64_t ns) noexcept {
  ++buckets_[bucket_of(ns)];
  ++count_;
  max_ = std::max(max_, ns);
}

void latency_histogram::clear() noexcept {
  buckets_.fill(0);
  count_ = 0;
  max_ = 0;
}

std::uint64_t latency_histogram::percentile(double q) const noexcept {
  if (count_ == 0) return 0;
  auto rank =
      static_cast<std::uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < bucket_count; ++b) {
    seen += buckets_[b];
    if (seen >= rank) return std::min(lowest_in(b) + width_of(b) / 2, max_);
  }
  return max_;
}
