#include "handshake_listener.hpp"

#include <coronet/error.hpp>

#include <asio/co_spawn.hpp>
#include <asio/experimental/channel.hpp>

#include <atomic>
#include <cctype>
#include <cstdio>

namespace coronet::detail {
namespace {

void log_failure(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    std::fprintf(stderr, "coronet: listener task failed: %s\n", x.what());
  } catch (...) {
    std::fprintf(stderr, "coronet: listener task failed\n");
  }
}

using ready_queue = asio::experimental::channel<void(std::error_code, channel)>;

struct listener_state : std::enable_shared_from_this<listener_state> {
  tcp_acceptor acceptor;
  stream_handshake handshake;
  std::chrono::milliseconds timeout;
  ready_queue ready;
  std::atomic<std::size_t> accepted{0}, refused{0};
  bool open = true;

  listener_state(asio::any_io_executor ex, tcp_acceptor a, stream_handshake h,
                 std::chrono::milliseconds t)
      : acceptor(std::move(a)), handshake(std::move(h)), timeout(t), ready(ex, 64) {}

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    auto ex = co_await asio::this_coro::executor;
    while (open) {
      auto s = co_await acceptor.accept();
      if (!s) break;
      asio::co_spawn(ex, run_handshake(self, std::move(*s)), log_failure);
    }
  }

  static asio::awaitable<void> run_handshake(std::shared_ptr<listener_state> self, tcp_stream s) {
    auto ch = co_await bounded(self->handshake(std::move(s)), self->timeout);
    if (!ch) {
      self->refused.fetch_add(1, std::memory_order_relaxed);
      co_return;
    }
    if (!self->open) co_return; // dropping the channel drops the connection
    auto [ec] = co_await self->ready.async_send(std::error_code{}, std::move(*ch), use_tuple);
    (void)ec; // the queue closed while we waited: the channel went with it
  }

  void close() {
    if (!open) return;
    open = false;
    acceptor.close();
    ready.close();
  }
};

class handshake_listener final : public listener::acceptor {
public:
  explicit handshake_listener(std::shared_ptr<listener_state> s) : s_(std::move(s)) {}
  ~handshake_listener() override { s_->close(); }

  asio::awaitable<result<channel>> accept() override {
    auto s = s_;
    auto [ec, ch] = co_await s->ready.async_receive(use_tuple);
    if (ec) co_return fail(errc::closed);
    s->accepted.fetch_add(1, std::memory_order_relaxed);
    co_return std::move(ch);
  }
  std::uint16_t port() const override { return s_->acceptor.port(); }
  void close() override { s_->close(); }
  listener_stats stats() const override {
    return {.accepted = s_->accepted.load(), .refused = s_->refused.load()};
  }

private:
  std::shared_ptr<listener_state> s_;
};

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

} // namespace

result<listener> listen_with_handshake(asio::any_io_executor ex, const url& u, const options& o,
                                       stream_handshake handshake,
                                       std::chrono::milliseconds timeout) {
  auto a = tcp_acceptor::open(ex, u.host, u.port, o);
  if (!a) return fail(a.error());
  auto s = std::make_shared<listener_state>(ex, std::move(*a), std::move(handshake), timeout);
  asio::co_spawn(ex, s->accept_loop(), log_failure);
  return listener(std::make_unique<handshake_listener>(std::move(s)));
}

std::shared_ptr<const endpoint_config>
make_endpoint_config(const options& o, std::string_view scheme, bool encrypted) {
  bool stream_scheme = scheme == "tcp" || scheme == "tls";
  bool raw = stream_scheme && o.framing == framing::raw;
  auto c = std::make_shared<endpoint_config>();
  c->options = o;
  c->properties = {.reliable = true,
                   .ordered = true,
                   .preserves_boundaries = !raw,
                   .encrypted = encrypted,
                   // raw framing: a message is one read
                   .max_message_size = raw ? o.read_buffer_size : o.max_message,
                   .scheme = scheme};
  return c;
}

std::string websocket_target(const url& u) {
  auto target = u.path;
  bool first = true;
  for (auto& [k, v] : u.query) {
    if (k == "timeout_ms" || k == "max_message") continue; // coronet's own options
    target += first ? "?" : "&";
    target += percent_encode(k) + "=" + percent_encode(v);
    first = false;
  }
  return target;
}

} // namespace coronet::detail
