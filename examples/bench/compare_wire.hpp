// compare_wire: the messages the comparison's workloads exchange.
//
// Every message starts with the same 32-byte header; what follows is
// padding up to the workload's message size.  Client and server run on one
// machine (one process, or two processes in network namespaces, which share
// CLOCK_MONOTONIC), so a timestamp written by one side is read on the other
// side's clock: one-way latencies need no clock sync.  Fields are in the
// machine's byte order, for the same reason.
//
//   kind       sent by   what it is
//   request    client    rr: echoed back unchanged by the server
//   subscribe  client    stream: "send me `count` updates of `size` bytes at
//                        `rate` Hz"; `seq` names the stream so that a repeated
//                        subscribe (over udp it is resent until updates come)
//                        starts nothing new
//   update     server    stream: update number `seq`
//   bulk       client    bulk: message number `seq` (large)
//   ack        server    bulk: message `seq` arrived whole (its `sent_ns` kept)
//   usage      client    "what CPU time has your process used, and how many
//                        TCP segments has your network namespace resent since
//                        you started?" (the reply carries them in `sent_ns`
//                        and `count`, all ones when not known): the figures
//                        of the process-split mode's server
#pragma once

#include <coronet/message.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include <time.h>

enum class wire_kind : std::uint8_t {
  request = 'q',
  subscribe = 's',
  update = 'u',
  bulk = 'b',
  ack = 'a',
  usage = 'c',
};

struct wire_header {
  wire_kind kind = wire_kind::request;
  std::uint32_t client = 0; ///< which client of the cell (rr, stream)
  std::uint64_t seq = 0;
  std::int64_t sent_ns = 0; ///< monotonic_ns() when sent
  std::uint32_t count = 0;  ///< subscribe: updates wanted
  std::uint32_t size = 0;   ///< subscribe: bytes per update
  std::uint32_t rate = 0;   ///< subscribe: updates per second

  static constexpr std::size_t wire_size = 40;

  /// Writes the header at the front of `out` (at least wire_size bytes).
  void write(std::span<std::byte> out) const {
    std::memset(out.data(), 0, wire_size);
    out[0] = static_cast<std::byte>(kind);
    std::memcpy(out.data() + 4, &client, 4);
    std::memcpy(out.data() + 8, &seq, 8);
    std::memcpy(out.data() + 16, &sent_ns, 8);
    std::memcpy(out.data() + 24, &count, 4);
    std::memcpy(out.data() + 28, &size, 4);
    std::memcpy(out.data() + 32, &rate, 4);
  }

  /// The header of a received message; nothing if it is too short.
  static std::optional<wire_header> read(coronet::message_view m) {
    if (m.size() < wire_size) return std::nullopt;
    wire_header h;
    h.kind = static_cast<wire_kind>(m.data[0]);
    std::memcpy(&h.client, m.data.data() + 4, 4);
    std::memcpy(&h.seq, m.data.data() + 8, 8);
    std::memcpy(&h.sent_ns, m.data.data() + 16, 8);
    std::memcpy(&h.count, m.data.data() + 24, 4);
    std::memcpy(&h.size, m.data.data() + 28, 4);
    std::memcpy(&h.rate, m.data.data() + 32, 4);
    return h;
  }
};

/// CLOCK_MONOTONIC in nanoseconds: what std::chrono::steady_clock reads on
/// Linux, and the same in every process and network namespace of the machine.
inline std::int64_t monotonic_ns() {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}
