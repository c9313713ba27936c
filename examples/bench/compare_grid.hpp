// compare_grid: what transport_bench --compare runs: transports x
// conditions x workloads, each combination a cell.
//
// A condition is a named impairment in the text form of docs/impair.md (a
// delay is one way, per direction), and the same link in linkem's flags.
// `--conditions NAME=SPEC` adds one of your own (in-process only).
#pragma once

#include "compare_workloads.hpp"

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct link_condition {
  std::string name;
  std::string impair;                   ///< docs/impair.md text form; empty: a clean link
  std::vector<std::string> linkem_args; ///< the same for `linkem run`; empty with `custom`
  std::chrono::milliseconds one_way_delay{0};
  bool custom = false; ///< given as NAME=SPEC on the command line
};

/// The named conditions, in table order.
std::span<const link_condition> known_conditions();

/// A name from known_conditions(), or NAME=SPEC (SPEC checked with
/// coronet::parse_impairment); nothing if neither.
std::optional<link_condition> find_condition(std::string_view text);

/// The transports, in table order: tcp, tls, udp, ws, wss, unix.
std::span<const std::string_view> known_transports();

struct compare_cell {
  std::string transport;
  link_condition condition;
  workload_kind workload;
};

struct grid_choice {
  std::vector<std::string> transports, workloads, conditions; ///< empty: the default
  bool quick = false;
};

/// The cells, transport-major.  Defaults: every transport; full: every
/// condition and workload; quick: clean, delay-25ms, loss-2%-delay-25ms,
/// loss-2% and burst-2%
/// with rr and stream, and bulk on clean only (unless --workloads says).
/// Fails with the first name it does not know.
coronet::result<std::vector<compare_cell>> make_grid(const grid_choice& choice, std::string& why);

/// How long a cell waits at the end for what is still on its way:
/// max(1 s, 4 x the one-way delay).
std::chrono::milliseconds grace_of(const link_condition& c);
