// compare_server: the server side of every workload of transport_bench
// --compare, one code path for every transport.
//
// Each accepted channel (a connection, or a udp:// peer) runs one loop that
// answers what the client asks for (see compare_wire.hpp): it echoes rr
// requests, acknowledges bulk messages, streams updates at a fixed rate on a
// subscribe, and reports its process's CPU time.  The client decides the
// workload; the server needs no flag for it, so one `--compare-serve URL`
// serves any cell.
#pragma once

#include "echo_server.hpp"

#include <coronet/options.hpp>

#include <string>
#include <string_view>

/// Listens on `url` (a 127.0.0.1 port 0 URL of any scheme, or unix://@name)
/// on `ctx`, which is not running yet, and spawns the accept loop; task
/// failures go to `failures`.  stop_accepting closes the listener and ends
/// every channel still served (a udp:// peer never hangs up by itself).
coronet::result<asio_service> serve_compare(asio::io_context& ctx, failure_log& failures,
                                            std::string_view url, const coronet::options& o);

/// `transport_bench --compare-serve URL`: serves `url` until SIGTERM or
/// SIGINT, then returns 0 (1 if it could not listen or a task failed).  Says
/// "listening on PORT" (or the unix:// path) on stdout once bound.
int run_compare_serve(const std::string& url, const coronet::options& o);
