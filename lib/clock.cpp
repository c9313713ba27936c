#include <coronet/clock.hpp>
#include <coronet/detail/use_result.hpp>

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include <algorithm>

namespace coronet {

namespace {

class steady_clock_source final : public clock {
public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
  asio::awaitable<result<void>> sleep(duration d) override {
    asio::steady_timer timer(co_await asio::this_coro::executor, d);
    auto [ec] = co_await timer.async_wait(detail::use_tuple);
    if (ec) co_return fail(ec);
    co_return result<void>();
  }
};

} // namespace

std::shared_ptr<clock> clock::steady() {
  static const auto instance = std::make_shared<steady_clock_source>();
  return instance;
}

// A sleep waits on a timer that never expires by itself: advance() cancels
// it once its time has come, and `due` tells that wake-up from the
// coroutine's own cancellation.
struct manual_clock::sleeper {
  time_point deadline;
  asio::steady_timer* timer;
  bool due = false;
};

clock::time_point manual_clock::now() const {
  std::lock_guard lock(mutex_);
  return now_;
}

asio::awaitable<result<void>> manual_clock::sleep(duration d) {
  if (d <= duration::zero()) co_return result<void>();
  asio::steady_timer timer(co_await asio::this_coro::executor,
                           asio::steady_timer::time_point::max());
  sleeper s{now() + d, &timer};
  // Registered for as long as the frame lives (also when it is destroyed
  // while suspended, with its io_context).
  struct registration {
    manual_clock& clock;
    sleeper& s;
    registration(manual_clock& c, sleeper& sl) : clock(c), s(sl) {
      std::lock_guard lock(clock.mutex_);
      clock.sleepers_.push_back(&s);
    }
    ~registration() {
      std::lock_guard lock(clock.mutex_);
      std::erase(clock.sleepers_, &s);
    }
  } registered(*this, s);
  co_await timer.async_wait(detail::use_tuple);
  if (!s.due) co_return fail(asio::error::operation_aborted);
  co_return result<void>();
}

void manual_clock::advance(duration d) {
  {
    std::lock_guard lock(mutex_);
    now_ += d;
  }
  wake_due();
}

void manual_clock::wake_due() {
  std::lock_guard lock(mutex_);
  for (auto* s : sleepers_)
    if (!s->due && s->deadline <= now_) {
      s->due = true;
      s->timer->cancel();
    }
}

std::size_t manual_clock::sleepers() const {
  std::lock_guard lock(mutex_);
  return std::count_if(sleepers_.begin(), sleepers_.end(), [](auto* s) { return !s->due; });
}

clock::duration manual_clock::next_due() const {
  std::lock_guard lock(mutex_);
  auto next = time_point::max();
  for (auto* s : sleepers_)
    if (!s->due) next = std::min(next, s->deadline);
  return next == time_point::max() ? duration::zero() : next - now_;
}

} // namespace coronet
