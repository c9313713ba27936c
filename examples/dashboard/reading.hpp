// A sensor reading as it travels from sensor_sim to dashboard_server: one
// small JSON object per message, on any transport.
//
//   {"sensor":"s17","building":"b2","t":21.4,"h":44.0,"co2":612,"ts":1765100000123}
//
// t: temperature in °C, h: relative humidity in %, co2: ppm, ts: the
// sensor's clock in ms since the epoch.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace dashboard {

using json = nlohmann::json;

struct reading {
  std::string sensor, building;
  double t = 0, h = 0, co2 = 0;
  std::int64_t ts = 0;
};

/// What the server accepts; outside it a reading is counted and dropped.
struct limits {
  static constexpr double t_min = -40, t_max = 85;
  static constexpr double h_min = 0, h_max = 100;
  static constexpr double co2_min = 0, co2_max = 40000;
  static constexpr std::size_t name_bytes = 64;
};

inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::string encode(const reading& r) {
  // Rounded: a reading is a small message.
  auto round1 = [](double v) { return std::round(v * 10) / 10; };
  return json{{"sensor", r.sensor}, {"building", r.building},    {"t", round1(r.t)},
              {"h", round1(r.h)},   {"co2", std::lround(r.co2)}, {"ts", r.ts}}
      .dump();
}

enum class problem { none, malformed, out_of_range };

inline bool good_name(const std::string& s) {
  if (s.empty() || s.size() > limits::name_bytes) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return false;
  return true;
}

/// The reading in `text`, or what is wrong with it.
inline std::variant<reading, problem> decode(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return problem::malformed;
  reading r;
  auto name = [&](const char* key, std::string& out) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return false;
    out = it->get<std::string>();
    return good_name(out);
  };
  auto number = [&](const char* key, double& out) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number()) return false;
    out = it->get<double>();
    return std::isfinite(out);
  };
  if (!name("sensor", r.sensor) || !name("building", r.building)) return problem::malformed;
  if (!number("t", r.t) || !number("h", r.h) || !number("co2", r.co2)) return problem::malformed;
  auto ts = j.find("ts");
  if (ts == j.end() || !ts->is_number_integer()) return problem::malformed;
  r.ts = ts->get<std::int64_t>();
  if (r.t < limits::t_min || r.t > limits::t_max || r.h < limits::h_min || r.h > limits::h_max ||
      r.co2 < limits::co2_min || r.co2 > limits::co2_max)
    return problem::out_of_range;
  return r;
}

} // namespace dashboard
