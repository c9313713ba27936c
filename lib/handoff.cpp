#include <coronet/transport/handoff.hpp>

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/dispatch.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <asio/query.hpp>

#include <algorithm>
#include <exception>
#include <mutex>

namespace coronet {

// Knows every handoff of one execution context, so that a context shutting
// down destroys the coroutines still parked in them (each holds the state
// that holds its handoff: nothing else would break that cycle).
class handoff_service final : public asio::execution_context::service {
public:
  inline static asio::execution_context::id id;

  explicit handoff_service(asio::execution_context& ctx) : service(ctx) {}

  void add(handoff& h) {
    std::lock_guard lock(mutex_);
    h.next_ = first_;
    if (first_) first_->prev_ = &h;
    first_ = &h;
  }

  void remove(handoff& h) {
    std::lock_guard lock(mutex_);
    if (h.prev_) h.prev_->next_ = h.next_;
    if (h.next_) h.next_->prev_ = h.prev_;
    if (first_ == &h) first_ = h.next_;
    h.prev_ = h.next_ = nullptr;
  }

private:
  void shutdown() override {
    std::vector<handoff::parked> doomed;
    {
      std::lock_guard lock(mutex_);
      for (auto* h = first_; h; h = h->next_)
        for (auto& p : h->take()) doomed.push_back(std::move(p));
    }
    // Destroyed unlocked: a dying coroutine may destroy handoffs, which unlink.
    doomed.clear();
  }

  std::mutex mutex_;
  handoff* first_ = nullptr;
};

handoff::handoff(const asio::any_io_executor& ex)
    : service_(asio::use_service<handoff_service>(asio::query(ex, asio::execution::context))) {
  service_.add(*this);
}

handoff::~handoff() {
  service_.remove(*this);
  // Nothing should be parked here (a waiter holds what holds its handoff);
  // if something is, it is destroyed with the vector, as by a shutdown.
}

asio::awaitable<void> handoff::wait() {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
      [this](handler h) { park(std::move(h)); }, asio::use_awaitable);
}

void handoff::park(handler h) {
  auto ticket = ++tickets_;
  auto slot = asio::get_associated_cancellation_slot(h);
  if (slot.is_connected()) slot.assign([this, ticket](asio::cancellation_type) { cancel(ticket); });
  auto work =
      asio::prefer(asio::get_associated_executor(h), asio::execution::outstanding_work.tracked);
  parked_.push_back({std::move(h), std::move(work), ticket});
}

void handoff::cancel(std::uint64_t ticket) {
  auto it = std::find_if(parked_.begin(), parked_.end(),
                         [&](const parked& p) { return p.ticket == ticket && p.resume; });
  if (it == parked_.end()) return;
  auto resume = std::move(*it->resume);
  it->resume.reset();
  it->work = {};
  asio::post(std::move(resume));
}

std::vector<handoff::parked> handoff::take() {
  auto out = std::move(parked_);
  parked_ = std::move(spare_);
  parked_.clear();
  return out;
}

void handoff::resume_here() {
  if (parked_.empty()) return;
  auto now = take();
  for (auto& p : now) {
    if (!p.resume) continue;
    auto ex = p.work;
    try {
      asio::dispatch(std::move(*p.resume));
    } catch (...) {
      // What escapes a resumed coroutine (its completion handler rethrew)
      // belongs to whoever runs the context, as it would had the waiter
      // been resumed through the scheduler: not to the caller, whose loop
      // (a listener's reader) must go on.
      asio::post(ex, [e = std::current_exception()] { std::rethrow_exception(e); });
    }
  }
  now.clear(); // releases the work only after the waiters ran
  spare_ = std::move(now);
}

void handoff::notify() {
  if (parked_.empty()) return;
  auto now = take();
  for (auto& p : now)
    if (p.resume) asio::post(std::move(*p.resume));
  now.clear();
  spare_ = std::move(now);
}

} // namespace coronet
