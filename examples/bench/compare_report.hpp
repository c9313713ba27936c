// compare_report: the figures of one cell of transport_bench --compare, and
// the run's outputs: a table on the terminal, compare.csv, compare.json and
// latency_cdf.csv (per cell, 200 quantiles of latency and of staleness, for
// CDF plots).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

/// One cell's figures.  Latency is a round trip for rr (request to echo),
/// one way for stream (update sent to received) and bulk's send of a
/// message to its acknowledgement.
struct cell_result {
  std::string transport, condition, workload;
  std::string via;           ///< "impair" or "linkem"
  std::string impair;        ///< the impairment spec (text form), empty for a clean link
  std::string status = "ok"; ///< ok, n/a or failed
  std::string note;          ///< why n/a or failed; caveats otherwise ("; " between two)
  int clients = 0;
  double seconds = 0; ///< first send to last delivery
  double wall_seconds = 0;
  std::uint64_t sent = 0, delivered = 0;
  double delivery = 0; ///< delivered / sent
  double p50_ms = 0, p99_ms = 0, p999_ms = 0;
  double staleness_p50_ms = 0, staleness_p99_ms = 0; ///< stream
  double goodput_mbit = 0;                           ///< bulk: acknowledged bytes / seconds
  std::uint64_t bytes_delivered = 0;
  double client_cpu_ms = 0, server_cpu_ms = 0;
  double cpu_us_per_message = 0; ///< (client + server CPU) / messages delivered
  /// How long the client and server threads sat runnable without a CPU
  /// (another process had it): a paced workload's latency is then noise.
  /// -1: not known (linkem: other processes).
  double cpu_wait_ms = -1;
  std::int64_t retransmits = -1; ///< TCP segments retransmitted; -1: not known
  /// IP bytes that crossed the link both ways (linkem's count: headers,
  /// handshakes, acknowledgements and retransmissions included); -1: not known.
  std::int64_t wire_bytes = -1;
  double wire_bytes_per_message = 0; ///< wire_bytes / messages delivered
  std::string retransmits_source;
  std::vector<double> latency_cdf_ms, staleness_cdf_ms; ///< cdf_points quantiles each
};

inline constexpr int cdf_points = 200;

/// The q-quantile (0..1) of `sorted` (ascending), nearest rank; 0 if empty.
double quantile(const std::vector<double>& sorted, double q);

/// `cdf_points` quantiles of `samples` (sorted here), at (k + 0.5) / cdf_points.
std::vector<double> cdf_of(std::vector<double> samples);

/// What the run was, for compare.json.
struct run_metadata {
  std::string command_line, date, machine, via;
  std::uint64_t seed = 0;
  unsigned cpus = 0;
  bool quick = false;
  double seconds = 0;
};

/// The table: one row per cell.
void print_table(const std::vector<cell_result>& cells);

/// Writes compare.csv, compare.json and latency_cdf.csv into `dir`
/// (created if missing); false, with the reason in `why`, if it cannot.
bool write_results(const std::string& dir, const std::vector<cell_result>& cells,
                   const run_metadata& meta, std::string& why);

/// A cell as one line of JSON (the --compare-client output), and back.
std::string to_json_line(const cell_result& c);
bool from_json_line(const std::string& line, cell_result& c);
