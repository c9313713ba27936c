// For transport authors: a wake-up that can resume its waiting coroutine on the caller's
// stack.  detail::event completes through a timer, so every wake-up is a
// trip through the scheduler (and, when the thread is busy, one more poll of
// epoll before the woken coroutine runs).  A handoff parks the coroutine's
// completion handler instead, and resume_here() runs it inline when the
// caller is on the waiter's thread: a UDP listener's reader hands a datagram
// to a waiting handler and the reply leaves before the reader reads again.
//
// A parked coroutine counts as outstanding work, is resumed (through the
// scheduler) when its operation is cancelled, and is destroyed when its
// execution context shuts down, as a pending timer wait would be.  Not
// thread-safe: use it from the thread that owns the endpoint.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/execution_context.hpp>
#include <asio/use_awaitable.hpp>

#include <cstdint>
#include <optional>
#include <vector>

namespace coronet {

class handoff_service;

class handoff {
public:
  explicit handoff(const asio::any_io_executor& ex);
  ~handoff();
  handoff(const handoff&) = delete;
  handoff& operator=(const handoff&) = delete;

  /// Suspends until resume_here() or notify().  Waiters re-check their own
  /// condition: a wake-up may be spurious.
  asio::awaitable<void> wait();

  /// Resumes every waiter now, on this stack when it shares the waiter's
  /// thread.  Only where the caller's state stays valid whatever the waiter
  /// does next (it may send, close its channel, or wait again).
  void resume_here();

  /// Resumes every waiter through its executor, after the caller returns.
  void notify();

private:
  friend class handoff_service;
  using handler = asio::async_result<asio::use_awaitable_t<>, void()>::handler_type;
  struct parked {
    std::optional<handler> resume; // empty once cancelled (handlers are not assignable)
    asio::any_io_executor work;    // keeps the context's run() going meanwhile
    std::uint64_t ticket;
  };

  void park(handler h);
  void cancel(std::uint64_t ticket);
  std::vector<parked> take();

  handoff_service& service_;
  handoff *prev_ = nullptr, *next_ = nullptr; // the service's list
  std::vector<parked> parked_;
  std::vector<parked> spare_; // a buffer kept between wake-ups
  std::uint64_t tickets_ = 0;
};

} // namespace coronet
