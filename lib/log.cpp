#include <coronet/log.hpp>

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

namespace coronet {
namespace {

struct sink_state {
  log_sink sink;
  log_level min_level = log_level::info;
};

std::mutex sink_mutex;
std::shared_ptr<const sink_state> current; // null: the default sink

void write_to_stderr(log_level level, std::string_view message) {
  // One fwrite per line: lines from several threads do not interleave.
  std::string line = "coronet: ";
  if (level == log_level::warning || level == log_level::error)
    line.append(to_string(level)).append(": ");
  line.append(message).push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

} // namespace

std::string_view to_string(log_level level) noexcept {
  switch (level) {
  case log_level::debug: return "debug";
  case log_level::info: return "info";
  case log_level::warning: return "warning";
  case log_level::error: return "error";
  }
  return "?";
}

void set_log_sink(log_sink sink, log_level min_level) {
  auto next = std::make_shared<sink_state>(sink_state{std::move(sink), min_level});
  std::lock_guard lock(sink_mutex);
  current = std::move(next);
}

void log(log_level level, std::string_view message) {
  std::shared_ptr<const sink_state> s;
  {
    std::lock_guard lock(sink_mutex);
    s = current;
  }
  auto min = s ? s->min_level : log_level::info;
  if (level < min) return;
  if (s && s->sink)
    s->sink(level, message);
  else
    write_to_stderr(level, message);
}

void log_exception(std::exception_ptr e, std::string_view what) {
  if (!e) return;
  std::string text(what);
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    text.append(" failed: ").append(x.what());
  } catch (...) {
    text.append(" failed with an exception that is not a std::exception");
  }
  log(log_level::error, text);
}

} // namespace coronet
