// plain_asio_echo: the reference coronet is compared against.
//
// Echo written the way a competent Asio user writes it with C++20
// coroutines and nothing else: per connection, read up to 64 KiB with
// async_read_some, write it back with async_write, repeat; TCP_NODELAY on
// over TCP.  Errors come back as values (as_tuple), not exceptions, as in
// coronet.  The same code serves TCP (asio-plain) and Unix-domain stream
// sockets (asio-plain-unix): it is a template over the Asio protocol.
#pragma once

#include "echo_server.hpp"

#include <string_view>

/// Listens on 127.0.0.1 port 0; see echo_server.hpp for the contract.
coronet::result<asio_service> serve_plain_asio_echo(asio::io_context& ctx, failure_log& failures);

/// Listens on `name` in Linux's abstract socket namespace (no file to
/// remove), over asio::local::stream_protocol; reports it as "@name".
coronet::result<asio_service>
serve_plain_asio_unix_echo(asio::io_context& ctx, failure_log& failures, std::string_view name);
