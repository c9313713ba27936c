#include <coronet/detail/use_result.hpp>
#include <coronet/error.hpp>
#include <coronet/transport/handshake_listener.hpp>

#include <asio/experimental/channel.hpp>

#include <atomic>

namespace coronet::detail {

using ready_queue = asio::experimental::channel<void(std::error_code, channel)>;

struct handshake_queue::state {
  state(asio::any_io_executor ex, std::chrono::milliseconds t)
      : executor(ex), ready(ex, 64), timeout(t) {}
  asio::any_io_executor executor;
  ready_queue ready;
  std::chrono::milliseconds timeout;
  std::atomic<std::size_t> accepted{0}, refused{0};
};

handshake_queue::handshake_queue(asio::any_io_executor ex, std::chrono::milliseconds timeout)
    : st_(std::make_unique<state>(std::move(ex), timeout)) {}

handshake_queue::~handshake_queue() = default;

namespace {

asio::awaitable<void> run_handshake(std::shared_ptr<handshake_queue> q, ready_queue& ready,
                                    asio::awaitable<result<channel>> handshake,
                                    std::chrono::milliseconds timeout,
                                    std::atomic<std::size_t>& refused) {
  auto ch = co_await with_timeout(std::move(handshake), timeout);
  if (!ch) {
    refused.fetch_add(1, std::memory_order_relaxed);
    co_return;
  }
  if (!q->is_open()) co_return; // dropping the channel drops the connection
  auto [ec] = co_await ready.async_send(std::error_code{}, std::move(*ch), use_tuple);
  (void)ec; // the queue closed while we waited: the channel went with it
}

class queue_listener final : public listener::acceptor {
public:
  explicit queue_listener(std::shared_ptr<handshake_queue> q) : q_(std::move(q)) {}
  ~queue_listener() override { q_->close(); }

  asio::awaitable<result<channel>> accept() override { return q_->next(); }
  std::uint16_t port() const override { return q_->port(); }
  void close() override { q_->close(); }
  listener_stats stats() const override { return q_->stats(); }

private:
  std::shared_ptr<handshake_queue> q_;
};

} // namespace

void handshake_queue::start(asio::awaitable<result<channel>> handshake) {
  // (The task holds the queue, so the references it gets stay valid.)
  asio::co_spawn(st_->executor,
                 run_handshake(shared_from_this(), st_->ready, std::move(handshake), st_->timeout,
                               st_->refused),
                 log_failures("a listener's handshake task"));
}

asio::awaitable<result<channel>> handshake_queue::next() {
  auto keep = shared_from_this();
  auto [ec, ch] = co_await st_->ready.async_receive(use_tuple);
  if (ec) co_return fail(errc::closed);
  st_->accepted.fetch_add(1, std::memory_order_relaxed);
  co_return std::move(ch);
}

void handshake_queue::close() {
  if (!open_) return;
  open_ = false;
  close_acceptor();
  st_->ready.close();
}

listener_stats handshake_queue::stats() const {
  return {.accepted = st_->accepted.load(), .refused = st_->refused.load()};
}

listener handshake_queue::make_listener(std::shared_ptr<handshake_queue> q) {
  return listener(std::make_unique<queue_listener>(std::move(q)));
}

} // namespace coronet::detail
