// A broadcast wake-up for coroutines on one executor: waiters suspend in
// wait(), notify_all() resumes every one of them.  Waiters re-check their own
// condition, so a spurious wake-up is harmless.  Not thread-safe: use it from
// the strand or thread that owns the endpoint.
#pragma once

#include <coronet/detail/use_result.hpp>

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include <memory>

namespace coronet::detail {

class event {
public:
  template <class Executor>
  explicit event(const Executor& ex) : timer_(ex) {
    timer_.expires_at(asio::steady_timer::time_point::max());
  }
  asio::awaitable<void> wait() {
    ++waiters_;
    co_await timer_.async_wait(use_tuple);
    --waiters_;
  }
  void notify_all() {
    if (waiters_ > 0) timer_.cancel();
  }
  int waiters() const { return waiters_; }

private:
  asio::steady_timer timer_;
  int waiters_ = 0;
};

} // namespace coronet::detail
