// ws:// as channels: a websocket<tcp_stream> after the opening handshake.
//
// The listener accepts TCP connections in one loop and runs each handshake
// as a task of its own (bounded by handshake_timeout), so a slow or silent
// client never holds up the others; finished handshakes queue up for
// accept().
#include "../../lib/transports.hpp"

#include <coronet/error.hpp>
#include <coronet/tcp.hpp>
#include <coronet/timeout.hpp>
#include <coronet/websocket.hpp>

#include <asio/co_spawn.hpp>
#include <asio/experimental/channel.hpp>

#include <atomic>
#include <cctype>
#include <cstdio>

namespace coronet::detail {
namespace {

std::shared_ptr<const endpoint_config> make_config(const options& o, std::string_view scheme) {
  auto c = std::make_shared<endpoint_config>();
  c->options = o;
  c->properties = {.reliable = true,
                   .ordered = true,
                   .preserves_boundaries = true,
                   .encrypted = false,
                   .max_message_size = o.max_message,
                   .scheme = scheme};
  return c;
}

void log_failure(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    std::fprintf(stderr, "coronet: ws:// listener task failed: %s\n", x.what());
  } catch (...) {
    std::fprintf(stderr, "coronet: ws:// listener task failed\n");
  }
}

template <class T>
asio::awaitable<result<T>> bounded(asio::awaitable<result<T>> op, std::chrono::milliseconds limit) {
  if (limit.count() > 0) co_return co_await with_timeout(std::move(op), limit);
  co_return co_await std::move(op);
}

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

using ready_queue = asio::experimental::channel<void(std::error_code, channel)>;

struct listener_state : std::enable_shared_from_this<listener_state> {
  tcp_acceptor acceptor;
  std::shared_ptr<const endpoint_config> config;
  std::string url_path;
  ready_queue ready;
  std::atomic<std::size_t> accepted{0}, refused{0};
  bool open = true;

  listener_state(asio::any_io_executor ex, tcp_acceptor a, std::shared_ptr<const endpoint_config> c,
                 std::string path)
      : acceptor(std::move(a)), config(std::move(c)), url_path(std::move(path)), ready(ex, 64) {}

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    auto ex = co_await asio::this_coro::executor;
    while (open) {
      auto s = co_await acceptor.accept();
      if (!s) break;
      asio::co_spawn(ex, handshake(self, std::move(*s)), log_failure);
    }
  }

  static asio::awaitable<void> handshake(std::shared_ptr<listener_state> self, tcp_stream s) {
    auto ws = co_await bounded(accept_websocket(std::move(s), self->config, self->url_path),
                               self->config->options.websocket.handshake_timeout);
    if (!ws) {
      self->refused.fetch_add(1, std::memory_order_relaxed);
      co_return;
    }
    if (!self->open) co_return; // dropping the handle drops the connection
    auto [ec] =
        co_await self->ready.async_send(std::error_code{}, channel(std::move(*ws)), use_tuple);
    (void)ec; // the queue closed while we waited: the channel went with it
  }

  void close() {
    if (!open) return;
    open = false;
    acceptor.close();
    ready.close();
  }
};

class ws_listener final : public listener::acceptor {
public:
  explicit ws_listener(std::shared_ptr<listener_state> s) : s_(std::move(s)) {}
  ~ws_listener() override { s_->close(); }

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

asio::awaitable<result<channel>> connect_and_upgrade(url u, options o) {
  auto config = make_config(o, "ws");
  auto s = co_await tcp_connect(u.host, u.port, o);
  if (!s) co_return fail(s.error());
  auto host = u.authority();
  auto target = u.path;
  bool first = true;
  for (auto& [k, v] : u.query) {
    if (k == "timeout_ms" || k == "max_message") continue; // coronet's own options
    target += first ? "?" : "&";
    target += percent_encode(k) + "=" + percent_encode(v);
    first = false;
  }
  auto ws = co_await bounded(websocket_handshake(std::move(*s), host, target, config),
                             o.websocket.handshake_timeout);
  if (!ws) co_return fail(ws.error());
  co_return channel(std::move(*ws));
}

} // namespace

asio::awaitable<result<channel>> ws_connect_channel(url u, options o) {
  return connect_and_upgrade(std::move(u), std::move(o));
}

result<listener> ws_listen(asio::any_io_executor ex, const url& u, const options& o) {
  auto a = tcp_acceptor::open(ex, u.host, u.port, o);
  if (!a) return fail(a.error());
  auto s = std::make_shared<listener_state>(ex, std::move(*a), make_config(o, "ws"), u.path);
  asio::co_spawn(ex, s->accept_loop(), log_failure);
  return listener(std::make_unique<ws_listener>(std::move(s)));
}

} // namespace coronet::detail
