// tcp:// as channels: a tcp_stream framed by the codec the URL asks for.
#include <coronet/error.hpp>
#include <coronet/tcp.hpp>
#include <coronet/transport/registry.hpp>
#include <coronet/transport/stream_transport.hpp>

namespace coronet::transports {
namespace {

class tcp_listener final : public listener::acceptor {
public:
  tcp_listener(tcp_acceptor a, std::shared_ptr<const endpoint_config> c)
      : acceptor_(std::move(a)), config_(std::move(c)) {}

  asio::awaitable<result<channel>> accept() override {
    auto s = co_await acceptor_.accept();
    if (!s) co_return fail(s.error());
    co_return make_framed_channel(std::move(*s), config_);
  }
  std::uint16_t port() const override { return acceptor_.port(); }
  void close() override { acceptor_.close(); }

private:
  tcp_acceptor acceptor_;
  std::shared_ptr<const endpoint_config> config_; // shared by every accepted connection
};

asio::awaitable<result<channel>> connect_tcp(url u, options o) {
  auto config = make_endpoint_config(u, o);
  auto s = co_await tcp_connect(u.host, u.port, o);
  if (!s) co_return fail(s.error());
  co_return make_framed_channel(std::move(*s), std::move(config));
}

result<listener> listen_tcp(asio::any_io_executor ex, const url& u, const options& o) {
  auto a = tcp_acceptor::open(std::move(ex), u.host, u.port, o);
  if (!a) return fail(a.error());
  return listener(std::make_unique<tcp_listener>(std::move(*a), make_endpoint_config(u, o)));
}

} // namespace

void register_tcp() {
  (void)register_transport({
      .scheme = "tcp",
      .option = framing_option,
      .connect = connect_tcp,
      .listen = listen_tcp,
      .properties = [](const options& o) { return stream_properties(o); },
  });
}

} // namespace coronet::transports
