// What coronet logs while a test runs (the reasons behind error codes), for
// the test to check; the default sink comes back at the end.
#pragma once

#include <coronet/log.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace coronet::test {

// Servers log from their own threads: the lines are kept under a lock, and
// the sink holds them by shared_ptr, so a call still running when the
// capture ends has somewhere to write.
struct log_capture {
  log_capture() {
    set_log_sink([s = state_](log_level, std::string_view m) {
      std::lock_guard lock(s->mutex);
      s->lines.emplace_back(m);
    });
  }
  ~log_capture() { set_log_sink(nullptr); }
  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;

  /// What was logged so far.
  std::vector<std::string> lines() const {
    std::lock_guard lock(state_->mutex);
    return state_->lines;
  }
  /// True if a line logged so far contains `text`.
  bool mentions(std::string_view text) const {
    for (auto& l : lines())
      if (l.find(text) != std::string::npos) return true;
    return false;
  }

private:
  struct state {
    std::mutex mutex;
    std::vector<std::string> lines;
  };
  std::shared_ptr<state> state_ = std::make_shared<state>();
};

} // namespace coronet::test
