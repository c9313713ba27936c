// compare_workloads: the client side of transport_bench --compare's three
// workloads, written once over coronet::channel for every transport.
//
//   rr      `clients` connections, each sending a 64 B request every
//           rr_interval (100 ms: paced, not back to back, so latency is not
//           throughput-bound, and sparse, like an interactive client's); the
//           server echoes.  Latency = echo time - send time (a round trip).
//           Delivery = distinct echoes / requests sent.
//   stream  the server sends each of `clients` connections a 60 Hz update of
//           150 B.  Latency = arrival - send time (one way).  Delivery =
//           distinct updates / updates sent.  Staleness: at a 60 Hz "render"
//           tick of the client's own, the age of the newest update received
//           so far.
//   bulk    one connection sends 1 MiB messages (two in flight); the server
//           acknowledges each.  Goodput = bytes acknowledged / time; latency
//           = send of a message to its acknowledgement.
//
// Every wait is bounded: a run lasts its duration, then at most `grace`
// for what is still on its way (over udp a lost message is simply lost).
#pragma once

#include <coronet/options.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

enum class workload_kind { rr, stream, bulk };

/// bulk's messages, and how many are on their way at once.
inline constexpr std::size_t bulk_message_size = 1 << 20;
inline constexpr int bulk_in_flight = 2;

std::string_view to_string(workload_kind w);

/// What one cell's client does.
struct workload_settings {
  workload_kind kind = workload_kind::rr;
  /// Where to connect, without a query; the client adds ?impair= when
  /// `impair` is set.
  std::string url;
  coronet::options options;
  /// An impairment spec in the text form of docs/impair.md (empty: none);
  /// connection i is seeded `seed + i`.
  std::string impair;
  std::uint64_t seed = 1;
  int clients = 4;                                ///< rr, stream
  std::chrono::microseconds rr_interval{100'000}; ///< rr: between one client's requests
  std::chrono::milliseconds duration{1000};       ///< of sending (bulk: at most)
  std::chrono::milliseconds grace{1000};          ///< after it, for what is on its way
  std::size_t bulk_bytes = 16 << 20;              ///< bulk: stop after this many sent
};

/// What the client saw.
struct workload_result {
  bool ok = false;
  std::string error;                     ///< why not ok (the first failure)
  std::uint64_t sent = 0, delivered = 0; ///< messages (rr: requests; stream: updates)
  std::vector<double> latency_us;        ///< one sample per message delivered
  std::vector<double> staleness_us;      ///< stream: one sample per render tick
  std::uint64_t bytes_delivered = 0;     ///< bulk: bytes acknowledged
  double seconds = 0;                    ///< from the first send to the last delivery
};

/// Runs the workload on an io_context of its own on the calling thread;
/// returns once every connection is done (duration + grace, plus connect
/// and close).
workload_result run_workload(const workload_settings& s);

/// What a --compare-serve process has used: its CPU time and the TCP
/// segments its network namespace has retransmitted since it started (-1:
/// not known).
struct server_usage {
  double cpu_ms = 0;
  std::int64_t retransmits = -1;
};

/// Asks the server at `url` (over a connection of its own, a few tries of
/// at most 1 s); nothing if it does not answer.
std::optional<server_usage> query_server_usage(const std::string& url, const coronet::options& o);

/// The URL a connection of `s` uses: s.url with ?impair=...&impair_seed=N.
std::string connection_url(const workload_settings& s, int connection);
