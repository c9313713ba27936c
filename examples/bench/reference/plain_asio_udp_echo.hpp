// plain_asio_udp_echo: the UDP reference coronet is compared against.
//
// Echo written the way a competent Asio user writes it with C++20
// coroutines and nothing else: one coroutine on one socket receives a
// datagram into a 64 KiB buffer with async_receive_from and sends it back
// to its sender with async_send_to, then the next.  Errors come back as
// values (as_tuple), as in coronet; a datagram that cannot be sent is
// dropped, as the network would drop it.
#pragma once

#include "echo_server.hpp"

/// Binds 127.0.0.1 port 0; stop_accepting closes the socket, which ends
/// the loop.  See echo_server.hpp for the contract.
coronet::result<asio_service> serve_plain_asio_udp_echo(asio::io_context& ctx,
                                                        failure_log& failures);
