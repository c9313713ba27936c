#include <coronet/codec.hpp>
#include <coronet/error.hpp>

#include <algorithm>
#include <cstring>

namespace coronet {

std::string_view to_string(framing f) noexcept {
  switch (f) {
  case framing::length_prefixed: return "length";
  case framing::line: return "line";
  case framing::raw: return "raw";
  }
  return "?";
}

result<decode_step> length_prefixed_codec::decode(std::span<const std::byte> in,
                                                  std::size_t max_message) {
  if (in.size() < 4) return decode_step{.wanted = 4};
  auto b = [&](int i) { return static_cast<std::size_t>(in[i]); };
  std::size_t length = b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
  if (length > max_message) return fail(errc::message_too_large);
  if (in.size() < 4 + length) return decode_step{.wanted = 4 + length};
  return decode_step{.consumed = 4 + length, .offset = 4, .length = length};
}

void length_prefixed_codec::encode(message_view m, std::vector<std::byte>& out) const {
  auto n = static_cast<std::uint32_t>(m.size());
  auto at = out.size();
  out.resize(at + 4 + m.size());
  out[at] = std::byte(n >> 24);
  out[at + 1] = std::byte(n >> 16);
  out[at + 2] = std::byte(n >> 8);
  out[at + 3] = std::byte(n);
  if (!m.empty()) std::memcpy(out.data() + at + 4, m.data.data(), m.size());
}

result<decode_step> line_codec::decode(std::span<const std::byte> in, std::size_t max_message) {
  auto begin = in.begin() + static_cast<std::ptrdiff_t>(std::min(scanned_, in.size()));
  auto nl = std::find(begin, in.end(), std::byte{'\n'});
  if (nl == in.end()) {
    scanned_ = in.size();
    if (in.size() > max_message) return fail(errc::message_too_large);
    return decode_step{};
  }
  scanned_ = 0;
  std::size_t end = static_cast<std::size_t>(nl - in.begin());
  std::size_t length = end;
  if (length > 0 && in[length - 1] == std::byte{'\r'}) --length;
  if (length > max_message) return fail(errc::message_too_large);
  return decode_step{.consumed = end + 1, .offset = 0, .length = length};
}

result<void> line_codec::check(message_view m) const {
  if (std::find(m.data.begin(), m.data.end(), std::byte{'\n'}) != m.data.end())
    return fail(errc::invalid_argument);
  return {};
}

void line_codec::encode(message_view m, std::vector<std::byte>& out) const {
  auto at = out.size();
  out.resize(at + m.size() + 1);
  if (!m.empty()) std::memcpy(out.data() + at, m.data.data(), m.size());
  out[at + m.size()] = std::byte{'\n'};
}

result<decode_step> raw_codec::decode(std::span<const std::byte> in, std::size_t) {
  if (in.empty()) return decode_step{};
  return decode_step{.consumed = in.size(), .offset = 0, .length = in.size()};
}

void raw_codec::encode(message_view m, std::vector<std::byte>& out) const {
  out.insert(out.end(), m.data.begin(), m.data.end());
}

} // namespace coronet
