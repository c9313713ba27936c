// coronet's logging hook: where the library says what it cannot return as an
// error (a handler that threw, a listener task that failed, a certificate
// file that would not load).  The default sink writes "coronet: ..." lines
// to stderr.
//
//   coronet::set_log_sink([](coronet::log_level level, std::string_view message) {
//     my_logger.write(to_my_level(level), message);
//   });
//
// The sink may be called from any thread, one call at a time per message
// but possibly concurrently; it must not throw.
#pragma once

#include <exception>
#include <functional>
#include <string_view>

namespace coronet {

enum class log_level { debug, info, warning, error };

/// The name of a level ("debug", "info", "warning", "error").
std::string_view to_string(log_level level) noexcept;

using log_sink = std::function<void(log_level level, std::string_view message)>;

/// Sends every message at `min_level` or above to `sink` (nullptr: the
/// default stderr sink).  Safe to call from any thread; a call of the old
/// sink that another thread began may still be running when it returns, so
/// whatever the old sink uses must outlive that call.
void set_log_sink(log_sink sink, log_level min_level = log_level::info);

/// Hands `message` to the sink, if `level` is at the sink's minimum or above.
void log(log_level level, std::string_view message);

/// Logs the exception `e` (if any) as an error: "<what> failed: <e.what()>".
void log_exception(std::exception_ptr e, std::string_view what);

/// A completion handler for asio::co_spawn that logs a task's exception as
/// log_exception(e, what) does, so that no spawned task's failure goes unseen:
///
///   asio::co_spawn(ex, task(), coronet::log_failures("udp reader"));
///
/// `what` must outlive the task (a string literal).
inline auto log_failures(std::string_view what) {
  return [what](std::exception_ptr e) {
    if (e) log_exception(e, what);
  };
}

} // namespace coronet
