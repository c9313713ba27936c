// RFC 6455 framing on wslay's event API, fed from memory.
//
// wslay parses frames, unmasks, validates UTF-8 (fail-fast, per chunk),
// close codes, reserved bits and opcodes, and answers pings and close
// frames.  coronet adds what wslay leaves out or answers with the wrong close
// code: a frame-header scan that rejects fragmented or oversized control
// frames, 1-byte close payloads and 64-bit lengths with the top bit set with
// 1002 (wslay would send a close without a code), and a limit on whole
// messages (wslay, without buffering, checks frames only).
//
// Messages are reassembled in one arena: complete messages are appended one
// after another and handed out in order; the arena is emptied once all of
// them were taken, so a read that carries many small messages costs no
// allocation per message.
#include "random.hpp"

#include <coronet/detail/ws_protocol.hpp>
#include <coronet/error.hpp>

#include <wslay/wslay.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace coronet::detail {
namespace {

constexpr std::size_t max_frame_chunk = 4096; // wslay's own frame buffer

// Tracks frame boundaries in the input to catch what wslay reports badly.
class frame_scanner {
public:
  // Bytes of `in` that may go to wslay; `bad` says a violation follows them.
  std::size_t scan(std::span<const std::byte> in, bool& bad) {
    std::size_t pos = 0, frame_start = 0;
    while (pos < in.size()) {
      if (remaining_ > 0) {
        auto skip = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - pos));
        pos += skip;
        remaining_ -= skip;
        continue;
      }
      if (have_ == 0) frame_start = pos;
      header_[have_++] = static_cast<std::uint8_t>(in[pos++]);
      if (have_ < 2) continue;
      bool fin = header_[0] & 0x80;
      bool control = header_[0] & 0x08;
      std::uint8_t len7 = header_[1] & 0x7f;
      std::size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (header_[1] & 0x80 ? 4 : 0);
      if (have_ == 2 &&
          ((control && (!fin || len7 > 125)) || ((header_[0] & 0x0f) == 0x8 && len7 == 1))) {
        bad = true;
        return frame_start;
      }
      if (have_ < need) continue;
      std::uint64_t length = len7;
      if (len7 == 126) length = (std::uint64_t(header_[2]) << 8) | header_[3];
      if (len7 == 127) {
        length = 0;
        for (int i = 0; i < 8; ++i) length = (length << 8) | header_[2 + i];
        if (length >> 63) {
          bad = true;
          return frame_start;
        }
      }
      remaining_ = length;
      have_ = 0;
    }
    return in.size();
  }

private:
  std::uint64_t remaining_ = 0;
  std::uint8_t header_[14] = {};
  std::size_t have_ = 0;
};

struct ready_message {
  std::size_t offset, length;
  message_kind kind;
};

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
  std::size_t max_message, fragment_size;

  // feed(): the input being offered to wslay and where its output goes.
  std::span<const std::byte> input;
  std::size_t input_pos = 0;
  std::vector<std::byte>* out = nullptr;

  frame_scanner scanner;

  // Reassembly: ready messages, then the one in progress, in one arena.
  std::vector<std::byte> arena;
  std::vector<ready_message> ready;
  std::size_t next_ready = 0;
  bool in_message = false;
  std::size_t message_start = 0;
  message_kind message_kind_ = message_kind::binary;
  bool data_frame = false; // the frame being received carries message data

  // Outgoing fragmented message: the bytes wslay pulls frame by frame.
  std::vector<std::byte> fragment_source;
  std::size_t fragment_pos = 0;

  std::error_code receive_error;
  std::uint16_t peer_code = 1005;
  std::string peer_reason;
  bool pong = false;

  impl(role r, std::size_t max, std::size_t frag) : side(r), max_message(max), fragment_size(frag) {
    static const wslay_event_callbacks callbacks = {
        &impl::on_recv,  &impl::on_send,      &impl::on_genmask, &impl::on_frame_start,
        &impl::on_chunk, &impl::on_frame_end, &impl::on_message,
    };
    int rc = r == role::server ? wslay_event_context_server_init(&ctx, &callbacks, this)
                               : wslay_event_context_client_init(&ctx, &callbacks, this);
    if (rc != 0) throw std::bad_alloc();
    wslay_event_config_set_no_buffering(ctx, 1);
    wslay_event_config_set_max_recv_msg_length(ctx, max_message);
  }
  ~impl() { wslay_event_context_free(ctx); }

  static impl& self(void* p) { return *static_cast<impl*>(p); }

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

  static void on_frame_start(wslay_event_context_ptr c,
                             const wslay_event_on_frame_recv_start_arg* a, void* p) {
    auto& s = self(p);
    s.data_frame = !(a->opcode & 0x8);
    if (!s.data_frame || s.receive_error) return;
    if (!s.in_message) {
      s.in_message = true;
      s.message_start = s.arena.size();
      s.message_kind_ = a->opcode == WSLAY_TEXT_FRAME ? message_kind::text : message_kind::binary;
    }
    std::size_t have = s.arena.size() - s.message_start;
    if (a->payload_length > s.max_message - have) {
      s.receive_error = errc::message_too_large;
      wslay_event_shutdown_read(c);
      return;
    }
    s.arena.reserve(s.arena.size() + static_cast<std::size_t>(a->payload_length));
  }

  static void on_chunk(wslay_event_context_ptr, const wslay_event_on_frame_recv_chunk_arg* a,
                       void* p) {
    auto& s = self(p);
    if (!s.data_frame || s.receive_error) return;
    auto b = reinterpret_cast<const std::byte*>(a->data);
    s.arena.insert(s.arena.end(), b, b + a->data_length);
  }

  static void on_frame_end(wslay_event_context_ptr, void*) {}

  static void on_message(wslay_event_context_ptr, const wslay_event_on_msg_recv_arg* a, void* p) {
    auto& s = self(p);
    switch (a->opcode) {
    case WSLAY_TEXT_FRAME:
    case WSLAY_BINARY_FRAME:
      if (s.receive_error || !s.in_message) return;
      s.ready.push_back({s.message_start, s.arena.size() - s.message_start, s.message_kind_});
      s.in_message = false;
      break;
    case WSLAY_PONG: s.pong = true; break;
    case WSLAY_CONNECTION_CLOSE:
      s.peer_code = a->status_code ? a->status_code : 1005;
      if (a->msg_length > 2)
        s.peer_reason.assign(reinterpret_cast<const char*>(a->msg) + 2, a->msg_length - 2);
      if (!s.receive_error) s.receive_error = error_for_received_code(s.peer_code);
      break;
    default: break;
    }
  }

  void flush(std::vector<std::byte>& o) {
    out = &o;
    wslay_event_send(ctx);
    out = nullptr;
  }

  // Drops the messages already taken; keeps a message in progress.
  void compact() {
    if (next_ready < ready.size()) return;
    ready.clear();
    next_ready = 0;
    if (!in_message) {
      if (arena.capacity() > (1u << 20))
        std::vector<std::byte>().swap(arena);
      else
        arena.clear();
      return;
    }
    if (message_start == 0) return;
    std::memmove(arena.data(), arena.data() + message_start, arena.size() - message_start);
    arena.resize(arena.size() - message_start);
    message_start = 0;
  }

  void feed(std::span<const std::byte> in, std::vector<std::byte>& o) {
    compact();
    if (!wslay_event_get_read_enabled(ctx)) return;
    bool bad = false;
    auto ok = scanner.scan(in, bad);
    input = in.first(ok);
    input_pos = 0;
    out = &o;
    int rc = wslay_event_recv(ctx);
    out = nullptr;
    input = {};
    bool reading = wslay_event_get_read_enabled(ctx);
    if (rc != 0 && !receive_error) receive_error = errc::protocol_error;
    if (reading && bad) {
      wslay_event_shutdown_read(ctx);
      receive_error = errc::protocol_error;
      queue_close(1002, "invalid frame");
    } else if (receive_error == errc::message_too_large) {
      queue_close(1009, "message too big");
    }
    flush(o);
    if (!wslay_event_get_read_enabled(ctx) && !receive_error) {
      // wslay found the violation and queued the close itself.
      receive_error = error_for_sent_code(wslay_event_get_status_code_sent(ctx));
    }
  }

  void queue_close(std::uint16_t code, std::string_view reason) {
    wslay_event_queue_close(ctx, code, reinterpret_cast<const uint8_t*>(reason.data()),
                            std::min<std::size_t>(reason.size(), 123));
  }

  static ssize_t read_fragment(wslay_event_context_ptr, uint8_t* buf, size_t len,
                               const wslay_event_msg_source* source, int* eof, void*) {
    auto& s = *static_cast<impl*>(source->data);
    std::size_t n = std::min({len, s.fragment_size, s.fragment_source.size() - s.fragment_pos});
    std::memcpy(buf, s.fragment_source.data() + s.fragment_pos, n);
    s.fragment_pos += n;
    if (s.fragment_pos == s.fragment_source.size()) {
      *eof = 1;
      s.fragment_source.clear();
      s.fragment_pos = 0;
    }
    return static_cast<ssize_t>(n);
  }
};

ws_protocol::ws_protocol(role r, std::size_t max_message, std::size_t fragment_size)
    : impl_(std::make_unique<impl>(r, max_message, std::min(fragment_size, max_frame_chunk))) {}
ws_protocol::~ws_protocol() = default;
ws_protocol::ws_protocol(ws_protocol&&) noexcept = default;
ws_protocol& ws_protocol::operator=(ws_protocol&&) noexcept = default;

void ws_protocol::feed(std::span<const std::byte> in, std::vector<std::byte>& out) {
  impl_->feed(in, out);
}

std::optional<message_view> ws_protocol::next() {
  auto& s = *impl_;
  s.compact();
  if (s.next_ready == s.ready.size()) return std::nullopt;
  auto& m = s.ready[s.next_ready++];
  return message_view({s.arena.data() + m.offset, m.length}, m.kind);
}

std::error_code ws_protocol::receive_error() const { return impl_->receive_error; }

void ws_protocol::stop_receiving(std::error_code why) {
  if (!impl_->receive_error) impl_->receive_error = why;
  wslay_event_shutdown_read(impl_->ctx);
}

result<void> ws_protocol::send(message_view m, std::vector<std::byte>& out) {
  auto& s = *impl_;
  if (m.kind == message_kind::text && !is_valid_utf8(m.data)) return fail(errc::invalid_utf8);
  auto opcode = m.kind == message_kind::text ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME;
  int rc;
  if (s.fragment_size && m.size() > s.fragment_size) {
    // wslay pulls the frames in the flush below, so one such message at a time.
    s.fragment_source.assign(m.data.begin(), m.data.end());
    s.fragment_pos = 0;
    wslay_event_fragmented_msg arg{};
    arg.opcode = static_cast<uint8_t>(opcode);
    arg.source.data = &s;
    arg.read_callback = &impl::read_fragment;
    rc = wslay_event_queue_fragmented_msg(s.ctx, &arg);
  } else {
    wslay_event_msg arg{static_cast<uint8_t>(opcode),
                        reinterpret_cast<const uint8_t*>(m.data.data()), m.size()};
    rc = wslay_event_queue_msg(s.ctx, &arg);
  }
  if (rc == WSLAY_ERR_NO_MORE_MSG) return fail(errc::closed);
  if (rc != 0) return fail(errc::invalid_argument);
  s.flush(out);
  return {};
}

result<void> ws_protocol::ping(std::span<const std::byte> payload, std::vector<std::byte>& out) {
  if (payload.size() > 125) return fail(errc::message_too_large);
  wslay_event_msg arg{WSLAY_PING, reinterpret_cast<const uint8_t*>(payload.data()), payload.size()};
  int rc = wslay_event_queue_msg(impl_->ctx, &arg);
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

bool ws_protocol::close_sent() const { return wslay_event_get_close_sent(impl_->ctx); }
bool ws_protocol::close_received() const { return wslay_event_get_close_received(impl_->ctx); }
std::uint16_t ws_protocol::peer_close_code() const { return impl_->peer_code; }
std::string_view ws_protocol::peer_close_reason() const { return impl_->peer_reason; }

bool ws_protocol::take_pong() { return std::exchange(impl_->pong, false); }

std::size_t ws_protocol::buffered_bytes() const {
  return impl_->arena.capacity() + impl_->ready.capacity() * sizeof(ready_message) +
         impl_->fragment_source.capacity();
}

bool is_valid_utf8(std::span<const std::byte> s) noexcept {
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size(), i = 0;
  while (i < n) {
    // ASCII runs, eight bytes at a time.
    while (i + 8 <= n) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xbf; // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0; // no overlongs
      if (c == 0xed) hi = 0x9f; // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90; // no overlongs
      if (c == 0xf4) hi = 0x8f; // not above U+10FFFF
    } else {
      return false;
    }
    if (i + len > n) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (std::size_t k = 2; k < len; ++k)
      if ((p[i + k] & 0xc0) != 0x80) return false;
    i += len;
  }
  return true;
}

} // namespace coronet::detail
