// The Redis channel layer when coronet is built without hiredis: connect()
// says so, and nothing else can be reached (there is no layer to call).
#include <coronet/log.hpp>
#include <coronet/redis_layer.hpp>

namespace coronet {

struct redis_layer::impl {};

asio::awaitable<result<std::shared_ptr<redis_layer>>> redis_layer::start(std::shared_ptr<impl>) {
  log(log_level::error, "redis: this coronet was built without hiredis (libhiredis-dev): "
                        "the Redis channel layer is not supported");
  co_return fail(errc::unsupported);
}
asio::awaitable<result<std::shared_ptr<redis_layer>>> redis_layer::connect(asio::any_io_executor,
                                                                           std::string_view) {
  return start(nullptr);
}
asio::awaitable<result<std::shared_ptr<redis_layer>>>
redis_layer::connect(asio::any_io_executor, std::string_view, const redis_options&) {
  return start(nullptr);
}

redis_layer::~redis_layer() = default;
asio::awaitable<void> redis_layer::close() { co_return; }
asio::awaitable<result<redis_reply>> redis_layer::command(std::vector<std::string>) {
  co_return fail(errc::unsupported);
}
redis_layer_stats redis_layer::stats() const { return {}; }
const std::string& redis_layer::node_id() const {
  static const std::string none;
  return none;
}
void redis_layer::attach(receiver) {}
void redis_layer::subscribe(const std::string&) {}
void redis_layer::unsubscribe(const std::string&) {}
void redis_layer::publish(const std::string&, const shared_message&) {}
void redis_layer::member_joined(const std::string&, const std::string&) {}
void redis_layer::member_left(const std::string&, const std::string&) {}
asio::awaitable<result<std::vector<std::string>>> redis_layer::presence(const std::string&) {
  co_return fail(errc::unsupported);
}
asio::awaitable<result<std::uint64_t>> redis_layer::publish_numbered(const std::string&,
                                                                     std::string_view,
                                                                     std::string_view, std::size_t,
                                                                     std::uint64_t) {
  co_return fail(errc::unsupported);
}
asio::awaitable<result<numbered_history>> redis_layer::history(const std::string&, std::size_t) {
  co_return fail(errc::unsupported);
}

} // namespace coronet
