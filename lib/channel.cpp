#include <coronet/channel.hpp>
#include <coronet/error.hpp>
#include <coronet/impair.hpp>
#include <coronet/listener.hpp>
#include <coronet/log.hpp>
#include <coronet/transport/registry.hpp>

namespace coronet {
namespace {

asio::awaitable<result<channel>> fail_now(std::error_code ec) { co_return fail(ec); }

// The URL parsed, its transport found and its options applied.  The error
// code cannot say which option is wrong: the sentence goes to the log at
// debug level (parse_url(text, &why) gives it to a caller who asks).
struct resolved {
  url u;
  options o;
  const transport* t;
};

result<resolved> resolve(std::string_view text, options o, std::string_view action) {
  std::string why;
  auto u = parse_url(text, &why);
  if (!u) {
    log(log_level::debug, std::string(action) + " " + std::string(text) + ": " + why);
    return fail(u.error());
  }
  auto applied = apply_url_options(*u, std::move(o), &why);
  if (!applied) return fail(applied.error());
  auto t = find_transport(u->scheme);
  return resolved{std::move(*u), std::move(*applied), t};
}

// options::impair: the channel the transport made, behind the impaired link.
asio::awaitable<result<channel>> impaired_connect(asio::awaitable<result<channel>> op,
                                                  impairment_spec spec, std::uint64_t seed) {
  auto ch = co_await std::move(op);
  if (!ch) co_return ch;
  co_return impair(std::move(*ch), spec, seed);
}

// A listener whose channels go through the impaired link, seeded seed,
// seed + 1, ... in the order accepted.
class impaired_acceptor final : public listener::acceptor {
public:
  impaired_acceptor(listener inner, impairment_spec spec, std::uint64_t seed)
      : inner_(std::move(inner)), spec_(spec), seed_(seed) {}
  asio::awaitable<result<channel>> accept() override {
    auto ch = co_await inner_.accept();
    if (!ch) co_return ch;
    co_return impair(std::move(*ch), spec_, seed_++);
  }
  std::uint16_t port() const override { return inner_.port(); }
  void close() override { inner_.close(); }
  listener_stats stats() const override { return inner_.stats(); }

private:
  listener inner_;
  impairment_spec spec_;
  std::uint64_t seed_;
};

} // namespace

// Not a coroutine itself: it hands the transport's coroutine copies of
// everything it needs.
asio::awaitable<result<channel>> connect(std::string_view text, options o) {
  auto r = resolve(text, std::move(o), "connect");
  if (!r) return fail_now(r.error());
  if (auto spec = r->o.impair) {
    auto seed = r->o.impair_seed;
    return impaired_connect(r->t->connect(std::move(r->u), std::move(r->o)), *spec, seed);
  }
  return r->t->connect(std::move(r->u), std::move(r->o));
}

result<listener> listen(asio::any_io_executor ex, std::string_view text, options o) {
  auto r = resolve(text, std::move(o), "listen on");
  if (!r) return fail(r.error());
  if (!r->t->listen) return fail(errc::unsupported);
  auto l = r->t->listen(std::move(ex), r->u, r->o);
  if (!l || !r->o.impair) return l;
  return listener(
      std::make_unique<impaired_acceptor>(std::move(*l), *r->o.impair, r->o.impair_seed));
}

} // namespace coronet
