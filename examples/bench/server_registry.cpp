#include "server_registry.hpp"

#include "coronet_echo.hpp"
#include "reference/plain_asio_echo.hpp"
#include "reference/plain_asio_udp_echo.hpp"

#include <string>

#include <unistd.h>

namespace {

// The Unix socket of `row`: a name in Linux's abstract namespace, so that
// no file is left behind, unique per process so that two benches can run
// at once.  One server runs at a time, so a row's name is free again when
// its next run starts.
std::string abstract_name(std::string_view row) {
  return "coronet-bench-" + std::to_string(::getpid()) + "-" + std::string(row);
}

const server_kind kinds[] = {
    {"epoll-c", "raw epoll in C (the floor)", wire_framing::raw,
     [](int cpu) { return start_epoll_server(cpu); }},
    {"asio-plain", "Asio coroutines, read_some + async_write (the reference)", wire_framing::raw,
     [](int cpu) { return start_asio_server("asio-plain", cpu, serve_plain_asio_echo); }},
    {"coronet-concrete-raw", "framed<tcp_stream, raw_codec>, no type erasure", wire_framing::raw,
     [](int cpu) {
       return start_asio_server("coronet-concrete-raw", cpu, serve_coronet_concrete_raw_echo);
     }},
    {"coronet-channel-raw", "coronet::channel over tcp://...?framing=raw", wire_framing::raw,
     [](int cpu) {
       return start_asio_server(
           "coronet-channel-raw", cpu, [](asio::io_context& ctx, failure_log& f) {
             return serve_coronet_channel_echo(ctx, f, "tcp://127.0.0.1:0?framing=raw");
           });
     }},
    {"coronet-channel-length", "coronet::channel over tcp:// (u32 length prefix)",
     wire_framing::length_prefixed,
     [](int cpu) {
       return start_asio_server("coronet-channel-length", cpu,
                                [](asio::io_context& ctx, failure_log& f) {
                                  return serve_coronet_channel_echo(ctx, f, "tcp://127.0.0.1:0");
                                });
     }},
    {"asio-plain-unix", "asio-plain over a Unix socket (asio::local::stream_protocol)",
     wire_framing::raw,
     [](int cpu) {
       return start_asio_server("asio-plain-unix", cpu, [](asio::io_context& ctx, failure_log& f) {
         return serve_plain_asio_unix_echo(ctx, f, abstract_name("asio-plain-unix"));
       });
     }},
    {"coronet-channel-unix", "coronet::channel over unix://@...?framing=raw", wire_framing::raw,
     [](int cpu) {
       return start_asio_server(
           "coronet-channel-unix", cpu, [](asio::io_context& ctx, failure_log& f) {
             return serve_coronet_channel_echo(
                 ctx, f, "unix://@" + abstract_name("coronet-channel-unix") + "?framing=raw");
           });
     }},
    {"coronet-channel-ws", "coronet::channel over ws:// (masked binary frames in)",
     wire_framing::websocket,
     [](int cpu) {
       return start_asio_server("coronet-channel-ws", cpu,
                                [](asio::io_context& ctx, failure_log& f) {
                                  return serve_coronet_channel_echo(ctx, f, "ws://127.0.0.1:0/");
                                });
     }},
    {"coronet-concrete-ws", "websocket<tcp_stream>, no type erasure", wire_framing::websocket,
     [](int cpu) {
       return start_asio_server("coronet-concrete-ws", cpu, serve_coronet_concrete_ws_echo);
     }},
    {"beast-ws", "Boost.Beast websocket::stream, one async_write per message (familiar peer)",
     wire_framing::websocket, [](int cpu) { return start_beast_ws_server(cpu); }},
    {"udp-c-mmsg", "UDP in C: epoll, recvmmsg + sendmmsg in batches of 64 (the floor)",
     wire_framing::datagram, [](int cpu) { return start_mmsg_server(cpu); }},
    {"udp-asio-plain", "UDP, Asio coroutines, async_receive_from + async_send_to (the reference)",
     wire_framing::datagram,
     [](int cpu) { return start_asio_server("udp-asio-plain", cpu, serve_plain_asio_udp_echo); }},
    {"udp-coronet-channel", "coronet::channel per peer over udp://", wire_framing::datagram,
     [](int cpu) {
       return start_asio_server(
           "udp-coronet-channel", cpu, [](asio::io_context& ctx, failure_log& f) {
             return serve_coronet_udp_channel_echo(ctx, f, "udp://127.0.0.1:0");
           });
     }},
};

} // namespace

std::span<const server_kind> server_kinds() { return kinds; }
