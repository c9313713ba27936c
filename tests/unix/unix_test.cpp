// unix:// end to end: echo over each framing, socket files (stale ones
// removed, live ones and other files refused, the mode, unlinked on close),
// the abstract namespace, and the errors a user meets.
#include <coronet/coronet.hpp>

#include "../support/echo.hpp"
#include "../support/echo_suite.hpp"
#include "../support/log_capture.hpp"
#include "../support/run.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

using coronet::test::echo;
using coronet::test::receive_within;
using coronet::test::run;
using namespace std::chrono_literals;

using coronet::test::log_capture;

namespace {

// A fresh directory for this test's socket files, removed at the end.
struct socket_dir {
  std::filesystem::path path;
  socket_dir() {
    char tmpl[] = "/tmp/coronet-unix-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    path = tmpl;
  }
  ~socket_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// A unique abstract name per test run.
std::string abstract_name(const std::string& what) {
  return "@coronet-test-" + what + "-" + std::to_string(::getpid());
}

asio::awaitable<void> echo_once(std::string url, std::string text) {
  auto ch = co_await coronet::connect(url);
  REQUIRE(ch);
  auto sent = co_await ch->send(coronet::message_view(text));
  REQUIRE(sent);
  auto m = co_await receive_within(*ch, 5s);
  REQUIRE(m);
  CHECK(m->text() == text);
  auto closed = co_await ch->close();
  CHECK(closed);
}

// A socket file left behind by a process that died: bound, never closed.
void leave_stale_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  path.copy(a.sun_path, sizeof a.sun_path - 1);
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
  ::close(fd); // the file stays; nothing accepts on it
}

} // namespace

TEST_CASE("unix: echo over each framing, and what the channel promises", "[integration][unix]") {
  socket_dir dir;
  auto query = GENERATE(std::string(""), std::string("?framing=line"), std::string("?framing=raw"));
  auto url = "unix://" + dir.file("echo.sock") + query;
  coronet::server server;
  REQUIRE(server.start(url, echo));
  asio::io_context io;
  run(io, [](std::string url, bool raw) -> asio::awaitable<void> {
    auto ch = co_await coronet::connect(url);
    REQUIRE(ch);
    auto& p = ch->properties();
    CHECK(p.reliable);
    CHECK(p.ordered);
    CHECK(p.preserves_boundaries == !raw);
    CHECK_FALSE(p.encrypted);
    CHECK(p.scheme == "unix");
    CHECK_THAT(ch->remote(), Catch::Contains("echo.sock"));
    for (std::string m : {std::string("one"), std::string("two"), std::string(100000, 'x')}) {
      auto sent = co_await ch->send(coronet::message_view(m));
      REQUIRE(sent);
      std::string got;
      while (got.size() < m.size()) {
        auto r = co_await receive_within(*ch, 5s);
        REQUIRE(r);
        got += r->text();
        if (!raw) break;
      }
      CHECK(got == m);
    }
    auto closed = co_await ch->close();
    CHECK(closed);
  }(url, query == "?framing=raw"));
}

TEST_CASE("unix: the socket file gets its mode and goes when the listener closes",
          "[integration][unix]") {
  socket_dir dir;
  auto path = dir.file("mode.sock");
  asio::io_context io;
  SECTION("default 0660") {
    auto l = coronet::listen(io.get_executor(), "unix://" + path);
    REQUIRE(l);
    struct ::stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0660);
    l->close();
    CHECK_FALSE(std::filesystem::exists(path));
  }
  SECTION("?mode=0600, and the file goes with the listener") {
    {
      auto l = coronet::listen(io.get_executor(), "unix://" + path + "?mode=0600");
      REQUIRE(l);
      struct ::stat st {};
      REQUIRE(::lstat(path.c_str(), &st) == 0);
      CHECK((st.st_mode & 0777) == 0600);
    }
    CHECK_FALSE(std::filesystem::exists(path));
  }
  SECTION("a bad mode fails the URL") {
    std::string why;
    auto u = coronet::parse_url("unix://" + path + "?mode=999", &why);
    REQUIRE_FALSE(u);
    CHECK_THAT(why, Catch::Contains("mode=999"));
  }
}

TEST_CASE("unix: a stale socket file is removed, a live one refused", "[integration][unix]") {
  socket_dir dir;
  auto path = dir.file("taken.sock");
  auto url = "unix://" + path;
  leave_stale_socket(path);
  REQUIRE(std::filesystem::exists(path));
  coronet::server first;
  REQUIRE(first.start(url, echo)); // took over the dead process's file
  asio::io_context io;
  run(io, echo_once(url, "after a stale file"));

  log_capture log;
  coronet::server second;
  auto taken = second.start(url, echo);
  REQUIRE_FALSE(taken);
  CHECK(taken.error() == asio::error::address_in_use);
  CHECK(log.mentions("a server is listening on " + path));
  run(io, echo_once(url, "the first server still serves")); // and its file is still there
}

TEST_CASE("unix: a file that is not a socket is never removed", "[integration][unix]") {
  socket_dir dir;
  auto path = dir.file("precious.txt");
  std::ofstream(path) << "keep me";
  log_capture log;
  asio::io_context io;
  auto l = coronet::listen(io.get_executor(), "unix://" + path);
  REQUIRE_FALSE(l);
  CHECK(l.error() == asio::error::address_in_use);
  CHECK(log.mentions("is not a socket"));
  std::ifstream in(path);
  std::string kept;
  std::getline(in, kept);
  CHECK(kept == "keep me");
}

TEST_CASE("unix: the abstract namespace has no file", "[integration][unix]") {
  auto url = "unix://" + abstract_name("abstract");
  coronet::server server;
  REQUIRE(server.start(url, echo));
  asio::io_context io;
  run(io, echo_once(url, "no file"));
  CHECK_FALSE(std::filesystem::exists(url.substr(7)));
  log_capture log;
  coronet::server second; // an abstract name in use is refused too
  auto taken = second.start(url, echo);
  REQUIRE_FALSE(taken);
  CHECK(taken.error() == asio::error::address_in_use);
  auto with_mode = coronet::listen(io.get_executor(), url + "x?mode=0600");
  REQUIRE_FALSE(with_mode);
  CHECK(with_mode.error() == coronet::errc::invalid_argument);
  CHECK(log.mentions("no mode"));
}

TEST_CASE("unix: errors a user meets say what is wrong", "[integration][unix]") {
  socket_dir dir;
  asio::io_context io;
  log_capture log;
  SECTION("nothing listens there") {
    run(io, [](std::string url) -> asio::awaitable<void> {
      auto ch = co_await coronet::connect(url);
      REQUIRE_FALSE(ch);
      CHECK(ch.error() == coronet::errc::connection_refused);
    }("unix://" + dir.file("nobody.sock")));
  }
  SECTION("a path too long for a socket address") {
    auto l = coronet::listen(io.get_executor(), "unix:///tmp/" + std::string(200, 'p'));
    REQUIRE_FALSE(l);
    CHECK(l.error() == coronet::errc::invalid_argument);
    CHECK(log.mentions("longer than"));
  }
  SECTION("several threads cannot share one socket") {
    coronet::server server;
    coronet::server_options o;
    o.threads = 2;
    auto r = server.start("unix://" + dir.file("threads.sock"), echo, o);
    REQUIRE_FALSE(r);
    CHECK(r.error() == coronet::errc::unsupported);
    CHECK(log.mentions("one thread"));
  }
  SECTION("an option unix:// does not take") {
    std::string why;
    auto u = coronet::parse_url("unix:///tmp/x.sock?nodelay=1", &why);
    REQUIRE_FALSE(u);
    CHECK_THAT(why, Catch::Contains("unknown option \"nodelay\" for unix://"));
  }
}

TEST_CASE("unix: the echo suite every transport passes", "[integration][unix]") {
  socket_dir dir;
  auto url = "unix://" + dir.file("suite.sock");
  coronet::server server;
  REQUIRE(server.start(url, echo));
  asio::io_context io;
  coronet::test::check_echo_suite(io, url);
}
