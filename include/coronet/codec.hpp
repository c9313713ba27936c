// Framing codecs: how a byte stream is cut into messages and how messages are
// written onto one.  Codecs are plain compiled classes with no I/O; framed<S,
// Codec> drives them.  Each keeps only the state it needs to resume a decode
// after more bytes arrive, so feeding input one byte at a time costs O(n).
#pragma once

#include <coronet/message.hpp>
#include <coronet/result.hpp>

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

namespace coronet {

/// How a byte stream is cut into messages.
enum class framing {
  length_prefixed, ///< each message preceded by its length, u32 big-endian
  line,            ///< each message ends with '\n' (a preceding '\r' is dropped)
  raw,             ///< no framing: each read is one message, boundaries are not kept
};

/// "length", "line" or "raw".
std::string_view to_string(framing f) noexcept;

/// The outcome of one decode step over the bytes buffered so far.
struct decode_step {
  std::size_t consumed = 0; ///< bytes to drop after the message is used; 0 = need more input
  std::size_t offset = 0;   ///< where the payload starts
  std::size_t length = 0;   ///< payload length
  std::size_t wanted = 0;   ///< when consumed == 0: total bytes needed, if known (else 0)
};

/// u32 big-endian length, then the payload.  A declared length above the
/// limit fails with errc::message_too_large as soon as the 4 header bytes are
/// in, before any buffer of that size exists.
class length_prefixed_codec {
public:
  static constexpr coronet::framing kind = framing::length_prefixed;
  static constexpr bool preserves_boundaries = true;
  static constexpr std::size_t max_encodable = 0xffffffffu;

  result<decode_step> decode(std::span<const std::byte> in, std::size_t max_message);
  void encode(message_view m, std::vector<std::byte>& out) const;
  void reset() {}
};

/// One message per line, terminated by '\n'; a '\r' before it is dropped.
/// A line longer than the limit fails with errc::message_too_large.
class line_codec {
public:
  static constexpr coronet::framing kind = framing::line;
  static constexpr bool preserves_boundaries = true;
  static constexpr std::size_t max_encodable = static_cast<std::size_t>(-1);

  result<decode_step> decode(std::span<const std::byte> in, std::size_t max_message);
  /// Fails (errc::invalid_argument) if the message itself contains '\n'.
  result<void> check(message_view m) const;
  void encode(message_view m, std::vector<std::byte>& out) const;
  void reset() { scanned_ = 0; }

private:
  std::size_t scanned_ = 0; // bytes already searched for '\n'
};

/// No framing: whatever one read returned is one message.
class raw_codec {
public:
  static constexpr coronet::framing kind = framing::raw;
  static constexpr bool preserves_boundaries = false;
  static constexpr std::size_t max_encodable = static_cast<std::size_t>(-1);

  result<decode_step> decode(std::span<const std::byte> in, std::size_t max_message);
  void encode(message_view m, std::vector<std::byte>& out) const;
  void reset() {}
};

} // namespace coronet
