// tcp:// as channels: a tcp_stream framed by the codec the URL asks for.
#include "../../lib/transports.hpp"

#include <coronet/error.hpp>
#include <coronet/framed.hpp>
#include <coronet/tcp.hpp>

namespace coronet::detail {
namespace {

std::shared_ptr<const endpoint_config> make_config(const options& o) {
  auto c = std::make_shared<endpoint_config>();
  c->options = o;
  c->properties = {.reliable = true,
                   .ordered = true,
                   .preserves_boundaries = o.framing != framing::raw,
                   .encrypted = false,
                   // raw framing: a message is one read
                   .max_message_size =
                       o.framing == framing::raw ? o.read_buffer_size : o.max_message,
                   .scheme = "tcp"};
  return c;
}

channel make_channel(tcp_stream s, std::shared_ptr<const endpoint_config> c) {
  switch (c->options.framing) {
  case framing::line: return channel(framed<tcp_stream, line_codec>(std::move(s), std::move(c)));
  case framing::raw: return channel(framed<tcp_stream, raw_codec>(std::move(s), std::move(c)));
  case framing::length_prefixed: break;
  }
  return channel(framed<tcp_stream, length_prefixed_codec>(std::move(s), std::move(c)));
}

class tcp_listener final : public listener::acceptor {
public:
  tcp_listener(tcp_acceptor a, std::shared_ptr<const endpoint_config> c)
      : acceptor_(std::move(a)), config_(std::move(c)) {}

  asio::awaitable<result<channel>> accept() override {
    auto s = co_await acceptor_.accept();
    if (!s) co_return fail(s.error());
    co_return make_channel(std::move(*s), config_);
  }
  std::uint16_t port() const override { return acceptor_.port(); }
  void close() override { acceptor_.close(); }

private:
  tcp_acceptor acceptor_;
  std::shared_ptr<const endpoint_config> config_; // shared by every accepted connection
};

} // namespace

asio::awaitable<result<channel>> tcp_connect_channel(url u, options o) {
  auto s = co_await tcp_connect(u.host, u.port, o);
  if (!s) co_return fail(s.error());
  co_return make_channel(std::move(*s), make_config(o));
}

result<listener> tcp_listen(asio::any_io_executor ex, const url& u, const options& o) {
  auto a = tcp_acceptor::open(std::move(ex), u.host, u.port, o);
  if (!a) return fail(a.error());
  return listener(std::make_unique<tcp_listener>(std::move(*a), make_config(o)));
}

} // namespace coronet::detail
