// server_registry: the echo servers the bench can run, by name.
//
// A transport joins the bench by adding a row: a start function that brings
// up an echo server on its own thread and the framing the load generator
// must speak to it.  A transport whose wire format is not a plain byte
// stream (ws://, tls://) adds a wire_framing value and teaches the
// load generator to speak it; nothing else in the bench changes.
#pragma once

#include "echo_server.hpp"
#include "load_generator.hpp"
#include "results_table.hpp"

#include <span>
#include <string_view>

struct server_kind {
  std::string_view name;
  std::string_view description;
  wire_framing framing;
  /// Starts the server on a thread pinned to `cpu` (-1: not pinned).
  coronet::result<std::unique_ptr<echo_server>> (*start)(int cpu);
};

/// Every server, in the order the tables list them.
std::span<const server_kind> server_kinds();

/// The scenarios a server runs in: UDP servers (datagram framing) in UDP
/// scenarios, the others -- byte streams over TCP or a Unix socket -- in the
/// stream ones (transport_protocol::tcp).
inline transport_protocol protocol_of(const server_kind& k) {
  return k.framing == wire_framing::datagram ? transport_protocol::udp : transport_protocol::tcp;
}
