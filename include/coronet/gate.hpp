// coronet::gate: counts work in progress (connection handlers, tasks) so
// that a shutdown can wait for the last of it to end, without polling, as
// Seastar's gate does.  coronet::server keeps one for its handlers.
//
//   coronet::gate g;
//   if (auto held = g.enter())                          // per task
//     asio::co_spawn(ex, run(std::move(*held)), ...);   // leaves when `held` goes
//   ...
//   g.close();                                          // no new entries
//   bool all_done = g.wait_until(deadline);             // blocks until none is left
//
// Thread-safe: enter on one thread, leave on another, wait on a third.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <utility>

namespace coronet {

class gate {
public:
  /// One entry: leaves the gate when destroyed (moved-from ones do not).
  class holder {
  public:
    holder(holder&& o) noexcept : g_(std::exchange(o.g_, nullptr)) {}
    holder& operator=(holder&& o) noexcept {
      if (this != &o) {
        release();
        g_ = std::exchange(o.g_, nullptr);
      }
      return *this;
    }
    ~holder() { release(); }

  private:
    friend class gate;
    explicit holder(gate* g) : g_(g) {}
    void release() {
      if (g_) std::exchange(g_, nullptr)->leave();
    }
    gate* g_;
  };

  gate() = default;
  gate(const gate&) = delete;
  gate& operator=(const gate&) = delete;
  /// Every holder must be gone first.
  ~gate() = default;

  /// An entry, or nothing once close() was called.
  std::optional<holder> enter() {
    std::lock_guard lock(mutex_);
    if (closed_) return std::nullopt;
    ++count_;
    return holder(this);
  }

  /// No entry from now on; the ones held stay until they leave.
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }

  bool is_closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }

  /// Entries held now.
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return count_;
  }

  /// Blocks until no entry is held or `deadline` passes: true if none is.
  /// (Do not call it from a thread whose work holds an entry.)
  bool wait_until(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    return empty_.wait_until(lock, deadline, [&] { return count_ == 0; });
  }

private:
  void leave() {
    std::lock_guard lock(mutex_);
    if (--count_ == 0) empty_.notify_all();
  }

  mutable std::mutex mutex_;
  std::condition_variable empty_;
  std::size_t count_ = 0;
  bool closed_ = false;
};

} // namespace coronet
