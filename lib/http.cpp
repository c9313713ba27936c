#include <coronet/http.hpp>
#include <coronet/url.hpp>

#include <algorithm>
#include <cctype>

namespace coronet {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(item) for each item of a `sep`-separated list, trimmed; stops when f returns true.
template <class F>
bool any_item(std::string_view list, char sep, F f) {
  while (!list.empty()) {
    auto end = list.find(sep);
    auto item = trim(list.substr(0, end));
    if (!item.empty() && f(item)) return true;
    if (end == std::string_view::npos) break;
    list.remove_prefix(end + 1);
  }
  return false;
}

// A query component, percent-decoded; an escape that does not decode is
// kept as it was sent, as browsers and servers do.
std::string decode_component(std::string_view in) {
  return *percent_decode(in, true, bad_escape::keep);
}

} // namespace

std::optional<std::string_view> http_request::header(std::string_view name) const {
  for (auto& [k, v] : headers)
    if (iequals(k, name)) return std::string_view(v);
  return std::nullopt;
}

std::optional<std::string_view> http_request::cookie(std::string_view name) const {
  std::optional<std::string_view> found;
  for (auto& [k, v] : headers) {
    if (!iequals(k, "cookie")) continue;
    any_item(v, ';', [&](std::string_view pair) {
      auto eq = pair.find('=');
      if (eq == std::string_view::npos || trim(pair.substr(0, eq)) != name) return false;
      auto value = trim(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      found = value;
      return true;
    });
    if (found) break;
  }
  return found;
}

std::optional<std::string> http_request::query_value(std::string_view key) const {
  std::optional<std::string> found;
  any_item(query, '&', [&](std::string_view pair) {
    auto eq = pair.find('=');
    if (decode_component(pair.substr(0, eq)) != key) return false;
    found = eq == std::string_view::npos ? std::string() : decode_component(pair.substr(eq + 1));
    return true;
  });
  return found;
}

std::optional<std::string_view> http_request::bearer_token() const {
  auto auth = header("authorization");
  if (!auth) return std::nullopt;
  auto v = trim(*auth);
  if (v.size() < 7 || !iequals(v.substr(0, 7), "bearer ")) return std::nullopt;
  auto token = trim(v.substr(7));
  if (token.empty()) return std::nullopt;
  return token;
}

bool http_request::has_token(std::string_view name, std::string_view token) const {
  for (auto& [k, v] : headers)
    if (iequals(k, name) &&
        any_item(v, ',', [&](std::string_view item) { return iequals(item, token); }))
      return true;
  return false;
}

http_response http_response::error(int status) {
  http_response r;
  r.status = status;
  r.body = std::string(http_reason(status)) + "\n";
  return r;
}

std::string_view http_reason(int status) noexcept {
  switch (status) {
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 204: return "No Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 426: return "Upgrade Required";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  }
  return status >= 500 ? "Server Error" : status >= 400 ? "Client Error" : "Status";
}

} // namespace coronet
