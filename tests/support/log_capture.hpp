// What coronet logs while a test runs (the reasons behind error codes), for
// the test to check; the default sink comes back at the end.
#pragma once

#include <coronet/log.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace coronet::test {

struct log_capture {
  std::vector<std::string> lines;
  log_capture() {
    set_log_sink([this](log_level, std::string_view m) { lines.emplace_back(m); });
  }
  ~log_capture() { set_log_sink(nullptr); }
  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;

  /// True if a line logged so far contains `text`.
  bool mentions(std::string_view text) const {
    for (auto& l : lines)
      if (l.find(text) != std::string::npos) return true;
    return false;
  }
};

} // namespace coronet::test
