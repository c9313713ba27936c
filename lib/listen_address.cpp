#include <coronet/transport/listen_address.hpp>

#include <coronet/error.hpp>

#include <asio/ip/tcp.hpp>

#include <string>

namespace coronet {

result<asio::ip::address> listen_address(const asio::any_io_executor& ex, std::string_view host) {
  if (host.empty() || host == "*") return asio::ip::address(asio::ip::address_v6::any());
  if (host == "localhost") return asio::ip::address(asio::ip::address_v4::loopback());
  std::error_code ec;
  auto address = asio::ip::make_address(std::string(host), ec);
  if (!ec) return address;
  // A name: resolve it synchronously once, at start-up.
  asio::ip::tcp::resolver resolver(ex);
  auto found = resolver.resolve(std::string(host), "0", ec);
  if (ec || found.empty()) return fail(errc::resolve_failed);
  return found.begin()->endpoint().address();
}

} // namespace coronet
