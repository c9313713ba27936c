// Time that can be replaced: what coronet's timed policies (reconnect
// backoff, ...) wait on.  The real one is the steady clock; a manual_clock
// is moved by hand, so a test walks through 1-2-4-8-16-30 s of backoff
// without waiting for it:
//
//   auto clock = std::make_shared<coronet::manual_clock>();
//   options.clock = clock;
//   ...
//   clock->advance(2s); // every sleep due by then completes
#pragma once

#include <coronet/result.hpp>

#include <asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace coronet {

class clock {
public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  virtual ~clock() = default;
  virtual time_point now() const = 0;
  /// Completes on the calling coroutine's executor once `d` has passed on
  /// this clock, or with asio::error::operation_aborted when the coroutine
  /// is cancelled first.
  virtual asio::awaitable<result<void>> sleep(duration d) = 0;

  /// The real clock (std::chrono::steady_clock and Asio timers), shared.
  static std::shared_ptr<clock> steady();
};

/// A clock that moves only when told to.  For tests: use it from the one
/// thread that runs the io_context its sleepers wait on.
class manual_clock final : public clock {
public:
  time_point now() const override;
  asio::awaitable<result<void>> sleep(duration d) override;

  /// Moves time on by `d`; the sleeps due by then complete (on their
  /// executors, once the io_context runs).
  void advance(duration d);
  /// Sleeps not yet due.
  std::size_t sleepers() const;
  /// How long until the earliest of them is due (zero when there is none).
  duration next_due() const;

private:
  struct sleeper;
  void wake_due();

  mutable std::mutex mutex_;
  time_point now_{};
  std::vector<sleeper*> sleepers_;
};

} // namespace coronet
