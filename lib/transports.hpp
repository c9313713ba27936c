// Private: the entry points each transport gives connect() and listen().
#pragma once

#include <coronet/channel.hpp>
#include <coronet/listener.hpp>
#include <coronet/url.hpp>

namespace coronet::detail {

// Coroutines: they take their arguments by value (a coroutine outlives the
// caller's references).
asio::awaitable<result<channel>> tcp_connect_channel(url u, options o);
result<listener> tcp_listen(asio::any_io_executor ex, const url& u, const options& o);

asio::awaitable<result<channel>> udp_connect_channel(url u, options o);
result<listener> udp_listen(asio::any_io_executor ex, const url& u, const options& o);

asio::awaitable<result<channel>> ws_connect_channel(url u, options o);
result<listener> ws_listen(asio::any_io_executor ex, const url& u, const options& o);

asio::awaitable<result<channel>> tls_connect_channel(url u, options o);
result<listener> tls_listen(asio::any_io_executor ex, const url& u, const options& o);

} // namespace coronet::detail
