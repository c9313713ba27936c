#include "payload_pattern.hpp"

std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15u;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

payload_pattern::payload_pattern(std::size_t longest_window) : bytes_(period + longest_window) {
  for (std::size_t i = 0; i < period; ++i) bytes_[i] = std::byte(mix(i) >> 56);
  for (std::size_t i = period; i < bytes_.size(); ++i) bytes_[i] = bytes_[i - period];
}
