// RFC 6455 framing: coronet's own data path, wslay's event API for control
// frames and the close handshake, all fed from the engine's own input buffer.
//
// One parser reads every frame header, data and control alike: it
// validates the header as it completes (lengths minimally encoded, reserved
// bits and opcodes, masking by role, control frames whole and at most 125
// bytes) and sends a data frame's payload through the data path below.  A
// control frame, once whole, is handed to wslay, which reads it a second
// time.  Two readers of the same 2 to 139 bytes, on purpose: wslay keeps the
// close-handshake state (whether a close was sent or received, the echo,
// which codes and reasons are valid, UTF-8 in the reason) and answers pings,
// and that logic is not copied here; the second read costs nothing next to
// a syscall, and it happens on control frames only.
//
// Data frames (text, binary, continuation) never reach wslay: their
// payloads are unmasked 16 bytes a step (copy and unmask fused), text is
// checked for UTF-8 as it arrives (fail-fast, even mid-fragment), and
// message size is checked over all fragments.  wslay unmasks a byte at a
// time through a 4 KiB buffer and copies every chunk twice more; on 64 KiB
// messages that was three quarters of the server's time
// (docs/benchmarks.md).  Outgoing data frames are encoded here for the same
// reason (no allocation per message); pings and close frames we send are
// queued through wslay.  Every frame, ours or wslay's, is appended to the
// caller's write queue at once, so frames never interleave and the order is
// the order of the calls.
//
// A frame that is a whole message is unmasked where it was read, in the
// input buffer, and handed out from there.  Other messages are reassembled
// in one arena: complete messages are appended one after another and handed
// out in order; the arena is emptied once all of them were taken, so a read
// that carries many small messages costs no allocation per message.
#include "random.hpp"

#include <coronet/detail/read_buffer.hpp>
#include <coronet/detail/ws_protocol.hpp>
#include <coronet/error.hpp>

#include <wslay/wslay.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <utility>

namespace coronet::detail {
namespace {

constexpr std::size_t max_header = 14;

using ready_message = ws_protocol::ready_message;

// Incremental UTF-8 check (RFC 3629: no overlongs, no surrogates, nothing
// above U+10FFFF); a sequence may be split across calls.
class utf8_validator {
public:
  bool feed(const unsigned char* p, std::size_t n) {
    std::size_t i = 0;
    while (i < n) {
      if (need_ == 0) {
        while (i + 8 <= n) { // ASCII runs, eight bytes at a time
          std::uint64_t w;
          std::memcpy(&w, p + i, 8);
          if (w & 0x8080808080808080ull) break;
          i += 8;
        }
        if (i == n) break;
        unsigned char c = p[i++];
        if (c < 0x80) continue;
        lo_ = 0x80;
        hi_ = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
          need_ = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
          need_ = 2;
          if (c == 0xe0) lo_ = 0xa0; // overlong
          if (c == 0xed) hi_ = 0x9f; // surrogates
        } else if (c >= 0xf0 && c <= 0xf4) {
          need_ = 3;
          if (c == 0xf0) lo_ = 0x90; // overlong
          if (c == 0xf4) hi_ = 0x8f; // above U+10FFFF
        } else {
          return false;
        }
        continue;
      }
      unsigned char c = p[i++];
      if (c < lo_ || c > hi_) return false;
      lo_ = 0x80;
      hi_ = 0xbf;
      --need_;
    }
    return true;
  }
  bool complete() const { return need_ == 0; }
  void reset() { need_ = 0; }

private:
  unsigned char need_ = 0, lo_ = 0x80, hi_ = 0xbf;
};

// An allocator whose resize() leaves new bytes uninitialized.
template <class T>
struct uninitialized_allocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = uninitialized_allocator<U>;
  };
  uninitialized_allocator() = default;
  template <class U>
  uninitialized_allocator(const uninitialized_allocator<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using byte_arena = std::vector<std::byte, uninitialized_allocator<std::byte>>;

} // namespace

namespace {

// The masking key as it lies in memory, turned so that its first byte
// applies to payload offset `phase`.  Turned in a register: a key assembled
// byte by byte on the stack and then loaded whole stalls the load (no store
// forwarding), once per frame.
std::uint32_t key_at(std::uint32_t key, std::uint64_t phase) {
  auto bits = static_cast<int>(phase % 4) * 8;
  return std::endian::native == std::endian::little ? std::rotr(key, bits) : std::rotl(key, bits);
}

// 16 bytes a step (one SSE register on x86-64, a NEON one on ARM, through
// GCC's and Clang's vector extension); `key` applies from dst[0] on.
inline void xor_copy(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t key) {
  using block = unsigned char __attribute__((vector_size(16)));
  using lanes = std::uint32_t __attribute__((vector_size(16)));
  auto k16 = reinterpret_cast<block>(lanes{key, key, key, key});
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) { // four at a time: a quarter faster on 64 KiB
    block w0, w1, w2, w3;
    std::memcpy(&w0, src + i, 16);
    std::memcpy(&w1, src + i + 16, 16);
    std::memcpy(&w2, src + i + 32, 16);
    std::memcpy(&w3, src + i + 48, 16);
    w0 ^= k16;
    w1 ^= k16;
    w2 ^= k16;
    w3 ^= k16;
    std::memcpy(dst + i, &w0, 16);
    std::memcpy(dst + i + 16, &w1, 16);
    std::memcpy(dst + i + 32, &w2, 16);
    std::memcpy(dst + i + 48, &w3, 16);
  }
  for (; i + 16 <= n; i += 16) {
    block w;
    std::memcpy(&w, src + i, 16);
    w ^= k16;
    std::memcpy(dst + i, &w, 16);
  }
  if (i == n) return;
  unsigned char k[4];
  std::memcpy(k, &key, 4);
  for (; i < n; ++i) dst[i] = src[i] ^ std::byte{k[i % 4]};
}

} // namespace

void unmask_copy(std::byte* dst, const std::byte* src, std::size_t n, const std::uint8_t key[4],
                 std::uint64_t phase) {
  std::uint32_t k;
  std::memcpy(&k, key, 4);
  xor_copy(dst, src, n, key_at(k, phase));
}

namespace {

std::error_code error_for_sent_code(std::uint16_t code) {
  switch (code) {
  case 1007: return errc::invalid_utf8;
  case 1009: return errc::message_too_large;
  default: return errc::protocol_error;
  }
}

std::error_code error_for_received_code(std::uint16_t code) {
  if (code == 1000 || code == 1001 || code == 1005) return errc::closed;
  return {code, close_code_category()};
}

} // namespace

struct ws_protocol::impl {
  wslay_event_context_ptr ctx = nullptr;
  role side;
  std::size_t max_message, fragment_size, read_buffer_size;

  // The input buffer: [rbegin, rend) of rbuf is read and not parsed yet,
  // the start of a frame taken in place once complete.  Messages taken in
  // place live in rbuf too, so it is reshaped (moved, grown) only in
  // input_space(), before a read, when every message was taken.
  std::unique_ptr<std::byte[]> rbuf;
  std::size_t rcap = 0, rbegin = 0, rend = 0;
  bool grow_hint = false;
  // Once discarding: reads go here and are parsed from here, so that rbuf,
  // and the message the application may hold, stay as they are.
  std::unique_ptr<std::byte[]> aside;
  static constexpr std::size_t aside_size = 4096;

  // What wslay reads (a whole control frame) and where its output goes.
  std::span<const std::byte> input;
  std::size_t input_pos = 0;
  std::vector<std::byte>* out = nullptr;

  // The frame being parsed.
  std::uint8_t header[max_header] = {};
  std::size_t header_have = 0;
  bool in_payload = false;
  bool fin = false;
  std::uint8_t opcode = 0;
  std::uint32_t key = 0; // as it lies in the header
  bool masked = false;
  std::uint64_t remaining = 0, frame_offset = 0;
  std::vector<std::byte> control; // header + payload of a control frame

  // Reassembly: ready messages, then the one in progress, in one arena.
  // Growing it leaves the new bytes uninitialized: unmask_copy() writes
  // them all, and zeroing them first would be one more pass over each message.
  byte_arena arena;
  std::vector<ready_message> ready;
  std::size_t next_ready = 0;
  std::size_t unparsed_size = 0; // of the frame the last parse left in the input buffer
  bool in_message = false;
  std::size_t message_start = 0;
  message_kind kind = message_kind::binary;
  utf8_validator utf8;
  bool discarding = false; // after our close: data frames are checked for framing only

  std::error_code receive_error;
  std::uint16_t peer_code = 1005;
  std::string peer_reason;
  bool pong = false;

  impl(role r, std::size_t max, std::size_t frag, std::size_t read_size)
      : side(r), max_message(max), fragment_size(frag), read_buffer_size(read_size) {}
  ~impl() {
    if (ctx) wslay_event_context_free(ctx);
  }

  // wslay's context holds two 4 KiB buffers: it is made on the first control
  // frame either way, so that an idle connection does not carry it.
  wslay_event_context_ptr control_context() {
    if (ctx) return ctx;
    static const wslay_event_callbacks callbacks = {
        &impl::on_recv, &impl::on_send, &impl::on_genmask, nullptr,
        nullptr,        nullptr,        &impl::on_message,
    };
    int rc = side == role::server ? wslay_event_context_server_init(&ctx, &callbacks, this)
                                  : wslay_event_context_client_init(&ctx, &callbacks, this);
    if (rc != 0) throw std::bad_alloc();
    return ctx;
  }
  bool close_was_sent() const { return ctx && wslay_event_get_close_sent(ctx); }
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  static impl& self(void* p) { return *static_cast<impl*>(p); }

  // ---- wslay's callbacks --------------------------------------------------

  static ssize_t on_recv(wslay_event_context_ptr c, uint8_t* buf, size_t len, int, void* p) {
    auto& s = self(p);
    std::size_t left = s.input.size() - s.input_pos;
    if (left == 0) {
      wslay_event_set_error(c, WSLAY_ERR_WOULDBLOCK);
      return -1;
    }
    std::size_t n = std::min(left, len);
    std::memcpy(buf, s.input.data() + s.input_pos, n);
    s.input_pos += n;
    return static_cast<ssize_t>(n);
  }

  static ssize_t on_send(wslay_event_context_ptr c, const uint8_t* data, size_t len, int, void* p) {
    auto& s = self(p);
    if (!s.out) {
      wslay_event_set_error(c, WSLAY_ERR_WOULDBLOCK);
      return -1;
    }
    auto b = reinterpret_cast<const std::byte*>(data);
    s.out->insert(s.out->end(), b, b + len);
    return static_cast<ssize_t>(len);
  }

  static int on_genmask(wslay_event_context_ptr, uint8_t* buf, size_t len, void*) {
    return random_bytes({reinterpret_cast<std::byte*>(buf), len}) ? 0 : -1;
  }

  static void on_message(wslay_event_context_ptr, const wslay_event_on_msg_recv_arg* a, void* p) {
    auto& s = self(p);
    if (a->opcode == WSLAY_PONG) s.pong = true;
    if (a->opcode != WSLAY_CONNECTION_CLOSE) return;
    s.peer_code = a->status_code ? a->status_code : 1005;
    if (a->msg_length > 2)
      s.peer_reason.assign(reinterpret_cast<const char*>(a->msg) + 2, a->msg_length - 2);
    if (!s.receive_error) s.receive_error = error_for_received_code(s.peer_code);
  }

  void flush(std::vector<std::byte>& o) {
    if (!ctx) return;
    out = &o;
    wslay_event_send(ctx);
    out = nullptr;
  }

  void queue_close(std::uint16_t code, std::string_view reason) {
    wslay_event_queue_close(control_context(), code,
                            reinterpret_cast<const uint8_t*>(reason.data()),
                            std::min<std::size_t>(reason.size(), 123));
  }

  // Fails the connection: no more input is parsed, the close frame is queued.
  void fail(std::uint16_t code, std::error_code why, std::string_view reason) {
    if (receive_error) return;
    receive_error = why;
    queue_close(code, reason);
    wslay_event_shutdown_read(ctx);
  }
  void fail_protocol(std::string_view reason) { fail(1002, errc::protocol_error, reason); }

  // ---- the input buffer ---------------------------------------------------

  // Frames up to this size are taken in place; larger ones are copied
  // into the arena as they arrive.
  std::size_t keep_limit() const { return 4 * read_buffer_size; }

  std::uint64_t frame_remaining() const { return in_payload && !(opcode & 0x08) ? remaining : 0; }

  // Before a read: room after rend for a quarter of the buffer at least,
  // and for all of the frame left unparsed.
  void make_room() {
    std::size_t have = rend - rbegin;
    if (have == 0) rbegin = rend = 0;
    std::size_t wanted = have ? unparsed_size : 0;
    std::size_t cap = rcap ? rcap : std::min<std::size_t>(read_buffer_size, 4096);
    // A read that filled the buffer says a larger one would pay off;
    // inside a frame too big to keep, up to four times read_buffer_size
    // (such messages then cost fewer reads).
    if (grow_hint) {
      auto limit = read_buffer_size * (frame_remaining() > cap ? 4 : 1);
      if (cap < limit) cap = std::min(cap * 2, limit);
      grow_hint = false;
    }
    // Room for a few frames of the size left unparsed: reads fill the
    // buffer and leave a frame begun at its end, which is moved to the
    // front before the next read; the more frames a read brings, the less
    // of every frame is moved.  (At most keep_limit() + read_buffer_size:
    // a header alone must not make us allocate much more than it announces.)
    if (wanted > cap / 4)
      cap = std::max(cap, std::min(4 * wanted, keep_limit() + read_buffer_size));
    reshape_read_buffer(rbuf, rcap, rbegin, rend, cap, wanted > have ? wanted - have : 0);
  }

  // ---- receive ----------------------------------------------------------

  // Drops the messages already taken; keeps a message in progress.
  void compact() {
    if (next_ready < ready.size()) return;
    ready.clear();
    next_ready = 0;
    if (!in_message) {
      if (arena.capacity() > (1u << 20))
        byte_arena().swap(arena);
      else
        arena.clear();
      return;
    }
    // Moving the message in progress to the front costs a pass over it: do
    // it only once that frees at least half the arena (until then the
    // arena grows), so pipelined large messages are not copied twice.
    if (message_start == 0 || message_start < arena.capacity() / 2) return;
    std::memmove(arena.data(), arena.data() + message_start, arena.size() - message_start);
    arena.resize(arena.size() - message_start);
    message_start = 0;
  }

  static std::size_t header_size(const std::uint8_t* h) {
    std::uint8_t len7 = h[1] & 0x7f;
    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (h[1] & 0x80 ? 4 : 0);
  }

  // Validates the complete header in `header` and starts the frame.
  void begin_frame() {
    fin = header[0] & 0x80;
    opcode = header[0] & 0x0f;
    masked = header[1] & 0x80;
    std::uint8_t len7 = header[1] & 0x7f;
    std::uint64_t length = len7;
    std::size_t at = 2;
    if (len7 == 126) {
      length = (std::uint64_t(header[2]) << 8) | header[3];
      at = 4;
      if (length < 126) return fail_protocol("length not minimally encoded");
    } else if (len7 == 127) {
      length = 0;
      for (int i = 0; i < 8; ++i) length = (length << 8) | header[2 + i];
      at = 10;
      if (length >> 63) return fail_protocol("64-bit length with the top bit set");
      if (length < 65536) return fail_protocol("length not minimally encoded");
    }
    if (masked) std::memcpy(&key, header + at, 4);
    remaining = length;
    frame_offset = 0;
    if (header[0] & 0x70) return fail_protocol("reserved bits set");
    if (masked != (side == role::server))
      return fail_protocol(side == role::server ? "unmasked frame from a client"
                                                : "masked frame from a server");
    bool is_control = opcode & 0x08;
    if (is_control) {
      if (opcode > WSLAY_PONG) return fail_protocol("reserved opcode");
      if (!fin) return fail_protocol("fragmented control frame");
      if (length > 125) return fail_protocol("control frame over 125 bytes");
      if (opcode == WSLAY_CONNECTION_CLOSE && length == 1)
        return fail_protocol("close frame with a 1-byte payload");
      control.assign(reinterpret_cast<const std::byte*>(header),
                     reinterpret_cast<const std::byte*>(header) + header_have);
      return;
    }
    if (opcode > WSLAY_BINARY_FRAME) return fail_protocol("reserved opcode");
    if (opcode == WSLAY_CONTINUATION_FRAME && !in_message)
      return fail_protocol("continuation frame without a message");
    if (opcode != WSLAY_CONTINUATION_FRAME) {
      if (in_message) return fail_protocol("new message inside a fragmented one");
      in_message = true;
      message_start = arena.size(); // (discarding too: compact() reads it)
      if (discarding) return;
      kind = opcode == WSLAY_TEXT_FRAME ? message_kind::text : message_kind::binary;
      utf8.reset();
    }
    if (discarding) return;
    std::size_t have = arena.size() - message_start;
    if (length > max_message - have) return fail(1009, errc::message_too_large, "message too big");
    // Room for the frame up front, growing geometrically: a message of many
    // small fragments must not reallocate at every fragment.
    // (No more than 1 MiB ahead of the bytes: a header alone must not make
    // us commit the memory it announces.)
    auto need = arena.size() + static_cast<std::size_t>(std::min<std::uint64_t>(length, 1u << 20));
    if (need > arena.capacity()) arena.reserve(std::max(need, 2 * arena.capacity()));
  }

  void payload(const std::byte* p, std::size_t n) {
    if (opcode & 0x08) {
      control.insert(control.end(), p, p + n);
    } else if (!discarding) {
      auto at = arena.size();
      arena.resize(at + n);
      if (masked)
        xor_copy(arena.data() + at, p, n, key_at(key, frame_offset));
      else
        std::memcpy(arena.data() + at, p, n);
      if (kind == message_kind::text &&
          !utf8.feed(reinterpret_cast<const unsigned char*>(arena.data() + at), n))
        return fail(1007, errc::invalid_utf8, "invalid UTF-8");
    }
    frame_offset += n;
    remaining -= n;
  }

  void end_frame() {
    in_payload = false;
    header_have = 0;
    if (opcode & 0x08) {
      // wslay answers, validates and keeps the close state.
      input = control;
      input_pos = 0;
      int rc = wslay_event_recv(control_context());
      input = {};
      if (rc != 0 && !receive_error) fail_protocol("invalid control frame");
      return;
    }
    if (!fin) return;
    if (discarding) {
      in_message = false;
      return;
    }
    if (kind == message_kind::text && !utf8.complete())
      return fail(1007, errc::invalid_utf8, "invalid UTF-8");
    ready.push_back({{{static_cast<const std::byte*>(nullptr), arena.size() - message_start}, kind},
                     true,
                     message_start});
    in_message = false;
  }

  // A whole data frame that is a whole message and breaks no rule, the
  // usual frame of a busy connection, taken in one step: the bytes it
  // used, or 0 to leave the frame to the general path (which also reports
  // whatever is wrong with it).  With `writable` (p's bytes, ours to
  // change) the payload is unmasked where it lies and the message handed
  // out from there; an incomplete binary frame of at most `keep` bytes is
  // then left for the caller to complete (unparsed_size says how big).
  std::size_t take_whole_message(const std::byte* p, std::size_t avail, std::byte* writable,
                                 std::size_t keep) {
    if (avail < 2) return keep_unparsed(writable, max_header);
    auto b0 = static_cast<std::uint8_t>(p[0]), b1 = static_cast<std::uint8_t>(p[1]);
    // FIN, no reserved bits, text or binary; masked exactly when we serve.
    if ((b0 & 0xf0) != 0x80 || ((b0 & 0x0f) - 1u) > 1u) return 0;
    bool mask = b1 & 0x80;
    if (mask != (side == role::server)) return 0;
    std::size_t hn = header_size(reinterpret_cast<const std::uint8_t*>(p));
    if (avail < hn) return keep_unparsed(writable, hn);
    std::uint64_t length = b1 & 0x7f;
    if (length == 126) {
      length =
          (std::uint64_t(static_cast<std::uint8_t>(p[2])) << 8) | static_cast<std::uint8_t>(p[3]);
      if (length < 126) return 0;
    } else if (length == 127) {
      length = 0;
      for (int i = 2; i < 10; ++i) length = (length << 8) | static_cast<std::uint8_t>(p[i]);
      if (length >> 63 || length < 65536) return 0;
    }
    if (length > max_message) return 0;
    auto n = static_cast<std::size_t>(length);
    auto kind = (b0 & 0x0f) == WSLAY_TEXT_FRAME ? message_kind::text : message_kind::binary;
    if (avail - hn < n) {
      // (Text is checked as it arrives, fail-fast: the general path does that.)
      bool can_keep = writable && kind == message_kind::binary && n <= keep && hn <= keep - n;
      return can_keep ? keep_unparsed(writable, hn + n) : 0;
    }
    std::uint32_t k = 0;
    if (mask) std::memcpy(&k, p + hn - 4, 4);
    const std::byte* body;
    if (writable) {
      auto* b = writable + hn;
      if (mask) xor_copy(b, b, n, k);
      body = b;
      ready.push_back({{{body, n}, kind}, false, 0});
    } else {
      auto at = arena.size();
      arena.resize(at + n);
      if (mask)
        xor_copy(arena.data() + at, p + hn, n, k);
      else
        std::memcpy(arena.data() + at, p + hn, n);
      body = arena.data() + at;
      ready.push_back({{{static_cast<const std::byte*>(nullptr), n}, kind}, true, at});
    }
    if (kind == message_kind::text && !is_valid_utf8({body, n})) {
      ready.pop_back();
      fail(1007, errc::invalid_utf8, "invalid UTF-8");
    }
    return hn + n;
  }

  // An incomplete frame stays unparsed, in the caller's buffer.
  std::size_t keep_unparsed(const std::byte* writable, std::size_t frame_size) {
    if (writable) unparsed_size = frame_size;
    return 0;
  }

  // Parses in[0, size); with `writable` (in's bytes, ours to change) whole
  // messages stay where they are (see take_whole_message).  Returns the
  // bytes used: all of them, but for an incomplete frame left unparsed.
  std::size_t feed(const std::byte* in, std::size_t size, std::byte* writable, std::size_t keep,
                   std::vector<std::byte>& o) {
    if (!discarding) compact(); // discarding: the last message taken stays valid
    out = &o;
    unparsed_size = 0;
    std::size_t pos = 0;
    while (pos < size && !receive_error) {
      if (!in_payload && header_have == 0 && !in_message && !discarding) {
        if (auto used = take_whole_message(in + pos, size - pos,
                                           writable ? writable + pos : nullptr, keep)) {
          pos += used;
          continue;
        }
        if (unparsed_size) break;
      }
      if (!in_payload) {
        if (header_have == 0 && size - pos >= max_header) {
          // The whole header is here (the usual case): take it in one step.
          std::memcpy(header, in + pos, 2);
          header_have = header_size(header);
          std::memcpy(header, in + pos, header_have);
          pos += header_have;
        } else {
          header[header_have++] = static_cast<std::uint8_t>(in[pos++]);
          if (header_have < 2 || header_have < header_size(header)) continue;
        }
        begin_frame();
        in_payload = true;
        if (receive_error) break;
      } else {
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, size - pos));
        payload(in + pos, n);
        pos += n;
      }
      if (in_payload && remaining == 0 && !receive_error) end_frame();
    }
    out = nullptr;
    flush(o);
    if (!receive_error && ctx && !wslay_event_get_read_enabled(ctx)) {
      // wslay found the violation (a bad close code or reason) and queued the close.
      receive_error = error_for_sent_code(wslay_event_get_status_code_sent(ctx));
    }
    return receive_error ? size : pos;
  }

  // ---- send -------------------------------------------------------------

  // Appends one frame; masks (client) in 8-byte steps.
  void put_frame(std::vector<std::byte>& o, std::uint8_t first, std::span<const std::byte> data) {
    std::size_t n = data.size();
    bool mask = side == role::client;
    std::size_t hn = (n < 126 ? 2 : n < 65536 ? 4 : 10) + (mask ? 4 : 0);
    // The header is written in place, byte by byte (a header built on the
    // stack and then copied stalls that copy's load, once per frame), then
    // the payload appended: no zero-fill of it first, as resize() would.
    auto at = o.size();
    if (o.capacity() - at < hn + n) o.reserve(std::max(at + hn + n, 2 * o.capacity()));
    o.resize(at + hn);
    auto* h = reinterpret_cast<std::uint8_t*>(o.data() + at);
    auto mask_bit = static_cast<std::uint8_t>(mask ? 0x80 : 0);
    *h++ = first;
    if (n < 126) {
      *h++ = mask_bit | static_cast<std::uint8_t>(n);
    } else if (n < 65536) {
      *h++ = mask_bit | 126;
      *h++ = static_cast<std::uint8_t>(n >> 8);
      *h++ = static_cast<std::uint8_t>(n);
    } else {
      *h++ = mask_bit | 127;
      for (int shift = 56; shift >= 0; shift -= 8)
        *h++ = static_cast<std::uint8_t>(std::uint64_t(n) >> shift);
    }
    if (!mask) {
      o.insert(o.end(), data.begin(), data.end());
      return;
    }
    std::uint32_t k = 0;
    random_bytes(std::as_writable_bytes(std::span(&k, 1)));
    std::memcpy(h, &k, 4);
    o.resize(at + hn + n);
    xor_copy(o.data() + at + hn, data.data(), n, k);
  }
};

ws_protocol::ws_protocol(role r, std::size_t max_message, std::size_t fragment_size,
                         std::size_t read_buffer_size)
    : impl_(std::make_unique<impl>(r, max_message, fragment_size, read_buffer_size)) {}
ws_protocol::~ws_protocol() = default;
// The moved-from engine must not keep a view of the messages it gave away.
ws_protocol::ws_protocol(ws_protocol&& o) noexcept
    : impl_(std::move(o.impl_)), ready_(std::exchange(o.ready_, nullptr)),
      ready_count_(std::exchange(o.ready_count_, 0)), taken_(std::exchange(o.taken_, 0)) {}
ws_protocol& ws_protocol::operator=(ws_protocol&& o) noexcept {
  impl_ = std::move(o.impl_);
  ready_ = std::exchange(o.ready_, nullptr);
  ready_count_ = std::exchange(o.ready_count_, 0);
  taken_ = std::exchange(o.taken_, 0);
  return *this;
}

void ws_protocol::sync_ready() {
  auto& s = *impl_;
  for (auto i = s.next_ready; i < s.ready.size(); ++i) // the arena is where it stays now
    if (auto& m = s.ready[i]; m.in_arena)
      m.message.data = {s.arena.data() + m.offset, m.message.data.size()};
  ready_ = s.ready.data();
  ready_count_ = s.ready.size();
  taken_ = s.next_ready;
}

// Running out of memory mid-feed fails the connection (std::errc::
// not_enough_memory) with all input used: parsing it again would unmask
// in place twice.  Either way the inline view is refreshed.
std::size_t ws_protocol::parse(std::span<const std::byte> in, std::byte* writable, std::size_t keep,
                               std::vector<std::byte>& out) {
  impl_->next_ready = taken_;
  std::size_t used = in.size();
  try {
    used = impl_->feed(in.data(), in.size(), writable, keep, out);
  } catch (const std::bad_alloc&) {
    impl_->out = nullptr;
    if (!impl_->receive_error) impl_->receive_error = make_error_code(std::errc::not_enough_memory);
  }
  sync_ready();
  return used;
}

std::span<std::byte> ws_protocol::input_space() {
  auto& s = *impl_;
  if (s.discarding) {
    if (!s.aside) s.aside.reset(new std::byte[impl::aside_size]);
    return {s.aside.get(), impl::aside_size};
  }
  s.make_room();
  return {s.rbuf.get() + s.rend, s.rcap - s.rend};
}

void ws_protocol::commit_input(std::size_t n, std::vector<std::byte>& out) {
  auto& s = *impl_;
  if (s.discarding) {
    parse({s.aside.get(), n}, nullptr, 0, out);
    return;
  }
  if (s.rend == 0 && n == s.rcap) s.grow_hint = true; // (a read into the whole buffer)
  s.rend += n;
  auto* unparsed = s.rbuf.get() + s.rbegin;
  s.rbegin += parse({unparsed, s.rend - s.rbegin}, unparsed, s.keep_limit(), out);
}

// Copied into the arena, not kept in place: these bytes may be more than
// the input buffer holds before its first reshaping.
void ws_protocol::prime(std::span<const std::byte> in, std::vector<std::byte>& out) {
  parse(in, nullptr, 0, out);
}

std::optional<message_view> ws_protocol::next_after_last() {
  impl_->next_ready = taken_;
  impl_->compact(); // every message was taken: the arena is free again
  sync_ready();
  return std::nullopt;
}

std::error_code ws_protocol::receive_error() const { return impl_->receive_error; }

void ws_protocol::discard_messages(std::vector<std::byte>& out) {
  auto& s = *impl_;
  if (s.discarding) return;
  s.discarding = true;
  if (s.rend > s.rbegin) parse({s.rbuf.get() + s.rbegin, s.rend - s.rbegin}, nullptr, 0, out);
  s.rbegin = s.rend;
}

bool ws_protocol::discarding() const { return impl_->discarding; }

void ws_protocol::stop_receiving(std::error_code why) {
  if (!impl_->receive_error) impl_->receive_error = why;
  if (impl_->ctx) wslay_event_shutdown_read(impl_->ctx);
}

result<void> ws_protocol::send(std::span<const std::byte> data, message_kind kind,
                               std::vector<std::byte>& out) {
  auto& s = *impl_;
  if (s.close_was_sent() || (s.ctx && !wslay_event_get_write_enabled(s.ctx)))
    return fail(errc::closed);
  if (kind == message_kind::text && !is_valid_utf8(data)) return fail(errc::invalid_utf8);
  std::uint8_t opcode = kind == message_kind::text ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME;
  std::size_t piece =
      s.fragment_size && data.size() > s.fragment_size ? s.fragment_size : data.size();
  do {
    auto part = data.first(std::min(piece, data.size()));
    data = data.subspan(part.size());
    s.put_frame(out, static_cast<std::uint8_t>((data.empty() ? 0x80 : 0) | opcode), part);
    opcode = WSLAY_CONTINUATION_FRAME;
  } while (!data.empty());
  return {};
}

result<void> ws_protocol::ping(std::span<const std::byte> payload, std::vector<std::byte>& out) {
  if (payload.size() > 125) return fail(errc::message_too_large);
  wslay_event_msg arg{WSLAY_PING, reinterpret_cast<const uint8_t*>(payload.data()), payload.size()};
  int rc = wslay_event_queue_msg(impl_->control_context(), &arg);
  if (rc == WSLAY_ERR_NO_MORE_MSG) return fail(errc::closed);
  if (rc != 0) return fail(errc::invalid_argument);
  impl_->flush(out);
  return {};
}

void ws_protocol::close(std::uint16_t code, std::string_view reason, std::vector<std::byte>& out) {
  if (!is_valid_close_code(code)) {
    code = 1000;
    reason = {};
  }
  if (reason.size() > 123) reason = reason.substr(0, 123);
  if (!is_valid_utf8({reinterpret_cast<const std::byte*>(reason.data()), reason.size()}))
    reason = {};
  impl_->queue_close(code, reason);
  impl_->flush(out);
}

bool ws_protocol::close_sent() const { return impl_->close_was_sent(); }
bool ws_protocol::close_received() const {
  return impl_->ctx && wslay_event_get_close_received(impl_->ctx);
}
std::uint16_t ws_protocol::peer_close_code() const { return impl_->peer_code; }
std::string_view ws_protocol::peer_close_reason() const { return impl_->peer_reason; }

bool ws_protocol::take_pong() { return std::exchange(impl_->pong, false); }

std::size_t ws_protocol::buffered_bytes() const {
  auto& s = *impl_;
  return s.rcap + (s.aside ? impl::aside_size : 0) + s.arena.capacity() +
         s.ready.capacity() * sizeof(ready_message) + s.control.capacity();
}

bool is_valid_utf8(std::span<const std::byte> s) noexcept {
  utf8_validator v;
  return v.feed(reinterpret_cast<const unsigned char*>(s.data()), s.size()) && v.complete();
}

} // namespace coronet::detail
