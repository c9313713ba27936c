// unix:// as channels: Unix-domain stream sockets, framed as tcp:// frames
// them (?framing=length|line|raw).
//
//   unix:///run/app.sock   a socket file.  listen() removes a stale one that
//                          a dead process left, refuses to take over a live
//                          one, gives the file ?mode= (octal, default 0660)
//                          and unlinks it when the listener closes.
//   unix://@name           Linux's abstract namespace: no file at all.
//
// Everything unix:// is lives in this folder; it reaches the core through
// the public headers and <coronet/transport/...> only.
#include "unix_stream.hpp"

#include <coronet/error.hpp>
#include <coronet/log.hpp>
#include <coronet/timeout.hpp>
#include <coronet/transport/registry.hpp>
#include <coronet/transport/stream_transport.hpp>

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include <charconv>
#include <mutex>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace coronet::transports {
namespace {

using protocol = asio::local::stream_protocol;
using detail::use_tuple;

constexpr ::mode_t default_mode = 0660;

bool is_abstract(const url& u) { return u.path.starts_with('@'); }

// The socket address of the URL's path (a leading '@' is the abstract
// namespace, whose names begin with a NUL byte).
result<protocol::endpoint> address_of(const url& u, std::string& why) {
  constexpr std::size_t room = sizeof(sockaddr_un::sun_path) - 1;
  if (u.path.size() > room) {
    why = "the socket address \"" + u.path + "\" is longer than the " + std::to_string(room) +
          " bytes a Unix socket address holds";
    return fail(errc::invalid_argument);
  }
  if (!is_abstract(u)) return protocol::endpoint(u.path);
  std::string name(1, '\0');
  name.append(u.path, 1);
  return protocol::endpoint(name);
}

result<::mode_t> parse_mode(std::string_view value) {
  unsigned mode = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), mode, 8);
  if (value.empty() || ec != std::errc{} || p != value.data() + value.size() || mode > 0777)
    return fail(errc::invalid_argument);
  return static_cast<::mode_t>(mode);
}

// ?framing= as tcp:// takes it, and ?mode=.
result<void> unix_option(std::string_view key, std::string_view value, options& o,
                         std::string& why) {
  if (key != "mode") return framing_option(key, value, o, why);
  if (!parse_mode(value)) {
    why = "mode=" + std::string(value) + " is not a file mode (octal, e.g. 0660)";
    return fail(errc::invalid_argument);
  }
  return {};
}

std::error_code refused(const url& u, std::string_view action, const std::string& why,
                        std::error_code ec) {
  log(log_level::error, "cannot " + std::string(action) + " " + u.to_string() + ": " + why);
  return ec;
}

// ---- connect ----------------------------------------------------------------

asio::awaitable<result<channel>> connect_unix(url u, options o) {
  std::string why;
  auto address = address_of(u, why);
  if (!address) co_return fail(refused(u, "connect to", why, address.error()));
  auto config = make_endpoint_config(u, o);
  protocol::socket socket(co_await asio::this_coro::executor);
  auto attempt = [](protocol::socket& s, protocol::endpoint to) -> asio::awaitable<result<void>> {
    auto [ec] = co_await s.async_connect(to, use_tuple);
    // No socket file, or no one listening on it: nothing listens there.
    if (ec == asio::error::connection_refused ||
        ec == std::error_code(ENOENT, asio::error::get_system_category()))
      co_return fail(errc::connection_refused);
    if (ec) co_return fail(ec);
    co_return result<void>{};
  };
  auto connected = co_await with_timeout(attempt(socket, *address), o.connect_timeout);
  if (!connected) co_return fail(connected.error());
  co_return make_framed_channel(
      unix_stream(std::move(socket), std::make_shared<const std::string>(u.path)),
      std::move(config));
}

// ---- listen -----------------------------------------------------------------

// A socket file already at `path`: a dead process's (nothing accepts on it)
// is removed; a live server's, or a file that is no socket, is refused.
std::error_code clear_stale(const std::string& path, std::string& why) {
  struct ::stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {}; // nothing there (or bind will say why)
  if (!S_ISSOCK(st.st_mode)) {
    why = path + " exists and is not a socket (not removing it)";
    return asio::error::address_in_use;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return {errno, std::system_category()};
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  path.copy(a.sun_path, sizeof a.sun_path - 1);
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
  int err = rc == 0 ? 0 : errno;
  ::close(fd);
  if (err == ECONNREFUSED) { // stale: its process is gone
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      why = "cannot remove the stale socket " + path;
      return {errno, std::system_category()};
    }
    return {};
  }
  if (err == ENOENT) return {};
  why = "a server is listening on " + path + " already"; // (EAGAIN: its backlog is full)
  return asio::error::address_in_use;
}

class unix_listener final : public listener::acceptor {
public:
  unix_listener(protocol::acceptor a, std::shared_ptr<const endpoint_config> c, std::string address,
                bool owns_file)
      : acceptor_(std::move(a)), config_(std::move(c)), address_(std::move(address)),
        shown_(std::make_shared<const std::string>(address_)), owns_file_(owns_file) {
    struct ::stat st {};
    if (owns_file_ && ::lstat(address_.c_str(), &st) == 0) {
      device_ = st.st_dev;
      inode_ = st.st_ino;
    }
  }
  ~unix_listener() override { close(); }

  asio::awaitable<result<channel>> accept() override {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
      if (!ec) co_return make_framed_channel(unix_stream(std::move(socket), shown_), config_);
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor ||
          !acceptor_.is_open())
        co_return fail(errc::closed);
      if (ec == asio::error::connection_aborted) continue;
      // Out of descriptors or memory: pause rather than spin.
      asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(10));
      co_await pause.async_wait(use_tuple);
    }
  }
  std::uint16_t port() const override { return 0; }
  void close() override {
    std::error_code ec;
    acceptor_.close(ec);
    std::call_once(unlinked_, [this] { remove_file(); });
  }

private:
  // Only the file we made: another server may have taken the path since.
  void remove_file() {
    struct ::stat st {};
    if (owns_file_ && ::lstat(address_.c_str(), &st) == 0 && st.st_dev == device_ &&
        st.st_ino == inode_)
      ::unlink(address_.c_str());
  }

  protocol::acceptor acceptor_;
  std::shared_ptr<const endpoint_config> config_; // shared by every accepted connection
  std::string address_;
  std::shared_ptr<const std::string> shown_; // the address, for every stream's remote()
  bool owns_file_;
  ::dev_t device_ = 0;
  ::ino_t inode_ = 0;
  std::once_flag unlinked_;
};

result<listener> listen_unix(asio::any_io_executor ex, const url& u, const options& o) {
  std::string why;
  auto address = address_of(u, why);
  if (!address) return fail(refused(u, "listen on", why, address.error()));
  if (o.reuse_port)
    return fail(refused(u, "listen on",
                        "a Unix socket cannot be shared between threads (SO_REUSEPORT): serve it "
                        "with one thread",
                        errc::unsupported));
  auto mode_text = u.query_value("mode");
  if (mode_text && is_abstract(u))
    return fail(refused(u, "listen on", "an abstract name has no file, so no mode",
                        errc::invalid_argument));
  auto mode = mode_text ? *parse_mode(*mode_text) : default_mode;
  if (!is_abstract(u))
    if (auto ec = clear_stale(u.path, why)) return fail(refused(u, "listen on", why, ec));

  protocol::acceptor acceptor(ex);
  std::error_code ec;
  acceptor.open(protocol(), ec);
  if (ec) return fail(ec);
  // The mode before bind() too: the file is never made more open than asked
  // (the umask may narrow it; chmod() below makes it exact).
  if (!is_abstract(u)) ::fchmod(acceptor.native_handle(), mode);
  acceptor.bind(*address, ec);
  if (ec) {
    if (ec == asio::error::address_in_use)
      return fail(refused(u, "listen on", "the name is taken by a live socket", ec));
    return fail(ec);
  }
  if (!is_abstract(u) && ::chmod(u.path.c_str(), mode) != 0) {
    ec = {errno, std::system_category()};
    ::unlink(u.path.c_str());
    return fail(ec);
  }
  acceptor.listen(o.backlog, ec);
  if (ec) {
    if (!is_abstract(u)) ::unlink(u.path.c_str());
    return fail(ec);
  }
  return listener(std::make_unique<unix_listener>(std::move(acceptor), make_endpoint_config(u, o),
                                                  u.path, !is_abstract(u)));
}

} // namespace

void register_unix() {
  (void)register_transport({
      .scheme = "unix",
      .syntax = url_syntax::local,
      .option = unix_option,
      .connect = connect_unix,
      .listen = listen_unix,
      .properties = [](const options& o) { return stream_properties(o); },
  });
}

} // namespace coronet::transports
