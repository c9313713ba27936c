#include <coronet/channel.hpp>
#include <coronet/error.hpp>
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

} // namespace

// Not a coroutine itself: it hands the transport's coroutine copies of
// everything it needs.
asio::awaitable<result<channel>> connect(std::string_view text, options o) {
  auto r = resolve(text, std::move(o), "connect");
  if (!r) return fail_now(r.error());
  return r->t->connect(std::move(r->u), std::move(r->o));
}

result<listener> listen(asio::any_io_executor ex, std::string_view text, options o) {
  auto r = resolve(text, std::move(o), "listen on");
  if (!r) return fail(r.error());
  if (!r->t->listen) return fail(errc::unsupported);
  return r->t->listen(std::move(ex), r->u, r->o);
}

} // namespace coronet
