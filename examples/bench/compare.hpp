// compare: transport_bench --compare, one workload over every transport
// under a grid of network conditions, in one report.
//
//   transport_bench --compare --quick                      # < 2 min on 2 cores
//   transport_bench --compare --transports tcp,udp --conditions clean,loss-5% --workloads rr
//   transport_bench --compare --via linkem                 # packet-level link (root, TUN)
//
// Each cell (transport x condition x workload) starts a server
// (compare_server), runs the workload's client (compare_workloads), reads
// CPU time and TCP retransmissions around it, and adds a row.  The link is
// either in the process (--via impair: the client connects with
// ?impair=SPEC&impair_seed=N, which impairs both directions at the client)
// or linkem's (--via linkem: `linkem run <flags> --server '<self>
// --compare-serve URL' -- <self> --compare-client ...`, one linkem per cell,
// the client's result coming back as one JSON line).  See README.md.
#pragma once

#include "compare_grid.hpp"

#include <cstdint>
#include <string>

struct compare_settings {
  grid_choice grid;
  std::uint64_t seed = 1;
  std::string out = "compare-results";
  std::string via = "auto"; ///< impair, linkem or auto (linkem where `linkem check` passes)
  std::string self;         ///< this program's path (for --via linkem, and the plots)
  bool plots = true;        ///< draw them (compare_plot.py) after writing the files
  int rr_hz = 10;           ///< rr: requests a second per client
  std::string command_line;
};

/// Runs the grid, prints the progress, the table and the run time, writes
/// the files.  Returns 0 unless a cell failed or the files could not be
/// written (a cell that is n/a is not a failure).
int run_compare(const compare_settings& s);

/// `--compare-client`: one cell's client against a server already running
/// at `url` (a --compare-serve); prints the cell as one JSON line.
struct compare_client_settings {
  std::string url, transport, condition, workload;
  std::string impair; ///< applied in this process (empty under linkem)
  std::string certs;  ///< the directory of bench_certificates, for tls/wss
  std::string via = "impair";
  std::uint64_t seed = 1;
  int grace_ms = 1000;
  int rr_hz = 10;
  bool quick = false;
};
int run_compare_client(const compare_client_settings& s);
