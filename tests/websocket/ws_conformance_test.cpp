// RFC 6455 conformance of the ws:// transport, in raw bytes over loopback TCP.
//
// Server side: a coronet::server echo endpoint is driven by a hand-written
// client that builds every frame itself (frame() below) and parses every byte
// the server sends back (parse_frame()).  Client side: coronet::connect() is
// pointed at a hand-written server that answers the upgrade and then sends
// raw frames.
//
// Case ids: H handshake (section 4), F framing (5.2, 5.3), C control frames
// (5.5), R protocol violations (5.2, 5.4, 5.5), M fragmentation (5.4), U UTF-8
// (5.6, 8.1), X closing (5.5.1, 7), L limits (10.4), K the client side.
//
// Every read is bounded by io_timeout: a missing answer fails the case, it
// never hangs.  No co_await inside a Catch2 macro (see support/run.hpp), and
// INFO only in plain functions, never at a coroutine's top level.
#include <coronet/coronet.hpp>
#include <coronet/detail/ws_handshake.hpp>
#include <coronet/tcp.hpp>
#include <coronet/websocket.hpp>

#include "../support/echo.hpp"
#include "../support/run.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

using coronet::test::echo;
using coronet::test::run;
using coronet::test::sleep_for;
using namespace std::chrono_literals;

namespace {

constexpr auto io_timeout = 5s;

// ---- the server under test ------------------------------------------------

struct ws_server {
  coronet::server server;
  explicit ws_server(coronet::server_options o = {}) {
    auto started = server.start("ws://127.0.0.1:0/echo", echo, std::move(o));
    REQUIRE(started);
  }
  std::uint16_t port() const { return server.port(); }
};

constexpr std::string_view upgrade_request =
    "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

// ---- frames ---------------------------------------------------------------

enum opcode : std::uint8_t {
  op_cont = 0x0,
  op_text = 0x1,
  op_binary = 0x2,
  op_close = 0x8,
  op_ping = 0x9,
  op_pong = 0xA,
};

constexpr std::uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

std::uint8_t u8(char c) { return static_cast<std::uint8_t>(c); }

/// One frame as a client (masked, the default) or a server (masked = false)
/// sends it; the length uses the shortest encoding.
std::string frame(std::uint8_t op, std::string_view payload, bool fin = true, std::uint8_t rsv = 0,
                  bool masked = true) {
  std::string out;
  out += static_cast<char>((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (op & 0x0f));
  std::uint8_t m = masked ? 0x80 : 0;
  std::uint64_t n = payload.size();
  if (n < 126) {
    out += static_cast<char>(m | n);
  } else if (n <= 0xffff) {
    out += static_cast<char>(m | 126);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n & 0xff);
  } else {
    out += static_cast<char>(m | 127);
    for (int i = 7; i >= 0; --i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  }
  if (!masked) return out.append(payload);
  out.append(reinterpret_cast<const char*>(mask_key), 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    out += static_cast<char>(u8(payload[i]) ^ mask_key[i % 4]);
  return out;
}

std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
  std::string p;
  p += static_cast<char>(code >> 8);
  p += static_cast<char>(code & 0xff);
  return p.append(reason);
}

struct ws_frame {
  bool fin = false;
  std::uint8_t rsv = 0, op = 0;
  bool masked = false;
  int length_bytes = 0; ///< extra length bytes in the header: 0, 2 or 8
  std::string payload;
};

/// The code of a close frame, -1 when it has none.
int close_code(const ws_frame& f) {
  if (f.payload.size() < 2) return -1;
  return (u8(f.payload[0]) << 8) | u8(f.payload[1]);
}

/// Takes one complete frame off the front of `in` (unmasked), if there is one.
std::optional<ws_frame> parse_frame(std::string& in) {
  if (in.size() < 2) return std::nullopt;
  ws_frame f;
  auto b0 = u8(in[0]), b1 = u8(in[1]);
  f.fin = b0 & 0x80;
  f.rsv = (b0 >> 4) & 7;
  f.op = b0 & 0x0f;
  f.masked = b1 & 0x80;
  std::uint64_t len = b1 & 0x7f;
  f.length_bytes = len == 126 ? 2 : len == 127 ? 8 : 0;
  std::size_t pos = 2;
  if (in.size() < pos + f.length_bytes) return std::nullopt;
  if (f.length_bytes) {
    len = 0;
    for (int i = 0; i < f.length_bytes; ++i) len = (len << 8) | u8(in[pos + i]);
    pos += f.length_bytes;
  }
  std::uint8_t key[4] = {};
  if (f.masked) {
    if (in.size() < pos + 4) return std::nullopt;
    std::memcpy(key, in.data() + pos, 4);
    pos += 4;
  }
  if (in.size() - pos < len) return std::nullopt;
  f.payload = in.substr(pos, len);
  if (f.masked)
    for (std::size_t i = 0; i < f.payload.size(); ++i)
      f.payload[i] = static_cast<char>(u8(f.payload[i]) ^ key[i % 4]);
  in.erase(0, pos + len);
  return f;
}

/// Printable bytes: ASCII as is, the rest as \xNN, cut after `max`.
std::string show(std::string_view b, std::size_t max = 48) {
  std::ostringstream o;
  for (std::size_t i = 0; i < b.size() && i < max; ++i) {
    auto c = u8(b[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\')
      o << static_cast<char>(c);
    else
      o << "\\x"
        << "0123456789abcdef"[c >> 4] << "0123456789abcdef"[c & 15];
  }
  if (b.size() > max) o << "...(" << b.size() << " bytes)";
  return o.str();
}

std::string describe(const ws_frame& f) {
  static const char* names[16] = {"cont",  "text", "binary", "op3", "op4", "op5", "op6", "op7",
                                  "close", "ping", "pong",   "opB", "opC", "opD", "opE", "opF"};
  std::ostringstream o;
  o << names[f.op] << (f.fin ? "" : " (FIN=0)") << (f.masked ? " masked" : "");
  if (f.rsv) o << " rsv=" << int(f.rsv);
  if (f.op == op_close) {
    o << " code=" << close_code(f);
    if (f.payload.size() > 2)
      o << " reason='" << show(std::string_view(f.payload).substr(2)) << "'";
  } else {
    o << " len=" << f.payload.size() << " '" << show(f.payload) << "'";
  }
  return o.str();
}

std::string describe(std::error_code ec) {
  if (ec == coronet::errc::closed) return "eof";
  if (ec == asio::error::connection_reset) return "reset";
  if (ec == coronet::errc::timeout) return "timeout (nothing for 5 s)";
  return ec.message();
}

// ---- a raw TCP connection -------------------------------------------------

struct raw_conn {
  std::optional<coronet::tcp_stream> s;
  std::string in;   ///< bytes read and not yet parsed
  std::string end;  ///< why the last read failed: eof, reset, timeout, ...
  std::string head; ///< the HTTP head of the handshake
  std::array<char, 65536> buf;
};

asio::awaitable<bool> read_more(raw_conn& c) {
  auto n =
      co_await coronet::with_timeout(coronet::read_some(*c.s, asio::buffer(c.buf)), io_timeout);
  if (!n) {
    c.end = describe(n.error());
    co_return false;
  }
  c.in.append(c.buf.data(), *n);
  co_return true;
}

asio::awaitable<std::optional<ws_frame>> read_frame(raw_conn& c) {
  for (;;) {
    if (auto f = parse_frame(c.in)) co_return f;
    auto more = co_await read_more(c);
    if (!more) co_return std::nullopt;
  }
}

asio::awaitable<bool> send(raw_conn& c, std::string_view bytes) {
  auto w = co_await coronet::write(*c.s, asio::buffer(bytes.data(), bytes.size()));
  if (!w) c.end = "write: " + describe(w.error());
  co_return bool(w);
}

/// Writes `bytes` in two writes split at `at`, with a pause between them.
asio::awaitable<void> send_split(raw_conn& c, std::string_view bytes, std::size_t at) {
  co_await send(c, bytes.substr(0, at));
  co_await sleep_for(2ms);
  co_await send(c, bytes.substr(at));
}

/// Writes `bytes` one byte per write.
asio::awaitable<void> send_bytewise(raw_conn& c, std::string_view bytes, bool pause) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto ok = co_await send(c, bytes.substr(i, 1));
    if (!ok) co_return;
    if (pause) co_await sleep_for(1ms);
  }
}

/// Connects, sends `request` and reads the response head into c.head; true
/// if it is a 101.
asio::awaitable<bool> open_ws(raw_conn& c, std::uint16_t port,
                              std::string_view request = upgrade_request) {
  auto s = co_await coronet::tcp_connect("127.0.0.1", port);
  if (!s) {
    c.end = "connect: " + describe(s.error());
    co_return false;
  }
  c.s.emplace(std::move(*s));
  auto sent = co_await send(c, request);
  if (!sent) co_return false;
  auto n = co_await coronet::with_timeout(coronet::read_until(*c.s, c.in, "\r\n\r\n"), io_timeout);
  if (!n) {
    c.end = "handshake: " + describe(n.error());
    co_return false;
  }
  c.head = c.in.substr(0, *n);
  c.in.erase(0, *n);
  co_return c.head.starts_with("HTTP/1.1 101 ");
}

void require_open(bool ok, const raw_conn& c) {
  INFO("response head: " << show(c.head, 400) << " / connection: " << c.end);
  REQUIRE(ok);
}

/// An echo must be one unmasked final frame with the opcode and payload sent.
void check_frame(const std::optional<ws_frame>& f, std::uint8_t op, std::string_view payload,
                 std::string_view what, const raw_conn& c) {
  INFO(what);
  if (!f) {
    INFO("no frame arrived; the connection ended: " << c.end);
    CHECK(f.has_value());
    return;
  }
  INFO("got: " << describe(*f) << "; expected opcode " << int(op) << " '" << show(payload) << "'");
  CHECK(f->fin);
  CHECK(f->rsv == 0);
  CHECK(!f->masked); // RFC 6455 5.1: a server never masks
  CHECK(int(f->op) == int(op));
  CHECK(f->payload.size() == payload.size());
  CHECK((f->payload == payload));
  // 5.2: the minimal number of bytes encodes the length.
  int minimal = payload.size() < 126 ? 0 : payload.size() <= 0xffff ? 2 : 8;
  CHECK(f->length_bytes == minimal);
}

// ---- the end of a connection ----------------------------------------------

struct close_result {
  std::vector<std::string> before; ///< frames that came before the close
  std::optional<ws_frame> close;
  std::string after; ///< bytes after the close frame
  std::string end;   ///< how the TCP connection ended
  std::string summary() const {
    std::ostringstream o;
    o << "frames before the close: " << before.size();
    for (auto& b : before) o << " [" << b << "]";
    o << "; close: " << (close ? describe(*close) : std::string("none"));
    if (!after.empty()) o << "; after it: '" << show(after) << "'";
    o << "; TCP: " << end;
    return o.str();
  }
};

/// Reads frames until a close frame, then until the peer ends the TCP
/// connection (or io_timeout passes).
asio::awaitable<close_result> expect_close(raw_conn& c) {
  close_result r;
  for (;;) {
    auto f = co_await read_frame(c);
    if (!f) {
      if (!c.in.empty()) r.after = c.in; // a partial frame
      r.end = c.end;
      co_return r;
    }
    if (f->op == op_close) {
      r.close = std::move(f);
      break;
    }
    r.before.push_back(describe(*f));
  }
  for (;;) {
    r.after += c.in;
    c.in.clear();
    auto more = co_await read_more(c);
    if (!more) break;
  }
  r.after += c.in;
  c.in.clear();
  r.end = c.end;
  co_return r;
}

/// The peer answered with exactly one close frame carrying `code` (-1: no
/// code) and then closed the TCP connection.
void check_close(const close_result& r, int code, std::string_view what, bool masked = false) {
  INFO(what);
  INFO(r.summary());
  CHECK(r.before.empty());
  CHECK(r.close.has_value());
  if (r.close) {
    CHECK(close_code(*r.close) == code);
    CHECK(r.close->fin);
    CHECK(r.close->masked == masked);
    CHECK(r.close->payload.size() <= 125);
  }
  CHECK(r.after.empty());
  CHECK(r.end == "eof");
}

/// Sends a close 1000 and checks the server's answer.
asio::awaitable<void> close_cleanly(raw_conn& c) {
  auto bye = frame(op_close, close_payload(1000));
  co_await send(c, bye);
  auto r = co_await expect_close(c);
  check_close(r, 1000, "closing handshake after the case");
}

/// A new connection that sends `bytes` after the handshake and reads until
/// the server closes.
asio::awaitable<close_result> bad_input(std::uint16_t port, std::string_view bytes) {
  raw_conn c;
  auto ok = co_await open_ws(c, port);
  require_open(ok, c);
  co_await send(c, bytes);
  co_return co_await expect_close(c);
}

/// As bad_input(), with `bytes` written in two writes split at `at`, or
/// one byte per write when `at` is 0.
asio::awaitable<close_result> split_input(std::uint16_t port, std::string_view bytes,
                                          std::size_t at) {
  raw_conn c;
  auto ok = co_await open_ws(c, port);
  require_open(ok, c);
  if (at == 0)
    co_await send_bytewise(c, bytes, true);
  else
    co_await send_split(c, bytes, at);
  co_return co_await expect_close(c);
}

void check_bad_input(asio::io_context& io, std::uint16_t port, const std::string& bytes, int code,
                     const std::string& what) {
  auto r = run(io, bad_input(port, bytes));
  check_close(r, code, what + " (sent '" + show(bytes, 64) + "')");
}

/// "" when a new connection still gets an echo and a clean close.
asio::awaitable<std::string> quick_echo(std::uint16_t port) {
  raw_conn c;
  auto ok = co_await open_ws(c, port);
  if (!ok) co_return "no 101: '" + show(c.head, 200) + "' / " + c.end;
  auto hello = frame(op_text, "still serving");
  co_await send(c, hello);
  auto f = co_await read_frame(c);
  if (!f) co_return "no echo: " + c.end;
  if (f->op != op_text || f->payload != "still serving") co_return "wrong echo: " + describe(*f);
  auto bye = frame(op_close, close_payload(1000));
  co_await send(c, bye);
  auto r = co_await expect_close(c);
  if (!r.close || close_code(*r.close) != 1000 || r.end != "eof")
    co_return "bad close: " + r.summary();
  co_return "";
}

void check_still_serves(asio::io_context& io, std::uint16_t port) {
  auto problem = run(io, quick_echo(port));
  INFO("after the bad input, a new connection to the same server");
  CHECK(problem == "");
}

std::string repeat_pattern(std::size_t n, std::size_t seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (seed + i * 7) % 26);
  return s;
}

std::string all_bytes(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) & 0xff);
  return s;
}

/// Sends each message of `msgs` as one frame of `op` on one connection and
/// checks each echo.
asio::awaitable<void> echo_each(std::uint16_t port, std::uint8_t op,
                                const std::vector<std::string>& msgs, std::string_view what) {
  raw_conn c;
  auto ok = co_await open_ws(c, port);
  require_open(ok, c);
  for (auto& m : msgs) {
    auto bytes = frame(op, m);
    co_await send(c, bytes);
    auto f = co_await read_frame(c);
    check_frame(f, op, m, what, c);
  }
  co_await close_cleanly(c);
}

// ---- the client side: a raw server for coronet::connect -------------------

enum class reply { switching, wrong_accept, forbidden };

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(u8(ch)));
  return out;
}

std::string header_value(std::string_view head, std::string_view name) {
  auto l = lower(head);
  auto at = l.find("\r\n" + lower(name) + ":");
  if (at == std::string::npos) return {};
  auto from = at + 2 + name.size() + 1;
  auto to = head.find("\r\n", from);
  auto v = head.substr(from, to - from);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return std::string(v);
}

/// Accepts one connection, reads the upgrade request into c.head and answers
/// it as `how` says.  False if no request arrived.
asio::awaitable<bool> accept_upgrade(coronet::tcp_acceptor& acc, raw_conn& c, reply how) {
  auto s = co_await coronet::with_timeout(acc.accept(), io_timeout);
  if (!s) {
    c.end = "accept: " + describe(s.error());
    co_return false;
  }
  c.s.emplace(std::move(*s));
  auto n = co_await coronet::with_timeout(coronet::read_until(*c.s, c.in, "\r\n\r\n"), io_timeout);
  if (!n) {
    c.end = "request: " + describe(n.error());
    co_return false;
  }
  c.head = c.in.substr(0, *n);
  c.in.erase(0, *n);
  std::string response;
  if (how == reply::forbidden) {
    response = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  } else {
    auto accept = how == reply::switching
                      ? coronet::detail::accept_key(header_value(c.head, "Sec-WebSocket-Key"))
                      : std::string("dGhlIHNhbXBsZSBub25jZQ=="); // the key itself: wrong
    response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: " +
               accept + "\r\n\r\n";
  }
  auto sent = co_await send(c, response);
  if (how == reply::forbidden) (void)c.s->shutdown(asio::socket_base::shutdown_send);
  co_return sent;
}

/// The raw server's side: answers the upgrade, sends `frames` and reads
/// until the client closes.  The client's close must be masked.
asio::awaitable<close_result> peer_send_then_close(coronet::tcp_acceptor& acc,
                                                   std::string_view frames) {
  raw_conn c;
  close_result r;
  auto ok = co_await accept_upgrade(acc, c, reply::switching);
  if (!ok) {
    r.end = c.end;
    co_return r;
  }
  co_await send(c, frames);
  r = co_await expect_close(c);
  c.s->close(); // the server ends TCP last here: the client waits for it
  co_return r;
}

/// The raw server refuses the upgrade (or answers it badly) and waits a little
/// before dropping the connection.
asio::awaitable<bool> peer_refuse(coronet::tcp_acceptor& acc, reply how) {
  raw_conn c;
  auto ok = co_await accept_upgrade(acc, c, how);
  co_await sleep_for(50ms);
  co_return ok;
}

/// The raw server pings, sends "echo me", logs the client's next two frames,
/// then closes with 1000 and logs how the client closes.
asio::awaitable<std::string> peer_ping_and_echo(coronet::tcp_acceptor& acc) {
  raw_conn c;
  auto ok = co_await accept_upgrade(acc, c, reply::switching);
  if (!ok) co_return "no handshake: " + c.end;
  auto frames =
      frame(op_ping, "are you there", true, 0, false) + frame(op_text, "echo me", true, 0, false);
  co_await send(c, frames);
  std::string log;
  for (int i = 0; i < 2; ++i) {
    auto f = co_await read_frame(c);
    if (!f) co_return log + "ended: " + c.end;
    log += describe(*f) + "; ";
  }
  auto bye = frame(op_close, close_payload(1000), true, 0, false);
  co_await send(c, bye);
  auto r = co_await expect_close(c);
  c.s->close();
  co_return log + r.summary();
}

struct client_outcome {
  std::error_code connect_error, receive_error, close_error;
  std::vector<std::string> received;
};

/// coronet's client: connects, receives until an error (echoing each
/// message back when `echo_back`), then close()s.
asio::awaitable<client_outcome> client_run(const std::string& url, bool echo_back) {
  client_outcome out;
  auto ch = co_await coronet::connect(url);
  if (!ch) {
    out.connect_error = ch.error();
    co_return out;
  }
  ch->set_receive_timeout(std::chrono::duration_cast<std::chrono::milliseconds>(io_timeout));
  for (;;) {
    auto m = co_await ch->receive();
    if (!m) {
      out.receive_error = m.error();
      break;
    }
    out.received.emplace_back(m->text());
    if (echo_back) {
      auto s = co_await ch->send(*m);
      if (!s) break;
    }
  }
  auto closed = co_await ch->close();
  if (!closed) out.close_error = closed.error();
  co_return out;
}

template <class A, class B>
asio::awaitable<std::tuple<A, B>> both(asio::awaitable<A> a, asio::awaitable<B> b) {
  using namespace asio::experimental::awaitable_operators;
  co_return co_await (std::move(a) && std::move(b));
}

struct raw_server {
  asio::io_context io;
  std::optional<coronet::tcp_acceptor> acc;
  std::string url;
  raw_server() {
    auto a = coronet::tcp_acceptor::open(io.get_executor(), "127.0.0.1", 0);
    REQUIRE(a);
    acc.emplace(std::move(*a));
    url = "ws://127.0.0.1:" + std::to_string(acc->port()) + "/raw";
  }
};

std::string describe_error(std::error_code ec) {
  return ec ? std::string(ec.category().name()) + ":" + std::to_string(ec.value()) + " (" +
                  ec.message() + ")"
            : std::string("none");
}

} // namespace

// ===========================================================================
// H: the opening handshake (section 4)
// ===========================================================================

TEST_CASE("H-1.1 lowercase header names and 'Connection: keep-alive, Upgrade' get a 101",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    static constexpr std::string_view request =
        "GET /echo HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: WebSocket\r\n"
        "connection: keep-alive, Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "sec-websocket-version: 13\r\nuser-agent: conformance\r\n\r\n";
    raw_conn c;
    auto ok = co_await open_ws(c, port, request);
    require_open(ok, c);
    CHECK(header_value(c.head, "sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK(lower(header_value(c.head, "upgrade")) == "websocket");
    CHECK(lower(header_value(c.head, "connection")).find("upgrade") != std::string::npos);
    auto hello = frame(op_text, "hello");
    co_await send(c, hello);
    auto f = co_await read_frame(c);
    check_frame(f, op_text, "hello", "echo on the upgraded connection", c);
    co_await close_cleanly(c);
  }(srv.port()));
}

// ===========================================================================
// C: control frames (section 5.5)
// ===========================================================================

TEST_CASE("C-2.1 ping with payload gets a pong with the same payload", "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    raw_conn c;
    auto ok = co_await open_ws(c, port);
    require_open(ok, c);
    auto ping = frame(op_ping, "Hello, pong!");
    co_await send(c, ping);
    auto f = co_await read_frame(c);
    check_frame(f, op_pong, "Hello, pong!", "pong", c);
    auto bin = all_bytes(64);
    auto ping2 = frame(op_ping, bin);
    co_await send(c, ping2);
    auto f2 = co_await read_frame(c);
    check_frame(f2, op_pong, bin, "pong of a binary payload", c);
    co_await close_cleanly(c);
  }(srv.port()));
}

TEST_CASE("C-2.2 empty ping gets an empty pong", "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    raw_conn c;
    auto ok = co_await open_ws(c, port);
    require_open(ok, c);
    auto ping = frame(op_ping, "");
    co_await send(c, ping);
    auto f = co_await read_frame(c);
    check_frame(f, op_pong, "", "pong", c);
    co_await close_cleanly(c);
  }(srv.port()));
}

TEST_CASE("C-2.3 unsolicited pong is ignored", "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    raw_conn c;
    auto ok = co_await open_ws(c, port);
    require_open(ok, c);
    auto pong = frame(op_pong, "unsolicited");
    auto empty_pong = frame(op_pong, "");
    auto text = frame(op_text, "after the pongs");
    auto all = pong + empty_pong + text;
    co_await send(c, all);
    auto f = co_await read_frame(c); // the echo, with nothing before it
    check_frame(f, op_text, "after the pongs", "first frame after unsolicited pongs", c);
    co_await close_cleanly(c);
  }(srv.port()));
}

TEST_CASE("C-2.4 ping with a 125-byte payload gets a pong with the same payload",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    raw_conn c;
    auto ok = co_await open_ws(c, port);
    require_open(ok, c);
    auto payload = all_bytes(125);
    auto ping = frame(op_ping, payload);
    co_await send(c, ping);
    auto f = co_await read_frame(c);
    check_frame(f, op_pong, payload, "pong", c);
    co_await close_cleanly(c);
  }(srv.port()));
}

TEST_CASE("C-2.5 ping with a 126-byte payload gets close 1002", "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  check_bad_input(io, srv.port(), frame(op_ping, std::string(126, 'p')), 1002, "ping of 126");
  check_still_serves(io, srv.port());
}

TEST_CASE("C-2.6 fragmented control frames (FIN=0) get close 1002", "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  check_bad_input(io, srv.port(), frame(op_ping, "abc", false), 1002, "ping with FIN=0");
  check_bad_input(io, srv.port(), frame(op_ping, "abc", false) + frame(op_cont, "def"), 1002,
                  "ping with FIN=0, then a continuation");
  check_bad_input(io, srv.port(), frame(op_pong, "abc", false), 1002, "pong with FIN=0");
  check_bad_input(io, srv.port(), frame(op_close, close_payload(1000), false), 1002,
                  "close with FIN=0");
  check_still_serves(io, srv.port());
}

// ===========================================================================
// F: data framing (sections 5.2, 5.3, 5.6)
// ===========================================================================

TEST_CASE("F-3.1 masked text and binary with 7-bit lengths are echoed unmasked",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  std::vector<std::string> msgs;
  for (std::size_t n : {0u, 1u, 7u, 64u, 125u}) msgs.push_back(repeat_pattern(n, n));
  run(io, echo_each(srv.port(), op_text, msgs, "text, 7-bit length"));
  msgs.clear();
  for (std::size_t n : {0u, 1u, 7u, 64u, 125u}) msgs.push_back(all_bytes(n));
  run(io, echo_each(srv.port(), op_binary, msgs, "binary, 7-bit length"));
}

TEST_CASE("F-3.2 masked text and binary with 16-bit lengths (126) are echoed unmasked",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  std::vector<std::string> msgs;
  for (std::size_t n : {126u, 127u, 1000u, 65535u}) msgs.push_back(repeat_pattern(n, n));
  run(io, echo_each(srv.port(), op_text, msgs, "text, 16-bit length"));
  msgs.clear();
  for (std::size_t n : {126u, 127u, 1000u, 65535u}) msgs.push_back(all_bytes(n));
  run(io, echo_each(srv.port(), op_binary, msgs, "binary, 16-bit length"));
}

TEST_CASE("F-3.3 masked text and binary with 64-bit lengths (127) are echoed unmasked",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  std::vector<std::string> msgs;
  for (std::size_t n : {65536u, 65537u, 300000u}) msgs.push_back(repeat_pattern(n, n));
  run(io, echo_each(srv.port(), op_text, msgs, "text, 64-bit length"));
  msgs.clear();
  for (std::size_t n : {65536u, 65537u, 300000u}) msgs.push_back(all_bytes(n));
  run(io, echo_each(srv.port(), op_binary, msgs, "binary, 64-bit length"));
}

TEST_CASE("F-3.4 many frames in one TCP write are echoed in order", "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    raw_conn c;
    auto ok = co_await open_ws(c, port);
    require_open(ok, c);
    std::string all;
    for (int i = 0; i < 100; ++i) all += frame(i % 2 ? op_binary : op_text, std::to_string(i));
    co_await send(c, all);
    for (int i = 0; i < 100; ++i) {
      auto f = co_await read_frame(c);
      check_frame(f, i % 2 ? op_binary : op_text, std::to_string(i), "pipelined echo", c);
    }
    co_await close_cleanly(c);
  }(srv.port()));
}

// ===========================================================================
// R: protocol violations (sections 5.1-5.5) get close 1002
// ===========================================================================

TEST_CASE("R-4.1 an unmasked frame from a client gets close 1002", "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  check_bad_input(io, srv.port(), frame(op_text, "not masked", true, 0, false), 1002,
                  "unmasked text");
  check_bad_input(io, srv.port(), frame(op_ping, "not masked", true, 0, false), 1002,
                  "unmasked ping");
  check_still_serves(io, srv.port());
}

TEST_CASE("R-4.2 RSV1, RSV2 or RSV3 set without an extension gets close 1002",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  for (std::uint8_t rsv : {4, 2, 1, 7}) {
    check_bad_input(io, srv.port(), frame(op_text, "reserved", true, rsv), 1002,
                    "text with rsv=" + std::to_string(rsv));
  }
  check_bad_input(io, srv.port(), frame(op_ping, "reserved", true, 4), 1002, "ping with RSV1");
  check_still_serves(io, srv.port());
}

TEST_CASE("R-4.3 reserved opcodes 3-7 and 0xB-0xF get close 1002", "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  for (std::uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF})
    check_bad_input(io, srv.port(), frame(op, "x"), 1002, "opcode " + std::to_string(op));
  check_still_serves(io, srv.port());
}

TEST_CASE("R-4.4 a continuation frame without a message to continue gets close 1002",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  check_bad_input(io, srv.port(), frame(op_cont, "orphan"), 1002, "continuation, FIN=1");
  check_bad_input(io, srv.port(), frame(op_cont, "orphan", false), 1002, "continuation, FIN=0");
  check_bad_input(io, srv.port(), frame(op_text, "done") + frame(op_cont, "orphan"), 1002,
                  "continuation after a finished message");
  check_still_serves(io, srv.port());
}

TEST_CASE("R-4.5 a new data frame while a fragmented message is open gets close 1002",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  check_bad_input(io, srv.port(), frame(op_text, "open", false) + frame(op_text, "new"), 1002,
                  "text FIN=0 then text");
  check_bad_input(io, srv.port(), frame(op_binary, "open", false) + frame(op_text, "new", false),
                  1002, "binary FIN=0 then text FIN=0");
  check_bad_input(io, srv.port(), frame(op_text, "open", false) + frame(op_binary, "new"), 1002,
                  "text FIN=0 then binary");
  check_still_serves(io, srv.port());
}

TEST_CASE("R-4.6 a close frame with a 1-byte payload gets close 1002", "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  check_bad_input(io, srv.port(), frame(op_close, std::string(1, '\x03')), 1002,
                  "close with 1 byte");
  check_still_serves(io, srv.port());
}

TEST_CASE("R-4.7 a 64-bit length with the most significant bit set gets close 1002",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  // binary, FIN, masked, 127, length 0x8000000000000005, key, 5 payload bytes
  std::string bytes = "\x82\xff\x80";
  bytes += std::string(6, '\0');
  bytes += '\x05';
  bytes.append(reinterpret_cast<const char*>(mask_key), 4);
  bytes += "hello";
  check_bad_input(io, srv.port(), bytes, 1002, "length 2^63 + 5");
  check_still_serves(io, srv.port());
}

// ===========================================================================
// M: fragmentation (section 5.4)
// ===========================================================================

TEST_CASE("M-5.1 text in 3 fragments with a ping in between: pong, then the whole message",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    raw_conn c;
    auto ok = co_await open_ws(c, port);
    require_open(ok, c);
    auto first = frame(op_text, "Hello, ", false) + frame(op_ping, "in between");
    co_await send(c, first);
    // The pong comes while the message is still open.
    auto pong = co_await read_frame(c);
    check_frame(pong, op_pong, "in between", "pong in the middle of a message", c);
    auto rest =
        frame(op_cont, "fragmented ", false) + frame(op_ping, "again") + frame(op_cont, "world");
    co_await send(c, rest);
    auto pong2 = co_await read_frame(c);
    check_frame(pong2, op_pong, "again", "second pong", c);
    auto f = co_await read_frame(c);
    check_frame(f, op_text, "Hello, fragmented world", "the reassembled message", c);
    co_await close_cleanly(c);
  }(srv.port()));
}

TEST_CASE("M-5.2 a message of many 1-byte fragments is echoed whole", "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    raw_conn c;
    auto ok = co_await open_ws(c, port);
    require_open(ok, c);
    auto msg = repeat_pattern(300, 3);
    std::string all;
    for (std::size_t i = 0; i < msg.size(); ++i)
      all += frame(i == 0 ? op_text : op_cont, msg.substr(i, 1), i + 1 == msg.size());
    co_await send(c, all);
    auto f = co_await read_frame(c);
    check_frame(f, op_text, msg, "300 fragments of 1 byte", c);
    auto bin = all_bytes(50);
    std::string parts;
    for (std::size_t i = 0; i < bin.size(); ++i)
      parts += frame(i == 0 ? op_binary : op_cont, bin.substr(i, 1), i + 1 == bin.size());
    co_await send_bytewise(c, parts, false);
    auto g = co_await read_frame(c);
    check_frame(g, op_binary, bin, "50 binary fragments, written a byte at a time", c);
    co_await close_cleanly(c);
  }(srv.port()));
}

TEST_CASE("M-5.3 empty fragments and a character split across fragments are echoed",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    raw_conn c;
    auto ok = co_await open_ws(c, port);
    require_open(ok, c);
    auto empties = frame(op_text, "", false) + frame(op_cont, "", false) + frame(op_cont, "");
    co_await send(c, empties);
    auto f = co_await read_frame(c);
    check_frame(f, op_text, "", "text of three empty fragments", c);
    // U+20AC (e2 82 ac) and U+10348 (f0 90 8d 88) cut inside their encodings.
    auto split = frame(op_text, "\xe2", false) + frame(op_cont, "\x82\xac\xf0\x90", false) +
                 frame(op_cont, "\x8d", false) + frame(op_cont, "\x88!");
    co_await send(c, split);
    auto g = co_await read_frame(c);
    check_frame(g, op_text, "\xe2\x82\xac\xf0\x90\x8d\x88!", "characters split by fragments", c);
    co_await close_cleanly(c);
  }(srv.port()));
}

// ===========================================================================
// U: UTF-8 in text messages (sections 5.6, 8.1)
// ===========================================================================

TEST_CASE("U-6.1 valid UTF-8 edge cases are echoed", "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  std::vector<std::string> msgs = {
      std::string(1, '\0'), // U+0000
      "\x7f",               // U+007F
      "\xc2\x80",           // U+0080
      "\xdf\xbf",           // U+07FF
      "\xe0\xa0\x80",       // U+0800
      "\xed\x9f\xbf",       // U+D7FF, last before the surrogates
      "\xee\x80\x80",       // U+E000, first after them
      "\xef\xbf\xbf",       // U+FFFF
      "\xf0\x90\x80\x80",   // U+10000
      "\xf4\x8f\xbf\xbf",   // U+10FFFF
      "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!",
      "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 \xe2\x82\xac \xf0\x9f\x98\x80 a\x7f\xc2\x80",
  };
  run(io, echo_each(srv.port(), op_text, msgs, "valid UTF-8"));
}

TEST_CASE("U-6.2 invalid UTF-8 sequences in a text message get close 1007", "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\xc0\x80", "overlong U+0000 (c0 80)"},
      {"\xc1\xbf", "overlong (c1 bf)"},
      {"\xe0\x80\xaf", "overlong 3-byte (e0 80 af)"},
      {"\xf0\x8f\xbf\xbf", "overlong 4-byte (f0 8f bf bf)"},
      {"\xed\xa0\x80", "surrogate U+D800 (ed a0 80)"},
      {"\xed\xbf\xbf", "surrogate U+DFFF (ed bf bf)"},
      {"\xf4\x90\x80\x80", "above U+10FFFF (f4 90 80 80)"},
      {"\xf5\x80\x80\x80", "f5 lead byte"},
      {"\x80", "lone continuation byte"},
      {std::string("ab\x80") + "cd", "continuation byte amid ASCII"},
      {"\xfe", "fe"},
      {"\xff", "ff"},
      {"\xe2\x82", "truncated e2 82 at the end of the message"},
      {"\xf0\x9f\x98", "truncated f0 9f 98 at the end of the message"},
      {"\xe2\x28\xa1", "bad second byte (e2 28 a1)"},
  };
  for (auto& [payload, what] : cases)
    check_bad_input(io, srv.port(), frame(op_text, payload), 1007, what);
  // The same, as the final fragment of a fragmented message.
  check_bad_input(io, srv.port(), frame(op_text, "ok ", false) + frame(op_cont, "\xe2\x82"), 1007,
                  "truncated sequence at the end of the last fragment");
  check_still_serves(io, srv.port());
}

TEST_CASE("U-6.3 invalid UTF-8 in the first fragment gets close 1007 before the message ends",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    raw_conn c;
    auto ok = co_await open_ws(c, port);
    require_open(ok, c);
    // "κόσμε" then f4 90 80 80; the message is not finished and never will be.
    auto first =
        frame(op_text, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80", false);
    co_await send(c, first);
    auto r = co_await expect_close(c);
    check_close(r, 1007, "fail-fast on the first fragment");
  }(srv.port()));
  check_still_serves(io, srv.port());
}

TEST_CASE("U-6.4 invalid UTF-8 early in a frame gets close 1007 before the frame is complete",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    raw_conn c;
    auto ok = co_await open_ws(c, port);
    require_open(ok, c);
    auto payload = std::string("\xce\xba\xe1\xbd\xb9\xed\xa0\x80") + std::string(200, 'a');
    auto whole = frame(op_text, payload);
    auto part = std::string_view(whole).substr(0, 8 + 20); // header, key, 20 bytes
    co_await send(c, part);
    auto r = co_await expect_close(c);
    check_close(r, 1007, "fail-fast inside one frame (the rest was never sent)");
  }(srv.port()));
  check_still_serves(io, srv.port());
}

TEST_CASE("U-6.5 a valid message split across TCP writes at every byte is echoed",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    raw_conn c;
    auto ok = co_await open_ws(c, port);
    require_open(ok, c);
    // κόσμε-€-𐍈: 2-, 3- and 4-byte sequences
    std::string msg = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5-\xe2\x82\xac-\xf0\x90\x8d\x88";
    auto bytes = frame(op_text, msg);
    for (std::size_t at = 1; at < bytes.size(); ++at) {
      co_await send_split(c, bytes, at);
      auto f = co_await read_frame(c);
      check_frame(f, op_text, msg, "split at byte " + std::to_string(at), c);
    }
    co_await send_bytewise(c, bytes, true);
    auto f = co_await read_frame(c);
    check_frame(f, op_text, msg, "one byte per write", c);
    co_await close_cleanly(c);
  }(srv.port()));
}

TEST_CASE("U-6.6 an invalid message split across TCP writes at every byte gets close 1007",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  auto msg = std::string("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80") + "edited";
  auto bytes = frame(op_text, msg);
  for (std::size_t at = 1; at < bytes.size(); ++at) {
    auto r = run(io, split_input(srv.port(), bytes, at));
    check_close(r, 1007, "split at byte " + std::to_string(at));
  }
  auto r = run(io, split_input(srv.port(), bytes, 0));
  check_close(r, 1007, "one byte per write");
  check_still_serves(io, srv.port());
}

TEST_CASE("U-6.7 binary messages are not checked for UTF-8", "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  std::vector<std::string> msgs = {"\xc0\x80", "\xed\xa0\x80", "\xff\xfe", "\xe2\x82"};
  run(io, echo_each(srv.port(), op_binary, msgs, "binary that is not UTF-8"));
}

// ===========================================================================
// X: the closing handshake (sections 5.5.1, 7)
// ===========================================================================

TEST_CASE("X-7.1 close 1000 with a reason: the server answers 1000 and closes TCP",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    raw_conn c;
    auto ok = co_await open_ws(c, port);
    require_open(ok, c);
    auto bye = frame(op_close, close_payload(1000, "goodbye, server"));
    co_await send(c, bye);
    auto r = co_await expect_close(c);
    check_close(r, 1000, "echo of close 1000");
  }(srv.port()));
}

TEST_CASE("X-7.2 an empty close frame is answered with a close and TCP is closed",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    raw_conn c;
    auto ok = co_await open_ws(c, port);
    require_open(ok, c);
    auto bye = frame(op_close, "");
    co_await send(c, bye);
    auto r = co_await expect_close(c);
    // 7.1.5/5.5.1: no code received; the answer carries none (or 1000).
    int code = r.close ? close_code(*r.close) : -2;
    check_close(r, code == 1000 ? 1000 : -1, "answer to an empty close");
  }(srv.port()));
}

TEST_CASE("X-7.3 close frames with codes that may not be sent get close 1002",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    check_bad_input(io, srv.port(), frame(op_close, close_payload(code)), 1002,
                    "close code " + std::to_string(code));
  }
  check_still_serves(io, srv.port());
}

TEST_CASE("X-7.4 a close reason that is not UTF-8 gets close 1007", "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  check_bad_input(io, srv.port(), frame(op_close, close_payload(1000, "\xc0\x80")), 1007,
                  "reason c0 80");
  check_bad_input(io, srv.port(),
                  frame(op_close, close_payload(1000, "\xce\xba\xe1\xbd\xb9\xed\xa0\x80")), 1007,
                  "reason with a surrogate");
  check_bad_input(io, srv.port(), frame(op_close, close_payload(1000, "ok\xe2\x82")), 1007,
                  "reason truncated inside a character");
  check_still_serves(io, srv.port());
}

TEST_CASE("X-7.5 valid close codes are accepted and echoed", "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  for (std::uint16_t code :
       {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999}) {
    auto bytes = frame(op_close, close_payload(code, "reason"));
    auto r = run(io, bad_input(srv.port(), bytes));
    check_close(r, code, "close code " + std::to_string(code));
  }
  check_still_serves(io, srv.port());
}

TEST_CASE("X-7.6 data frames after the client's close are not answered", "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    raw_conn c;
    auto ok = co_await open_ws(c, port);
    require_open(ok, c);
    auto bytes = frame(op_close, close_payload(1000)) + frame(op_text, "too late") +
                 frame(op_ping, "too late");
    co_await send(c, bytes);
    auto r = co_await expect_close(c);
    check_close(r, 1000, "close, then a text and a ping");
  }(srv.port()));
}

TEST_CASE("X-7.7 a close payload of 125 bytes is accepted, one of 126 gets 1002",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  auto longest = frame(op_close, close_payload(1000, std::string(123, 'r')));
  auto r = run(io, bad_input(srv.port(), longest));
  check_close(r, 1000, "close with 2 + 123 bytes");
  check_bad_input(io, srv.port(), frame(op_close, close_payload(1000, std::string(124, 'r'))), 1002,
                  "close with 2 + 124 bytes");
  check_still_serves(io, srv.port());
}

// ===========================================================================
// L: limits (section 10.4)
// ===========================================================================

namespace {
coronet::server_options limited() {
  coronet::server_options o;
  o.max_message = 1000;
  return o;
}
} // namespace

TEST_CASE("L-8.1 a single frame over max_message gets close 1009", "[conformance][ws]") {
  ws_server srv(limited());
  asio::io_context io;
  check_bad_input(io, srv.port(), frame(op_binary, all_bytes(1001)), 1009, "binary of 1001");
  check_bad_input(io, srv.port(), frame(op_text, repeat_pattern(1001, 1)), 1009, "text of 1001");
  check_still_serves(io, srv.port());
}

TEST_CASE("L-8.2 fragments summing over max_message get close 1009", "[conformance][ws]") {
  ws_server srv(limited());
  asio::io_context io;
  auto a = repeat_pattern(400, 1);
  check_bad_input(io, srv.port(),
                  frame(op_text, a, false) + frame(op_cont, a, false) +
                      frame(op_cont, repeat_pattern(201, 2)),
                  1009, "400 + 400 + 201");
  std::string ones;
  for (int i = 0; i < 1001; ++i) ones += frame(i == 0 ? op_binary : op_cont, "b", false);
  check_bad_input(io, srv.port(), ones, 1009, "1001 fragments of 1 byte, never finished");
  check_still_serves(io, srv.port());
}

TEST_CASE("L-8.3 a message of exactly max_message is echoed, whole or fragmented",
          "[conformance][ws]") {
  ws_server srv(limited());
  asio::io_context io;
  run(io, [](std::uint16_t port) -> asio::awaitable<void> {
    raw_conn c;
    auto ok = co_await open_ws(c, port);
    require_open(ok, c);
    auto msg = repeat_pattern(1000, 5);
    auto whole = frame(op_text, msg);
    co_await send(c, whole);
    auto f = co_await read_frame(c);
    check_frame(f, op_text, msg, "1000 bytes in one frame", c);
    auto parts = frame(op_text, msg.substr(0, 500), false) + frame(op_ping, "p") +
                 frame(op_cont, msg.substr(500));
    co_await send(c, parts);
    auto pong = co_await read_frame(c);
    check_frame(pong, op_pong, "p", "pong (not counted in the message)", c);
    auto g = co_await read_frame(c);
    check_frame(g, op_text, msg, "1000 bytes in two fragments", c);
    co_await close_cleanly(c);
  }(srv.port()));
}

TEST_CASE("L-8.4 a frame header announcing 2^40 bytes gets close 1009 at once",
          "[conformance][ws]") {
  ws_server srv;
  asio::io_context io;
  std::string bytes = "\x82\xff";
  for (int i = 7; i >= 0; --i) bytes += static_cast<char>(((1ull << 40) >> (8 * i)) & 0xff);
  bytes.append(reinterpret_cast<const char*>(mask_key), 4);
  bytes += "only a few bytes";
  check_bad_input(io, srv.port(), bytes, 1009, "length 2^40 over the default 64 MiB");
  check_still_serves(io, srv.port());
}

// ===========================================================================
// K: coronet's client against a raw server
// ===========================================================================

TEST_CASE("K-9.1 a masked frame from the server: the client closes with 1002",
          "[conformance][ws]") {
  raw_server rs;
  auto frames = frame(op_text, "masked by the server", true, 0, true);
  auto [peer, client] =
      run(rs.io, both(peer_send_then_close(*rs.acc, frames), client_run(rs.url, false)));
  check_close(peer, 1002, "the client's answer to a masked frame", true);
  INFO("receive(): " << describe_error(client.receive_error));
  CHECK(!client.connect_error);
  CHECK(client.received.empty());
  CHECK(client.receive_error == coronet::errc::protocol_error);
}

TEST_CASE("K-9.2 invalid UTF-8 text from the server: receive() fails with invalid_utf8",
          "[conformance][ws]") {
  raw_server rs;
  auto frames =
      frame(op_text, "ok", true, 0, false) + frame(op_text, "bad \xc0\x80", true, 0, false);
  auto [peer, client] =
      run(rs.io, both(peer_send_then_close(*rs.acc, frames), client_run(rs.url, false)));
  check_close(peer, 1007, "the client's answer to invalid UTF-8", true);
  INFO("receive(): " << describe_error(client.receive_error));
  CHECK(!client.connect_error);
  CHECK(client.received == std::vector<std::string>{"ok"});
  CHECK(client.receive_error == coronet::errc::invalid_utf8);
}

TEST_CASE("K-9.3 close 4000 'bye' from the server: receive() fails with close code 4000",
          "[conformance][ws]") {
  raw_server rs;
  auto frames = frame(op_close, close_payload(4000, "bye"), true, 0, false);
  auto [peer, client] =
      run(rs.io, both(peer_send_then_close(*rs.acc, frames), client_run(rs.url, false)));
  check_close(peer, 4000, "the client's echo of close 4000", true);
  INFO("receive(): " << describe_error(client.receive_error));
  CHECK(!client.connect_error);
  CHECK(client.receive_error.category() == coronet::close_code_category());
  CHECK(client.receive_error.value() == 4000);
  CHECK(!client.close_error);
}

TEST_CASE("K-9.4 a 403 answer to the upgrade: connect fails with HTTP status 403",
          "[conformance][ws]") {
  raw_server rs;
  auto [served, client] =
      run(rs.io, both(peer_refuse(*rs.acc, reply::forbidden), client_run(rs.url, false)));
  CHECK(served);
  INFO("connect(): " << describe_error(client.connect_error));
  CHECK(client.connect_error.category() == coronet::http_status_category());
  CHECK(client.connect_error.value() == 403);
}

TEST_CASE("K-9.5 a 101 with a wrong Sec-WebSocket-Accept: connect fails with handshake_failed",
          "[conformance][ws]") {
  raw_server rs;
  auto [served, client] =
      run(rs.io, both(peer_refuse(*rs.acc, reply::wrong_accept), client_run(rs.url, false)));
  CHECK(served);
  INFO("connect(): " << describe_error(client.connect_error));
  CHECK(client.connect_error == coronet::errc::handshake_failed);
}

TEST_CASE("K-9.6 the client masks its frames and answers pings", "[conformance][ws]") {
  raw_server rs;
  auto [log, client] = run(rs.io, both(peer_ping_and_echo(*rs.acc), client_run(rs.url, true)));
  CHECK(log == "pong masked len=13 'are you there'; text masked len=7 'echo me'; frames before "
               "the close: 0; close: close masked code=1000; TCP: eof");
  INFO("receive(): " << describe_error(client.receive_error));
  CHECK(client.received == std::vector<std::string>{"echo me"});
  CHECK(client.receive_error == coronet::errc::closed);
  CHECK(!client.close_error);
}
