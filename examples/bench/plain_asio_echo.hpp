// plain_asio_echo: the reference coronet is compared against.
//
// Echo written the way a competent Asio user writes it with C++20
// coroutines and nothing else: per connection, read up to 64 KiB with
// async_read_some, write it back with async_write, repeat; TCP_NODELAY on.
// Errors come back as values (as_tuple), not exceptions, as in coronet.
#pragma once

#include "echo_server.hpp"

/// Listens on 127.0.0.1 port 0; see echo_server.hpp for the contract.
coronet::result<asio_service> serve_plain_asio_echo(asio::io_context& ctx, failure_log& failures);
