#include "compare_server.hpp"

#include "compare_wire.hpp"
#include "tcp_retransmits.hpp"

#include <coronet/detail/use_result.hpp>
#include <coronet/listener.hpp>
#include <coronet/url.hpp>

#include <asio/co_spawn.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <unordered_map>
#include <vector>

#include <sys/resource.h>

namespace {

using namespace std::chrono_literals;

// Updates a subscribe may ask for: an hour at 60 Hz, 64 KiB each, so a
// confused client cannot keep a server busy for ever.
constexpr std::uint32_t max_updates = 3600 * 60;
constexpr std::uint32_t max_update_size = 64 * 1024;
constexpr std::uint32_t max_rate = 10'000;

// The channels being served, so that stopping the server can end them.
// Used on the io_context's thread only.
struct live_channels {
  std::unordered_map<const void*, coronet::channel> channels;
  bool stopping = false;
  std::optional<std::uint64_t> retransmits_at_start = tcp_retransmitted_segments();

  void stop() {
    stopping = true;
    for (auto& [id, ch] : channels) ch.stop_receiving();
  }
};

std::int64_t process_cpu_ns() {
  rusage r{};
  ::getrusage(RUSAGE_SELF, &r);
  auto ns = [](const timeval& t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_usec * 1000;
  };
  return ns(r.ru_utime) + ns(r.ru_stime);
}

// `want.count` updates of `want.size` bytes at `want.rate` Hz, on a fixed
// schedule (a late tick does not shift the ones after it).
asio::awaitable<void> stream_updates(coronet::channel ch, wire_header want,
                                     std::shared_ptr<live_channels> live) {
  auto count = std::min(want.count, max_updates);
  auto rate = std::clamp<std::uint32_t>(want.rate, 1, max_rate);
  std::vector<std::byte> update(
      std::clamp<std::size_t>(want.size, wire_header::wire_size, max_update_size));
  asio::steady_timer tick(ch.get_executor());
  auto start = std::chrono::steady_clock::now();
  auto period = std::chrono::nanoseconds(1'000'000'000 / rate);
  for (std::uint32_t k = 0; k < count && !live->stopping; ++k) {
    tick.expires_at(start + k * period);
    co_await tick.async_wait(coronet::detail::use_tuple);
    wire_header h{.kind = wire_kind::update, .client = want.client, .seq = k};
    h.sent_ns = monotonic_ns();
    h.write(update);
    auto sent = co_await ch.send(coronet::message_view(std::span<const std::byte>(update)));
    if (!sent) co_return; // the client has gone
  }
}

asio::awaitable<void> serve_channel(coronet::channel ch, std::shared_ptr<live_channels> live) {
  struct leave {
    live_channels& live;
    const void* id;
    ~leave() { live.channels.erase(id); }
  } guard{*live, ch.id()};
  live->channels.emplace(ch.id(), ch);
  if (live->stopping) ch.stop_receiving();
  std::vector<std::byte> reply(wire_header::wire_size);
  std::optional<std::uint64_t> streamed; // the last stream started
  for (;;) {
    auto m = co_await ch.receive();
    if (!m) break; // errc::closed once the client hangs up (or the server stops)
    auto h = wire_header::read(*m);
    if (!h) continue; // not one of ours
    coronet::result<void> sent;
    switch (h->kind) {
    case wire_kind::request: sent = co_await ch.send(*m); break;
    case wire_kind::bulk: {
      wire_header ack{.kind = wire_kind::ack, .client = h->client, .seq = h->seq};
      ack.sent_ns = h->sent_ns;
      ack.size = static_cast<std::uint32_t>(m->size());
      ack.write(reply);
      sent = co_await ch.send(coronet::message_view(std::span<const std::byte>(reply)));
      break;
    }
    case wire_kind::subscribe:
      if (streamed == h->seq) break; // a resent subscribe
      streamed = h->seq;
      co_await stream_updates(ch, *h, live);
      break;
    case wire_kind::usage: {
      wire_header answer{.kind = wire_kind::usage, .client = h->client, .seq = h->seq};
      answer.sent_ns = process_cpu_ns();
      // The retransmissions of this network namespace since the server
      // started (all ones: not known).
      auto now = tcp_retransmitted_segments();
      answer.count = now && live->retransmits_at_start
                         ? static_cast<std::uint32_t>(*now - *live->retransmits_at_start)
                         : ~std::uint32_t{0};
      answer.write(reply);
      sent = co_await ch.send(coronet::message_view(std::span<const std::byte>(reply)));
      break;
    }
    default: break;
    }
    if (!sent) break;
  }
  (void)co_await ch.close();
}

asio::awaitable<void> accept_channels(std::shared_ptr<coronet::listener> listener,
                                      std::shared_ptr<live_channels> live, failure_log& failures) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    auto ch = co_await listener->accept();
    if (!ch) co_return; // errc::closed after stop_accepting
    asio::co_spawn(ex, serve_channel(std::move(*ch), live), failures.handler());
  }
}

} // namespace

coronet::result<asio_service> serve_compare(asio::io_context& ctx, failure_log& failures,
                                            std::string_view url, const coronet::options& o) {
  auto listening = coronet::listen(ctx.get_executor(), url, o);
  if (!listening) return coronet::fail(listening.error());
  auto listener = std::make_shared<coronet::listener>(std::move(*listening));
  auto live = std::make_shared<live_channels>();
  asio_service service{.port = listener->port(), .stop_accepting = [listener, live] {
                         listener->close();
                         live->stop();
                       }};
  if (auto u = coronet::parse_url(url); u && u->scheme == "unix") service.unix_path = u->path;
  asio::co_spawn(ctx, accept_channels(listener, live, failures), failures.handler());
  return service;
}

int run_compare_serve(const std::string& url, const coronet::options& o) {
  asio::io_context ctx(1);
  failure_log failures("compare-serve");
  auto service = serve_compare(ctx, failures, url, o);
  if (!service) {
    std::fprintf(stderr, "transport_bench: cannot listen on %s: %s\n", url.c_str(),
                 service.error().message().c_str());
    return 1;
  }
  if (service->unix_path.empty())
    std::printf("listening on %u\n", static_cast<unsigned>(service->port));
  else
    std::printf("listening on %s\n", service->unix_path.c_str());
  std::fflush(stdout);
  asio::signal_set signals(ctx, SIGTERM, SIGINT);
  signals.async_wait([&](std::error_code ec, int) {
    if (!ec) service->stop_accepting();
  });
  ctx.run();
  return failures.count() ? 1 : 0;
}
