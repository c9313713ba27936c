// The transport registry: every URL scheme coronet::connect(), listen() and
// serve() understand is a transport registered here.  The built-in ones
// (tcp, tls, udp, unix, ws, wss) register themselves the first time the
// registry is used; an application or library registers its own the same
// way:
//
//   coronet::register_transport({
//       .scheme = "mem",
//       .syntax = coronet::url_syntax::local,
//       .connect = [](coronet::url u, coronet::options o) { return mem_connect(u, o); },
//       .listen = [](asio::any_io_executor ex, const coronet::url& u, const coronet::options& o) {
//         return mem_listen(ex, u, o);
//       },
//       .properties = [](const coronet::options&) {
//         return coronet::properties{.reliable = true, .ordered = true,
//                                    .preserves_boundaries = true};
//       },
//   });
//
// docs/transports.md walks through writing one (unix:// is the example).
#pragma once

#include <coronet/channel.hpp>
#include <coronet/listener.hpp>
#include <coronet/options.hpp>
#include <coronet/url.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace coronet {

/// How the part of a URL after "scheme://" is read.
enum class url_syntax {
  host_port,      ///< host:port, then only a query (tcp://, udp://)
  host_port_path, ///< host:port/path?query (ws://); the path goes to url::path
  local, ///< an address of the transport's own, up to '?' (unix:///run/app.sock), in url::path
};

/// One transport: what it supplies for its scheme.
struct transport {
  /// Lower case letters, digits, '+', '-' and '.', starting with a letter (RFC 3986).
  std::string scheme;
  url_syntax syntax = url_syntax::host_port;
  /// The port of a URL that gives none (ws: 80); 0 = the URL must give one.
  std::uint16_t default_port = 0;
  /// Takes one query option of the URL that is not one every scheme takes
  /// (timeout_ms, max_message), applying it to `o`: fail with
  /// errc::invalid_argument and a sentence in `why` for a bad value,
  /// errc::unsupported for a key the transport does not know.  Unset: the
  /// scheme takes no options of its own.
  std::function<result<void>(std::string_view key, std::string_view value, options& o,
                             std::string& why)>
      option = nullptr;
  /// A client channel to `u`, made on the calling coroutine's executor with `o`
  /// (the URL's options applied).  Required.
  std::function<asio::awaitable<result<channel>>(url u, options o)> connect = nullptr;
  /// A listener on `u`, bound now, running on `ex`.  Unset: the scheme
  /// cannot listen (listen() fails with errc::unsupported).
  std::function<result<listener>(asio::any_io_executor ex, const url& u, const options& o)> listen =
      nullptr;
  /// What the scheme's channels promise under `o`.  `scheme` in the result
  /// is filled in by the registry.  Required.
  std::function<coronet::properties(const options& o)> properties = nullptr;
};

/// Adds `t`.  Fails with errc::invalid_argument when its scheme is already
/// registered (the first registration stays), is not a valid scheme name,
/// or `connect` or `properties` is missing; the reason is logged.  Safe to
/// call from any thread; a transport stays registered for the life of the
/// process.
result<void> register_transport(transport t);

/// The transport of `scheme` (case-insensitive), or nullptr.  The pointer
/// stays valid for the life of the process.
const transport* find_transport(std::string_view scheme);

/// Every registered scheme, sorted.
std::vector<std::string> registered_schemes();

/// What channels of the URL's scheme promise, with the URL's options
/// applied to `o`: lets an application ask whether a transport is reliable
/// or encrypted before it connects.  Fails as parse_url() does.
result<properties> transport_properties(std::string_view url, const options& o = {});

/// `base` with the URL's query options applied (the common ones and the
/// transport's own).  Fails as parse_url() does.
result<options> apply_url_options(const url& u, options base, std::string* why = nullptr);

/// What every endpoint of one listener or connect() shares: `o`, and the
/// properties the URL's transport reports for it.
std::shared_ptr<const endpoint_config> make_endpoint_config(const url& u, const options& o);

} // namespace coronet
