// Private: the compiled WebSocket protocol engine (RFC 6455 framing on wslay)
// that websocket<Stream> drives.  It does no I/O: it owns the input buffer,
// which the stream reads into (input_space(), commit_input()); frames to
// write come out appended to a byte vector.
// Keeping wslay behind this class is what keeps <wslay/wslay.h> out of the
// public headers and the framing code out of every template instantiation.
#pragma once

#include <coronet/error.hpp>
#include <coronet/message.hpp>
#include <coronet/result.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace coronet::detail {

/// Copies n bytes, XORing them with a WebSocket masking key (masking and
/// unmasking are the same operation); `phase` is the offset of src[0] in the
/// frame's payload.  The engine's own loop, shared with the bench's client.
void unmask_copy(std::byte* dst, const std::byte* src, std::size_t n, const std::uint8_t key[4],
                 std::uint64_t phase);

class ws_protocol {
public:
  enum class role : unsigned char { server, client };

  /// `read_buffer_size`: the largest read (options::read_buffer_size); the
  /// input buffer starts at 4 KiB and grows to it, and binary frames of up
  /// to four times it are kept whole in it.
  ws_protocol(role r, std::size_t max_message, std::size_t fragment_size,
              std::size_t read_buffer_size);
  ~ws_protocol();
  ws_protocol(ws_protocol&&) noexcept;
  ws_protocol& operator=(ws_protocol&&) noexcept;

  /// Where the next read goes: room after the input not parsed yet.  The
  /// buffer is moved or grown only here, so call it once next() returned
  /// nothing (messages are handed out from it).
  std::span<std::byte> input_space();
  /// `n` bytes were read into input_space(): parses them.  Complete
  /// messages become available from next(); automatic replies (pong, the
  /// close echo, a close for a protocol violation) are appended to `out`.
  /// A frame that is a whole message is unmasked where it was read and
  /// handed out from there; a binary frame a read cut, of up to four times
  /// read_buffer_size, waits there for its rest.
  void commit_input(std::size_t n, std::vector<std::byte>& out);
  /// Bytes that came with the opening handshake, parsed as if read.
  void prime(std::span<const std::byte> in, std::vector<std::byte>& out);

  /// The next complete message, or nothing.  The view stays valid until the
  /// next call of next() or commit_input().  Inline: a pipelined read hands out many
  /// messages, and a call that returns one through memory stalls its
  /// caller's first load of it.
  std::optional<message_view> next() {
    if (taken_ < ready_count_) {
      auto& m = ready_[taken_++];
      return m.message;
    }
    return next_after_last();
  }
  /// next() for try_receive(): the message, or errc::would_block.
  result<message_view> try_next() {
    if (taken_ < ready_count_) {
      auto& m = ready_[taken_++];
      return succeed<message_view>(m.message);
    }
    next_after_last();
    return fail(errc::would_block);
  }

  /// Why no more messages will come once the ready ones are taken; empty
  /// while the connection is open.
  std::error_code receive_error() const;
  /// From now on data messages are parsed and dropped, what was read and
  /// not parsed yet included, and reads go to a small buffer of their own:
  /// the message next() returned last stays valid (close() reads for the
  /// peer's close frame this way).  Replies go to `out`.
  void discard_messages(std::vector<std::byte>& out);
  bool discarding() const;
  /// Ends receiving locally (receive_error() becomes `why` if it was empty).
  void stop_receiving(std::error_code why);

  /// Appends the frame(s) of a data message to `out`.  Fails with
  /// errc::closed once a close frame was sent, errc::invalid_utf8 for text
  /// that is not UTF-8.  (The message in two arguments: they travel in
  /// registers, a message_view on the stack.)
  result<void> send(std::span<const std::byte> data, message_kind kind,
                    std::vector<std::byte>& out);
  /// Appends a ping (payload at most 125 bytes).
  result<void> ping(std::span<const std::byte> payload, std::vector<std::byte>& out);
  /// Appends a close frame unless one was sent already.  An invalid code is
  /// sent as 1000 without a reason; a reason is cut to 123 bytes.
  void close(std::uint16_t code, std::string_view reason, std::vector<std::byte>& out);

  bool close_sent() const;
  bool close_received() const;
  /// The peer's close frame: code (1005 when it had none) and reason.
  std::uint16_t peer_close_code() const;
  std::string_view peer_close_reason() const;
  /// True if a pong arrived since the last call.
  bool take_pong();
  /// Bytes of heap the engine holds now (for the idle-memory figures).
  std::size_t buffered_bytes() const;

  // Each entry holds the message_view itself, copied out as one object:
  // assembled from a pointer and a length, a view is stored in two
  // halves, and the caller's first copy of it, which loads both at once,
  // stalls (no store forwarding).
  struct ready_message {
    message_view message; // its bytes set once the arena stopped moving
    bool in_arena;        // else in the input buffer (taken in place)
    std::size_t offset;   // in the arena
  };
  static_assert(std::is_trivially_copyable_v<message_view>);

private:
  struct impl;
  std::optional<message_view> next_after_last();
  std::size_t parse(std::span<const std::byte> in, std::byte* writable, std::size_t keep,
                    std::vector<std::byte>& out);
  void sync_ready(); // from the engine, after it changed its ready messages

  std::unique_ptr<impl> impl_;
  // The engine's complete messages, for next()'s inline path; the engine
  // learns how many were taken when it is next called.
  const ready_message* ready_ = nullptr;
  std::size_t ready_count_ = 0, taken_ = 0;
};

/// True if `s` is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates).
bool is_valid_utf8(std::span<const std::byte> s) noexcept;

} // namespace coronet::detail
