// The transport registry: the built-in schemes, the errors of a bad
// registration, and a transport a user registers from outside the library
// (mem://, in-memory streams) that runs the echo suite every transport runs.
#include <coronet/coronet.hpp>
#include <coronet/detail/use_result.hpp>
#include <coronet/framed.hpp>
#include <coronet/memory_stream.hpp>
#include <coronet/transport/registry.hpp>
#include <coronet/transport/stream_transport.hpp>

#include "../support/echo_suite.hpp"
#include "../support/log_capture.hpp"

#include <asio/detached.hpp>
#include <asio/experimental/channel.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <mutex>
#include <optional>

using coronet::test::echo;
using coronet::test::run;
using namespace std::chrono_literals;

using coronet::test::log_capture;

namespace {

// ---- mem://name: a transport of the application's own ---------------------
//
// listen("mem://name") names a queue; connect("mem://name") makes a
// memory_stream pair and hands one end to that queue.  Both sides must run
// on the same executor (a memory_stream pair shares one).

// (A channel's values must be default-constructible: an optional stream.)
using stream_queue =
    asio::experimental::channel<void(std::error_code, std::optional<coronet::memory_stream>)>;

struct mem_names {
  std::mutex mutex;
  std::map<std::string, std::weak_ptr<stream_queue>> queues;
  static mem_names& get() {
    static mem_names n;
    return n;
  }
};

class mem_listener final : public coronet::listener::acceptor {
public:
  mem_listener(std::string name, std::shared_ptr<stream_queue> q,
               std::shared_ptr<const coronet::endpoint_config> c)
      : name_(std::move(name)), queue_(std::move(q)), config_(std::move(c)) {}
  ~mem_listener() override { close(); }

  asio::awaitable<coronet::result<coronet::channel>> accept() override {
    auto q = queue_;
    auto [ec, s] = co_await q->async_receive(coronet::detail::use_tuple);
    if (ec) co_return coronet::fail(coronet::errc::closed);
    co_return coronet::make_framed_channel(std::move(*s), config_);
  }
  std::uint16_t port() const override { return 0; }
  void close() override {
    std::lock_guard lock(mem_names::get().mutex);
    mem_names::get().queues.erase(name_);
    queue_->close();
  }

private:
  std::string name_;
  std::shared_ptr<stream_queue> queue_;
  std::shared_ptr<const coronet::endpoint_config> config_;
};

asio::awaitable<coronet::result<coronet::channel>> mem_connect(coronet::url u, coronet::options o) {
  std::shared_ptr<stream_queue> q;
  {
    std::lock_guard lock(mem_names::get().mutex);
    if (auto it = mem_names::get().queues.find(u.path); it != mem_names::get().queues.end())
      q = it->second.lock();
  }
  if (!q) co_return coronet::fail(coronet::errc::connection_refused);
  auto [client, server] = coronet::memory_stream::make_pair(q->get_executor());
  if (!q->try_send(std::error_code{}, std::move(server)))
    co_return coronet::fail(coronet::errc::connection_refused); // its backlog is full
  co_return coronet::make_framed_channel(std::move(client), coronet::make_endpoint_config(u, o));
}

coronet::result<coronet::listener> mem_listen(asio::any_io_executor ex, const coronet::url& u,
                                              const coronet::options& o) {
  auto q = std::make_shared<stream_queue>(ex, 64);
  {
    std::lock_guard lock(mem_names::get().mutex);
    auto& slot = mem_names::get().queues[u.path];
    if (slot.lock()) return coronet::fail(asio::error::address_in_use);
    slot = q;
  }
  return coronet::listener(
      std::make_unique<mem_listener>(u.path, q, coronet::make_endpoint_config(u, o)));
}

void register_mem_once() {
  static bool registered = [] {
    auto r = coronet::register_transport({
        .scheme = "mem",
        .syntax = coronet::url_syntax::local,
        .option = coronet::framing_option,
        .connect = mem_connect,
        .listen = mem_listen,
        .properties = [](const coronet::options& o) { return coronet::stream_properties(o); },
    });
    REQUIRE(r);
    return true;
  }();
  (void)registered;
}

// Serves `url` with the echo handler on `io`, as long as it lives.
struct echo_on {
  coronet::listener listener;
  echo_on(asio::io_context& io, const std::string& url) {
    auto l = coronet::listen(io.get_executor(), url);
    REQUIRE(l);
    listener = std::move(*l);
    asio::co_spawn(io, accept_loop(listener), asio::detached);
  }
  ~echo_on() { listener.close(); }
  static asio::awaitable<void> accept_loop(coronet::listener& l) {
    auto ex = co_await asio::this_coro::executor;
    for (;;) {
      auto ch = co_await l.accept();
      if (!ch) co_return;
      asio::co_spawn(ex, echo(std::move(*ch)), asio::detached);
    }
  }
};

} // namespace

TEST_CASE("registry: the built-in transports are there, found by any case", "[unit][registry]") {
  auto schemes = coronet::registered_schemes();
  for (auto s : {"tcp", "tls", "udp", "unix", "ws", "wss"}) {
    INFO(s);
    CHECK(std::find(schemes.begin(), schemes.end(), s) != schemes.end());
  }
  CHECK(std::is_sorted(schemes.begin(), schemes.end()));
  auto t = coronet::find_transport("WSS");
  REQUIRE(t);
  CHECK(t->scheme == "wss");
  CHECK(t->default_port == 443);
  CHECK(coronet::find_transport("gopher") == nullptr);
  CHECK(coronet::transport_properties("tls://h:1")->encrypted);
  CHECK_FALSE(coronet::transport_properties("udp://h:1")->reliable);
  CHECK_FALSE(coronet::transport_properties("tcp://h:1?framing=raw")->preserves_boundaries);
  CHECK(coronet::transport_properties("gopher://h:1").error() == coronet::errc::unknown_scheme);
}

TEST_CASE("registry: a bad or duplicate registration is refused and says why", "[unit][registry]") {
  log_capture log;
  auto connect = [](coronet::url,
                    coronet::options) -> asio::awaitable<coronet::result<coronet::channel>> {
    co_return coronet::fail(coronet::errc::unsupported);
  };
  auto props = [](const coronet::options&) { return coronet::properties{}; };
  SECTION("a scheme that is there already") {
    auto r =
        coronet::register_transport({.scheme = "tcp", .connect = connect, .properties = props});
    REQUIRE_FALSE(r);
    CHECK(r.error() == coronet::errc::invalid_argument);
    REQUIRE(log.lines().size() == 1);
    CHECK_THAT(log.lines()[0], Catch::Contains("\"tcp\"") && Catch::Contains("already registered"));
    // ... and the first registration stays.
    CHECK(coronet::transport_properties("tcp://h:1")->reliable);
  }
  SECTION("a scheme name RFC 3986 does not allow") {
    auto r = coronet::register_transport(
        {.scheme = "My_Scheme", .connect = connect, .properties = props});
    REQUIRE_FALSE(r);
    CHECK_THAT(log.lines().at(0), Catch::Contains("lower-case letter"));
  }
  SECTION("no connect function") {
    auto r = coronet::register_transport({.scheme = "noconnect", .properties = props});
    REQUIRE_FALSE(r);
    CHECK_THAT(log.lines().at(0), Catch::Contains("no connect function"));
    CHECK(coronet::find_transport("noconnect") == nullptr);
  }
  SECTION("a transport that cannot listen") {
    static bool once = [&] {
      return bool(coronet::register_transport(
          {.scheme = "dialonly", .connect = connect, .properties = props}));
    }();
    REQUIRE(once);
    asio::io_context io;
    auto l = coronet::listen(io.get_executor(), "dialonly://h:1");
    REQUIRE_FALSE(l);
    CHECK(l.error() == coronet::errc::unsupported);
  }
}

TEST_CASE("registry: a transport registered by the application runs the echo suite",
          "[unit][registry]") {
  register_mem_once();
  asio::io_context io;
  SECTION("echo") {
    echo_on server(io, "mem://echo");
    coronet::test::check_echo_suite(io, "mem://echo");
  }
  SECTION("its URLs and errors") {
    auto u = coronet::parse_url("MEM://anything?framing=line");
    REQUIRE(u);
    CHECK(u->scheme == "mem");
    CHECK(u->path == "anything");
    std::string why;
    CHECK_FALSE(coronet::parse_url("mem://x?color=red", &why));
    CHECK_THAT(why, Catch::Contains("unknown option \"color\" for mem://"));
    run(io, []() -> asio::awaitable<void> {
      auto ch = co_await coronet::connect("mem://nobody");
      REQUIRE_FALSE(ch);
      CHECK(ch.error() == coronet::errc::connection_refused);
    }());
  }
}
