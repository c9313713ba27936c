#include <coronet/error.hpp>
#include <coronet/gate.hpp>
#include <coronet/listener.hpp>
#include <coronet/log.hpp>
#include <coronet/server.hpp>
#include <coronet/transport/registry.hpp>
#include <coronet/url.hpp>

#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>

#include <condition_variable>
#include <exception>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

namespace coronet {
namespace {

// One thread: an io_context, its acceptor, and the connections it accepted.
// Everything but `active` is touched only from the worker's own thread.
struct worker {
  asio::io_context context{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{context.get_executor()};
  listener acceptor;
  std::list<channel> live; // open connections, for stop()
  std::thread thread;
};

result<void> refuse(std::string_view url, std::string_view why) {
  log(log_level::error, "cannot serve " + std::string(url) + ": " + std::string(why));
  return fail(errc::invalid_argument);
}

// Routes are the one place for the paths of a WebSocket server: they become
// the paths its handshake accepts.  Anything else that says which paths to
// take, or which handler to run, conflicts with them.
result<void> take_routes(const url& u, const connection_handler& handler, server_options& o) {
  auto text = u.to_string();
  if (o.routes.empty()) {
    if (!handler) return refuse(text, "no handler (and no routes)");
    return {};
  }
  if (find_transport(u.scheme)->syntax != url_syntax::host_port_path)
    return refuse(text, "routes are by request path, and " + u.scheme + ":// has none");
  if (handler) return refuse(text, "both a handler and routes: pass nullptr as the handler");
  if (!o.paths.empty())
    return refuse(text, "both routes and paths: the routes' paths are the ones accepted");
  if (u.path != "/")
    return refuse(text, "both routes and a path in the URL: listen on \"/\" with routes");
  for (auto& [path, h] : o.routes) {
    if (!h) return refuse(text, "the route for " + path + " has no handler");
    o.paths.push_back(path);
  }
  return {};
}

} // namespace

struct server::impl {
  // Every handler holds an entry from accept to its end: stop() waits on it.
  // (Declared before the workers: their contexts destroy the last holders.)
  gate handlers;
  std::vector<std::unique_ptr<worker>> workers;
  connection_handler handler;
  server_options options;
  std::uint16_t port = 0;

  std::mutex mutex;
  std::thread stopper; // request_stop()
  std::condition_variable stopped_cv;
  bool running = false, stopped = false;

  void report(std::exception_ptr e) const {
    if (options.on_error)
      options.on_error(e);
    else
      log_exception(e, "a connection handler");
  }

  // A task per connection: owned by the worker, in the gate until it ends,
  // its failure reported, its channel closed gracefully at the end.
  asio::awaitable<void> run_connection(worker& w, channel ch, gate::holder) {
    auto it = w.live.insert(w.live.end(), ch);
    try {
      co_await handler_for(ch)(ch);
    } catch (...) {
      report(std::current_exception());
    }
    co_await ch.close();
    w.live.erase(it);
  }

  // With routes, the handshake let only their paths in.
  const connection_handler& handler_for(const channel& ch) const {
    if (auto request = ch.info<http_request>())
      for (auto& [path, h] : options.routes)
        if (path == request->path) return h;
    return handler;
  }

  asio::awaitable<void> accept_loop(worker& w) {
    for (;;) {
      auto ch = co_await w.acceptor.accept();
      if (!ch) co_return;
      auto held = handlers.enter();
      if (!held) { // stopping
        ch->abort();
        continue;
      }
      asio::co_spawn(w.context, run_connection(w, std::move(*ch), std::move(*held)),
                     [this](std::exception_ptr e) {
                       if (e) report(e);
                     });
    }
  }

  void stop() {
    {
      std::unique_lock lock(mutex);
      if (!running) {
        stopped_cv.wait(lock, [&] { return stopped; });
        return;
      }
      running = false;
    }
    handlers.close();
    for (auto& w : workers)
      asio::post(w->context, [&w = *w] {
        w.acceptor.close();
        for (auto& ch : w.live) ch.stop_receiving();
      });
    auto now = std::chrono::steady_clock::now;
    bool drained = handlers.wait_until(now() + options.drain_timeout);
    if (!drained) {
      for (auto& w : workers)
        asio::post(w->context, [&w = *w] {
          for (auto& ch : w.live) ch.abort();
        });
      drained = handlers.wait_until(now() + std::chrono::seconds(1));
    }
    for (auto& w : workers) {
      w->guard.reset();
      if (!drained) w->context.stop(); // handlers that ignore errors: give up on them
    }
    for (auto& w : workers)
      if (w->thread.joinable()) w->thread.join();
    std::lock_guard lock(mutex);
    stopped = true;
    stopped_cv.notify_all();
  }
};

server::server() : impl_(std::make_unique<impl>()) {}

server::~server() {
  if (!impl_) return;
  stop();
  std::thread stopper;
  {
    std::lock_guard lock(impl_->mutex);
    stopper = std::move(impl_->stopper);
  }
  if (stopper.joinable()) stopper.join();
}

void server::request_stop() {
  std::lock_guard lock(impl_->mutex);
  if (impl_->stopper.joinable() || impl_->workers.empty()) return;
  impl_->stopper = std::thread([this] { stop(); });
}

result<void> server::start(std::string_view text, connection_handler handler, server_options o) {
  auto& s = *impl_;
  if (s.running || !s.workers.empty()) return fail(errc::invalid_argument);
  auto u = parse_url(text);
  if (!u) return fail(u.error());
  if (auto ok = take_routes(*u, handler, o); !ok) return ok;
  if (o.threads == 0) o.threads = 1;
  if (o.threads > 1) o.reuse_port = true;
  s.handler = std::move(handler);
  s.options = o;
  for (unsigned i = 0; i < o.threads; ++i) {
    auto w = std::make_unique<worker>();
    auto l = listen(w->context.get_executor(), u->to_string(), o);
    if (!l) {
      s.workers.clear();
      return fail(l.error());
    }
    w->acceptor = std::move(*l);
    if (i == 0) u->port = s.port = w->acceptor.port(); // later threads share the port
    s.workers.push_back(std::move(w));
  }
  for (auto& w : s.workers) {
    asio::co_spawn(w->context, s.accept_loop(*w), [](std::exception_ptr e) {
      if (e) log_exception(e, "a server's accept loop");
    });
    w->thread = std::thread([&ctx = w->context] { ctx.run(); });
  }
  std::lock_guard lock(s.mutex);
  s.running = true;
  return {};
}

std::uint16_t server::port() const { return impl_->port; }

std::size_t server::connections() const { return impl_->handlers.count(); }

void server::stop() {
  if (impl_->workers.empty()) return;
  impl_->stop();
}

void server::wait() {
  std::unique_lock lock(impl_->mutex);
  impl_->stopped_cv.wait(lock, [&] { return impl_->stopped || impl_->workers.empty(); });
}

result<void> serve(std::string_view url, connection_handler handler, server_options o) {
  server s;
  if (auto r = s.start(url, std::move(handler), o); !r) return r;
  if (o.on_listening) o.on_listening(s.port());
  if (o.handle_signals) {
    asio::io_context signals_context(1);
    asio::signal_set signals(signals_context, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code ec, int) {
      if (!ec) s.stop();
    });
    signals_context.run();
  } else {
    s.wait();
  }
  return {};
}

} // namespace coronet
