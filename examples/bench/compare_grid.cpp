#include "compare_grid.hpp"

#include <coronet/error.hpp>
#include <coronet/impairment.hpp>

#include <algorithm>

namespace {

using namespace std::chrono_literals;

// Gilbert-Elliott for burst-2%: p / (p + r) = 0.005 / 0.25 = 2% of the time
// bad (every message lost then), bursts of 1 / r = 4 messages on average.
const std::vector<link_condition>& conditions() {
  static const std::vector<link_condition> table = {
      {"clean", "", {}, 0ms},
      {"delay-20ms", "delay:20ms", {"--delay", "20ms"}, 20ms},
      {"delay-50ms", "delay:50ms", {"--delay", "50ms"}, 50ms},
      // The textbook pair: a 50 ms round trip, then the same with 2% loss
      // each way (TCP's p99 jumps by a retransmission timeout; UDP's stays).
      {"delay-25ms", "delay:25ms", {"--delay", "25ms"}, 25ms},
      {"loss-2%-delay-25ms", "loss:0.02,delay:25ms", {"--loss", "0.02", "--delay", "25ms"}, 25ms},
      {"loss-0.5%", "loss:0.005", {"--loss", "0.005"}, 0ms},
      {"loss-1%", "loss:0.01", {"--loss", "0.01"}, 0ms},
      {"loss-2%", "loss:0.02", {"--loss", "0.02"}, 0ms},
      {"loss-5%", "loss:0.05", {"--loss", "0.05"}, 0ms},
      {"burst-2%", "burst:gilbert(0.005,0.245)", {"--burst", "gilbert(0.005,0.245)"}, 0ms},
      // A 2 Mbit/s link whose queue holds 1000 packets (messages in
      // process): bufferbloat, not loss.
      {"rate-2mbit-deep", "rate:2mbit,queue:1000p", {"--rate", "2mbit", "--queue", "1000"}, 0ms},
  };
  return table;
}

constexpr std::string_view transports[] = {"tcp", "tls", "udp", "ws", "wss", "unix"};
constexpr std::string_view quick_conditions[] = {"clean", "delay-25ms", "loss-2%-delay-25ms",
                                                 "loss-2%", "burst-2%"};

std::optional<workload_kind> find_workload(std::string_view name) {
  for (auto w : {workload_kind::rr, workload_kind::stream, workload_kind::bulk})
    if (to_string(w) == name) return w;
  return std::nullopt;
}

} // namespace

std::span<const link_condition> known_conditions() { return conditions(); }

std::span<const std::string_view> known_transports() { return transports; }

std::optional<link_condition> find_condition(std::string_view text) {
  for (auto& c : conditions())
    if (c.name == text) return c;
  auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) return std::nullopt;
  auto spec = coronet::parse_impairment(text.substr(eq + 1));
  if (!spec) return std::nullopt;
  link_condition c;
  c.name = text.substr(0, eq);
  c.impair = text.substr(eq + 1);
  c.custom = true;
  c.one_way_delay = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::max(spec->send.delay + spec->send.jitter, spec->receive.delay + spec->receive.jitter));
  return c;
}

std::chrono::milliseconds grace_of(const link_condition& c) {
  return std::max<std::chrono::milliseconds>(1000ms, 4 * c.one_way_delay);
}

coronet::result<std::vector<compare_cell>> make_grid(const grid_choice& choice, std::string& why) {
  std::vector<std::string> names = choice.transports;
  if (names.empty())
    for (auto t : transports) names.emplace_back(t);
  for (auto& t : names)
    if (std::find(std::begin(transports), std::end(transports), t) == std::end(transports)) {
      why = "no transport " + t + " (tcp, tls, udp, ws, wss, unix)";
      return coronet::fail(coronet::errc::invalid_argument);
    }

  // The command line splits the list at every comma, a NAME=SPEC's own
  // too (rate:2mbit,queue:10p): a piece that is neither a name nor
  // NAME=SPEC continues the one before.
  std::vector<std::string> wanted;
  for (auto& piece : choice.conditions) {
    bool named = std::any_of(conditions().begin(), conditions().end(),
                             [&](const link_condition& c) { return c.name == piece; });
    if (!named && piece.find('=') == std::string::npos && !wanted.empty() &&
        wanted.back().find('=') != std::string::npos)
      wanted.back() += "," + piece;
    else
      wanted.push_back(piece);
  }
  std::vector<link_condition> chosen;
  if (!wanted.empty()) {
    for (auto& text : wanted) {
      auto c = find_condition(text);
      if (!c) {
        why = "no condition " + text + " (a name from the table, or NAME=SPEC)";
        return coronet::fail(coronet::errc::invalid_argument);
      }
      chosen.push_back(*c);
    }
  } else if (choice.quick) {
    for (auto n : quick_conditions) chosen.push_back(*find_condition(n));
  } else {
    chosen.assign(conditions().begin(), conditions().end());
  }

  std::vector<workload_kind> workloads;
  for (auto& text : choice.workloads) {
    auto w = find_workload(text);
    if (!w) {
      why = "no workload " + text + " (rr, stream, bulk)";
      return coronet::fail(coronet::errc::invalid_argument);
    }
    workloads.push_back(*w);
  }
  bool bulk_on_clean_only = choice.quick && workloads.empty();
  if (workloads.empty())
    workloads = {workload_kind::rr, workload_kind::stream, workload_kind::bulk};

  std::vector<compare_cell> cells;
  for (auto& t : names)
    for (auto& c : chosen)
      for (auto w : workloads) {
        if (w == workload_kind::bulk && bulk_on_clean_only && c.name != "clean") continue;
        cells.push_back({t, c, w});
      }
  return cells;
}
