// The chat's wire protocol: JSON text messages, one per WebSocket message
// or one per line over tcp:// (see README.md).  Building and checking them
// lives here so that the server reads as what it does.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace chat {

using json = nlohmann::json;

inline constexpr std::size_t max_room_bytes = 64;
inline constexpr std::size_t max_text_bytes = 4 * 1024;

/// A client's request, checked: type is join, leave, say or auth, with the
/// fields that type needs.
struct request {
  std::string type, room, text, token;
  std::optional<std::uint64_t> since; ///< join: the last seq seen in the room
  std::string epoch;                  ///< join: the numbering that seq is from
};

/// The request in `text`, or why it is refused (the text of an error reply).
inline std::variant<request, std::string> parse_request(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return std::string("malformed JSON");
  if (!j.is_object()) return std::string("a message must be a JSON object");
  auto field = [&](const char* name) -> std::optional<std::string> {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  request r;
  auto type = field("type");
  if (!type) return std::string("missing field: type");
  r.type = *type;
  if (r.type == "auth") {
    auto token = field("token");
    if (!token) return std::string("missing field: token");
    r.token = *token;
    return r;
  }
  if (r.type != "join" && r.type != "leave" && r.type != "say") return "unknown type: " + r.type;
  auto room = field("room");
  if (!room) return std::string("missing field: room");
  if (room->empty() || room->size() > max_room_bytes)
    return "a room name is 1 to " + std::to_string(max_room_bytes) + " bytes";
  r.room = *room;
  if (r.type == "join") {
    if (auto it = j.find("since"); it != j.end()) {
      if (!it->is_number_unsigned()) return std::string("since must be a seq (0 or more)");
      r.since = it->get<std::uint64_t>();
    }
    if (auto it = j.find("epoch"); it != j.end()) {
      if (!it->is_string() || it->get<std::string>().size() > 64)
        return std::string("epoch must be the string a joined reply gave");
      r.epoch = it->get<std::string>();
    }
  }
  if (r.type == "say") {
    auto said = field("text");
    if (!said) return std::string("missing field: text");
    if (said->size() > max_text_bytes)
      return "a text is at most " + std::to_string(max_text_bytes) + " bytes";
    r.text = *said;
  }
  return r;
}

inline std::string error(std::string_view why) {
  return json{{"type", "error"}, {"message", why}}.dump();
}

inline std::string presence(std::string_view room, std::string_view what, std::string_view name) {
  return json{{"type", "presence"}, {"room", room}, {what, name}}.dump();
}

inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// A room message without its seq: the text before the number and after
/// it (group::publish_numbered fills it in).
struct numbered_parts {
  std::string before, after;
};
inline numbered_parts message(std::string_view room, std::string_view from, std::string_view text) {
  auto s =
      json{{"type", "message"}, {"room", room}, {"from", from}, {"text", text}, {"ts", now_ms()}}
          .dump();
  s.pop_back(); // the closing brace
  return {s + ",\"seq\":", "}"};
}

/// The reply to a join: members, the numbering's epoch, whether every
/// message after the join's `since` is in the history (when it had one),
/// and the history as the JSON objects they are.
inline std::string joined(std::string_view room, const std::vector<std::string>& members,
                          std::string_view epoch, std::optional<bool> recovered,
                          const std::vector<std::string>& history) {
  auto head = json{{"type", "joined"}, {"room", room}, {"members", members}, {"epoch", epoch}};
  if (recovered) head["recovered"] = *recovered;
  auto s = head.dump();
  s.pop_back();
  s += ",\"history\":[";
  for (std::size_t i = 0; i < history.size(); ++i) (s += i ? "," : "") += history[i];
  return s + "]}";
}

/// At most `rate` messages a second on average, `rate` at once.
class token_bucket {
public:
  explicit token_bucket(double rate) : rate_(rate), tokens_(rate) {}
  bool take() {
    auto now = std::chrono::steady_clock::now();
    tokens_ = std::min(rate_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
    last_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

private:
  double rate_, tokens_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

} // namespace chat
