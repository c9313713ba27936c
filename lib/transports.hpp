// Private: the entry points each transport gives connect() and listen().
#pragma once

#include <coronet/channel.hpp>
#include <coronet/listener.hpp>
#include <coronet/url.hpp>

namespace coronet::detail {

asio::awaitable<result<channel>> tcp_connect_channel(const url& u, const options& o);
result<listener> tcp_listen(asio::any_io_executor ex, const url& u, const options& o);

} // namespace coronet::detail
