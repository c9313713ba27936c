// beast_ws_echo: a Boost.Beast WebSocket echo server, the familiar peer the
// bench compares coronet's ws:// with.  Written the way Beast's own examples
// are: one async_read, then one async_write per message, on Boost.Asio
// C++20 coroutines.  auto_fragment is off so that every echo is one frame,
// as the load generator checks.
//
// Boost.Asio and standalone Asio cannot share a translation unit, so this
// interface names neither; echo_server.cpp hosts it like the C servers.
#pragma once

#include <cstdint>

struct beast_echo;

/// Binds 127.0.0.1 port 0; nullptr (errno set) on failure.
beast_echo* beast_echo_create();
std::uint16_t beast_echo_port(const beast_echo* s);
/// Runs the event loop on the calling thread until beast_echo_stop() and
/// the last connection has ended; 0 on success.
int beast_echo_run(beast_echo* s);
/// Stops accepting; safe from any thread.
void beast_echo_stop(beast_echo* s);
void beast_echo_destroy(beast_echo* s);
