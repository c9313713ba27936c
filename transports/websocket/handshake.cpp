// The opening handshake: http-parser for the heads, mbedTLS SHA-1 and base64
// for Sec-WebSocket-Accept, CTR-DRBG for Sec-WebSocket-Key.
#include "random.hpp"

#include <coronet/detail/ws_handshake.hpp>
#include <coronet/error.hpp>

#include <http_parser.h>
#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace coronet::detail {
namespace {

constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

struct parsed_head {
  http_request request;
  int status = 0;
  bool complete = false;
  bool in_value = false;
};

int on_url(http_parser* p, const char* at, std::size_t n) {
  static_cast<parsed_head*>(p->data)->request.target.append(at, n);
  return 0;
}

int on_field(http_parser* p, const char* at, std::size_t n) {
  auto& h = *static_cast<parsed_head*>(p->data);
  if (h.in_value || h.request.headers.empty()) h.request.headers.emplace_back();
  h.in_value = false;
  h.request.headers.back().first.append(at, n);
  return 0;
}

int on_value(http_parser* p, const char* at, std::size_t n) {
  auto& h = *static_cast<parsed_head*>(p->data);
  h.in_value = true;
  h.request.headers.back().second.append(at, n);
  return 0;
}

int on_headers_complete(http_parser* p) {
  auto& h = *static_cast<parsed_head*>(p->data);
  h.complete = true;
  h.status = static_cast<int>(p->status_code);
  return 0;
}

// Parses a request or response head; false if http-parser rejects it.
bool parse_head(std::string_view head, http_parser_type type, parsed_head& out,
                http_parser& parser) {
  http_parser_settings settings{};
  settings.on_url = on_url;
  settings.on_header_field = on_field;
  settings.on_header_value = on_value;
  settings.on_headers_complete = on_headers_complete;
  http_parser_init(&parser, type);
  parser.data = &out;
  http_parser_execute(&parser, &settings, head.data(), head.size());
  return HTTP_PARSER_ERRNO(&parser) == HPE_OK && out.complete;
}

std::string base64(std::span<const unsigned char> in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  std::size_t n = 0;
  mbedtls_base64_encode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &n, in.data(),
                        in.size());
  out.resize(n);
  return out;
}

bool is_valid_key(std::string_view key) {
  std::array<unsigned char, 32> raw{};
  std::size_t n = 0;
  return key.size() == 24 &&
         mbedtls_base64_decode(raw.data(), raw.size(), &n,
                               reinterpret_cast<const unsigned char*>(key.data()),
                               key.size()) == 0 &&
         n == 16;
}

bool valid_token_list(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c != '\r' && c != '\n'; });
}

void append_headers(std::string& out, const http_headers& headers) {
  for (auto& [k, v] : headers) {
    if (!valid_token_list(k) || !valid_token_list(v)) continue; // no header injection
    out.append(k).append(": ").append(v).append("\r\n");
  }
}

// The first of the server's subprotocols that the client offered.
std::string choose_subprotocol(const http_request& r, const websocket_options& o) {
  for (auto& mine : o.subprotocols)
    if (r.has_token("sec-websocket-protocol", mine)) return mine;
  return {};
}

bool path_accepted(std::string_view path, const std::vector<std::string>& paths,
                   std::string_view url_path) {
  if (!paths.empty()) return std::find(paths.begin(), paths.end(), path) != paths.end();
  return url_path.empty() || url_path == "/" || path == url_path;
}

// The request's path, percent-decoded; an escape that does not decode is
// kept as it was sent.
std::string decode_path(std::string_view target) {
  http_parser_url u;
  http_parser_url_init(&u);
  std::string_view raw = target;
  if (http_parser_parse_url(target.data(), target.size(), 0, &u) == 0 &&
      (u.field_set & (1 << UF_PATH)))
    raw = target.substr(u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
  else
    raw = target.substr(0, target.find('?'));
  auto out = *percent_decode(raw, false, bad_escape::keep);
  return out.empty() ? "/" : out;
}

// What the connection keeps of its request (websocket_info::request): not
// the headers of the handshake itself, which mean nothing once it is done,
// and no spare capacity (an idle connection carries it for its life).
void keep_for_application(http_request& r) {
  std::erase_if(r.headers, [](const auto& h) {
    auto& name = h.first;
    auto is = [&](std::string_view n) {
      return name.size() == n.size() &&
             std::equal(name.begin(), name.end(), n.begin(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) == b;
             });
    };
    return is("upgrade") || is("connection") || is("sec-websocket-key") ||
           is("sec-websocket-version") || is("sec-websocket-extensions") ||
           is("sec-websocket-protocol");
  });
  r.headers.shrink_to_fit();
}

upgrade_decision refuse(int status, const websocket_options& o, http_request r = {}) {
  upgrade_decision d;
  d.status = status;
  d.response = refusal_response(status, o);
  d.request = std::move(r);
  return d;
}

upgrade_decision respond(const http_response& resp, const websocket_options& o, http_request r) {
  upgrade_decision d;
  d.status = resp.status;
  d.response = serialize_response(resp, o);
  d.request = std::move(r);
  return d;
}

} // namespace

std::string websocket_target(const url& u) {
  auto target = u.path.empty() ? std::string("/") : u.path;
  bool first = true;
  for (auto& [k, v] : u.query) {
    if (k == "timeout_ms" || k == "max_message") continue; // coronet's own options
    target += first ? "?" : "&";
    target += percent_encode(k) + "=" + percent_encode(v);
    first = false;
  }
  return target;
}

std::string accept_key(std::string_view key) {
  std::string input(key);
  input.append(websocket_guid);
  std::array<unsigned char, 20> digest{};
  mbedtls_sha1_ret(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
                   digest.data());
  return base64(digest);
}

std::string serialize_response(const http_response& r, const websocket_options& o) {
  std::string out =
      "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(http_reason(r.status)) + "\r\n";
  if (r.status == 426) out += "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n";
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  out += "Connection: close\r\n";
  append_headers(out, r.headers);
  append_headers(out, o.response_headers);
  out += "\r\n";
  out += r.body;
  return out;
}

std::string refusal_response(int status, const websocket_options& o) {
  return serialize_response(http_response::error(status), o);
}

upgrade_decision decide_upgrade(std::string_view head, const websocket_options& o,
                                const std::vector<std::string>& paths, std::string_view url_path,
                                std::string remote) {
  parsed_head h;
  http_parser parser;
  if (!parse_head(head, HTTP_REQUEST, h, parser)) return refuse(400, o);
  auto& r = h.request;
  r.remote = std::move(remote);
  r.method = http_method_str(static_cast<http_method>(parser.method));
  r.path = decode_path(r.target);
  if (auto q = r.target.find('?'); q != std::string::npos) r.query = r.target.substr(q + 1);

  bool wants_upgrade = r.has_token("upgrade", "websocket");
  if (!wants_upgrade && o.http_handler) {
    auto page = o.http_handler(r);
    return respond(page, o, std::move(r));
  }
  bool http11 = parser.http_major > 1 || (parser.http_major == 1 && parser.http_minor >= 1);
  if (r.method != "GET" || !http11 || !wants_upgrade || !r.has_token("connection", "upgrade") ||
      !r.header("host"))
    return refuse(400, o, std::move(r));
  auto version = r.header("sec-websocket-version");
  if (!version || *version != "13") return refuse(426, o, std::move(r));
  auto key = r.header("sec-websocket-key");
  if (!key || !is_valid_key(*key)) return refuse(400, o, std::move(r));
  if (!path_accepted(r.path, paths, url_path)) return refuse(404, o, std::move(r));
  if (!o.allowed_origins.empty()) {
    auto origin = r.header("origin");
    if (!origin || std::find(o.allowed_origins.begin(), o.allowed_origins.end(), *origin) ==
                       o.allowed_origins.end())
      return refuse(403, o, std::move(r));
  }
  auto granted = o.authorize ? o.authorize(r) : authorization::allow();
  if (auto refusal = granted.refusal()) return respond(*refusal, o, std::move(r));

  upgrade_decision d;
  d.granted = std::move(granted);
  d.upgrade = true;
  d.status = 101;
  d.subprotocol = choose_subprotocol(r, o);
  d.response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: " +
               accept_key(*key) + "\r\n";
  if (!d.subprotocol.empty()) d.response += "Sec-WebSocket-Protocol: " + d.subprotocol + "\r\n";
  append_headers(d.response, o.response_headers);
  d.response += "\r\n";
  keep_for_application(r);
  d.request = std::move(r);
  return d;
}

result<upgrade_request> make_upgrade_request(std::string_view host, std::string_view target,
                                             const websocket_options& o) {
  std::array<unsigned char, 16> nonce{};
  if (!random_bytes(std::as_writable_bytes(std::span(nonce)))) return fail(errc::handshake_failed);
  upgrade_request r;
  r.key = base64(nonce);
  r.bytes = "GET " + std::string(target.empty() ? "/" : target) +
            " HTTP/1.1\r\nHost: " + std::string(host) +
            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + r.key +
            "\r\nSec-WebSocket-Version: 13\r\n";
  if (!o.subprotocols.empty()) {
    r.bytes += "Sec-WebSocket-Protocol: ";
    for (std::size_t i = 0; i < o.subprotocols.size(); ++i)
      r.bytes += (i ? ", " : "") + o.subprotocols[i];
    r.bytes += "\r\n";
  }
  append_headers(r.bytes, o.request_headers);
  r.bytes += "\r\n";
  return r;
}

result<std::string> check_upgrade_response(std::string_view head, std::string_view key,
                                           const websocket_options& o) {
  parsed_head h;
  http_parser parser;
  if (!parse_head(head, HTTP_RESPONSE, h, parser)) {
    // A refusal with a body stops the parser at the body: the status is still known.
    if (!h.complete) return fail(errc::handshake_failed);
  }
  if (h.status != 101) return fail(std::error_code(h.status, http_status_category()));
  auto& r = h.request;
  auto accept = r.header("sec-websocket-accept");
  if (!r.has_token("upgrade", "websocket") || !r.has_token("connection", "upgrade") || !accept ||
      *accept != accept_key(key))
    return fail(errc::handshake_failed);
  std::string chosen(r.header("sec-websocket-protocol").value_or(""));
  if (!chosen.empty() &&
      std::find(o.subprotocols.begin(), o.subprotocols.end(), chosen) == o.subprotocols.end())
    return fail(errc::handshake_failed);
  return chosen;
}

} // namespace coronet::detail
