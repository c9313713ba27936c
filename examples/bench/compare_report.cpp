#include "compare_report.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(cell_result, transport, condition, workload, via, impair, status,
                                   note, clients, seconds, wall_seconds, sent, delivered, delivery,
                                   p50_ms, p99_ms, p999_ms, staleness_p50_ms, staleness_p99_ms,
                                   goodput_mbit, bytes_delivered, client_cpu_ms, server_cpu_ms,
                                   cpu_us_per_message, cpu_wait_ms, retransmits, retransmits_source,
                                   wire_bytes, wire_bytes_per_message, latency_cdf_ms,
                                   staleness_cdf_ms)

namespace {

// A CSV field: quoted when it holds a comma, a quote or a line break.
std::string csv(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) (out += c) += c == '"' ? "\"" : "";
  return out + "\"";
}

std::string number(double v, const char* format = "%.4g") {
  char text[64];
  std::snprintf(text, sizeof text, format, v);
  return text;
}

// Figures a cell does not have (staleness outside stream, goodput outside
// bulk, what was not measured) are empty fields.
const char* csv_header =
    "transport,condition,workload,via,status,impair,clients,seconds,sent,"
    "delivered,delivery,p50_ms,p99_ms,p999_ms,staleness_p50_ms,"
    "staleness_p99_ms,goodput_mbit,bytes_delivered,client_cpu_ms,"
    "server_cpu_ms,cpu_us_per_message,cpu_wait_ms,retransmits,retransmits_source,"
    "wire_bytes,wire_bytes_per_message,wall_seconds,note\n";

std::string csv_row(const cell_result& c) {
  std::string row;
  auto add = [&](const std::string& field) { (row += row.empty() ? "" : ",") += field; };
  // A figure: empty where the cell does not have it, and in an n/a cell.
  bool ran = c.status != "n/a", stream = c.workload == "stream", bulk = c.workload == "bulk";
  auto figure = [&](bool has, const std::string& text) { add(ran && has ? text : ""); };
  add(csv(c.transport));
  add(csv(c.condition));
  add(csv(c.workload));
  add(csv(c.via));
  add(csv(c.status));
  add(csv(c.impair));
  figure(true, std::to_string(c.clients));
  figure(true, number(c.seconds, "%.3f"));
  figure(true, std::to_string(c.sent));
  figure(true, std::to_string(c.delivered));
  figure(true, number(c.delivery, "%.6f"));
  figure(true, number(c.p50_ms, "%.4f"));
  figure(true, number(c.p99_ms, "%.4f"));
  figure(true, number(c.p999_ms, "%.4f"));
  figure(stream, number(c.staleness_p50_ms, "%.4f"));
  figure(stream, number(c.staleness_p99_ms, "%.4f"));
  figure(bulk, number(c.goodput_mbit, "%.3f"));
  figure(true, std::to_string(c.bytes_delivered));
  figure(true, number(c.client_cpu_ms, "%.3f"));
  figure(true, number(c.server_cpu_ms, "%.3f"));
  figure(true, number(c.cpu_us_per_message, "%.3f"));
  figure(c.cpu_wait_ms >= 0, number(c.cpu_wait_ms, "%.3f"));
  figure(c.retransmits >= 0, std::to_string(c.retransmits));
  add(csv(c.retransmits_source));
  figure(c.wire_bytes >= 0, std::to_string(c.wire_bytes));
  figure(c.wire_bytes >= 0, number(c.wire_bytes_per_message, "%.1f"));
  add(number(c.wall_seconds, "%.3f"));
  add(csv(c.note));
  return row + "\n";
}

bool write_file(const std::filesystem::path& path, const std::string& text, std::string& why) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    why = "cannot write " + path.string();
    return false;
  }
  return true;
}

} // namespace

double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(std::clamp(q, 0.0, 1.0) * sorted.size()));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

std::vector<double> cdf_of(std::vector<double> samples) {
  std::vector<double> points;
  if (samples.empty()) return points;
  std::sort(samples.begin(), samples.end());
  for (int k = 0; k < cdf_points; ++k) points.push_back(quantile(samples, (k + 0.5) / cdf_points));
  return points;
}

void print_table(const std::vector<cell_result>& cells) {
  // Notes repeat (every reliable transport under loss has the same one):
  // the rows name them by number, the sentences follow the table.
  std::vector<std::string> notes;
  auto mark = [&](const std::string& text) -> std::string {
    std::string marks;
    for (std::size_t from = 0; from < text.size();) {
      auto to = std::min(text.find("; ", from), text.size());
      auto note = text.substr(from, to - from);
      from = to + 2;
      auto at = std::find(notes.begin(), notes.end(), note);
      if (at == notes.end()) at = notes.insert(notes.end(), note);
      marks += "[" + std::to_string(at - notes.begin() + 1) + "]";
    }
    return marks;
  };
  std::printf("\n%-9s %-18s %-8s %9s %9s %9s %8s %10s %10s %8s %9s  %s\n", "transport", "condition",
              "workload", "p50 ms", "p99 ms", "p99.9 ms", "deliv %", "stale p99", "goodput",
              "CPU/msg", "wire/msg", "note");
  std::printf("%-9s %-18s %-8s %9s %9s %9s %8s %10s %10s %8s %9s\n", "", "", "", "", "", "", "",
              "ms", "Mbit/s", "us", "bytes");
  for (auto& c : cells) {
    std::printf("%-9s %-18s %-8s", c.transport.c_str(), c.condition.c_str(), c.workload.c_str());
    if (c.status != "ok") {
      std::printf(" %9s %9s %9s %8s %10s %10s %8s %9s  %s\n", c.status.c_str(), "", "", "", "", "",
                  "", "", mark(c.note).c_str());
      continue;
    }
    std::printf(" %9.2f %9.2f %9.2f %8.2f", c.p50_ms, c.p99_ms, c.p999_ms, 100 * c.delivery);
    if (c.workload == "stream")
      std::printf(" %10.2f", c.staleness_p99_ms);
    else
      std::printf(" %10s", "-");
    if (c.workload == "bulk")
      std::printf(" %10.1f", c.goodput_mbit);
    else
      std::printf(" %10s", "-");
    std::printf(" %8.1f", c.cpu_us_per_message);
    if (c.wire_bytes >= 0)
      std::printf(" %9.0f", c.wire_bytes_per_message);
    else
      std::printf(" %9s", "-");
    std::printf("  %s\n", mark(c.note).c_str());
  }
  for (std::size_t k = 0; k < notes.size(); ++k) std::printf("[%zu] %s\n", k + 1, notes[k].c_str());
  std::printf("latency: rr a round trip, stream one way, bulk a 1 MiB message to its "
              "acknowledgement; CPU/msg: client + server CPU per message delivered; wire/msg: IP "
              "bytes across linkem both ways per message delivered\n");
}

bool write_results(const std::string& dir, const std::vector<cell_result>& cells,
                   const run_metadata& meta, std::string& why) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    why = "cannot create " + dir + ": " + ec.message();
    return false;
  }
  std::filesystem::path base(dir);

  std::string table = csv_header;
  for (auto& c : cells) table += csv_row(c);
  if (!write_file(base / "compare.csv", table, why)) return false;

  std::string cdf = "transport,condition,workload,quantile,latency_ms,staleness_ms\n";
  for (auto& c : cells) {
    if (c.latency_cdf_ms.empty()) continue;
    for (std::size_t k = 0; k < c.latency_cdf_ms.size(); ++k) {
      cdf += csv(c.transport) + "," + csv(c.condition) + "," + csv(c.workload) + "," +
             number((static_cast<double>(k) + 0.5) / cdf_points, "%.4f") + "," +
             number(c.latency_cdf_ms[k], "%.4f") + ",";
      if (k < c.staleness_cdf_ms.size()) cdf += number(c.staleness_cdf_ms[k], "%.4f");
      cdf += "\n";
    }
  }
  if (!write_file(base / "latency_cdf.csv", cdf, why)) return false;

  nlohmann::json doc;
  doc["command_line"] = meta.command_line;
  doc["date"] = meta.date;
  doc["machine"] = meta.machine;
  doc["cpus"] = meta.cpus;
  doc["seed"] = meta.seed;
  doc["via"] = meta.via;
  doc["quick"] = meta.quick;
  doc["seconds"] = meta.seconds;
  doc["latency"] = "rr: round trip (request to echo); stream: one way (update sent to "
                   "received); bulk: a 1 MiB message sent to its acknowledgement";
  doc["cells"] = nlohmann::json::array();
  for (auto& c : cells) {
    nlohmann::json j = c;
    j.erase("latency_cdf_ms"); // (in latency_cdf.csv)
    j.erase("staleness_cdf_ms");
    // A figure the cell does not have is null (not 0, which a plot would draw).
    if (c.workload != "stream") j["staleness_p50_ms"] = j["staleness_p99_ms"] = nullptr;
    if (c.workload != "bulk") j["goodput_mbit"] = nullptr;
    if (c.cpu_wait_ms < 0) j["cpu_wait_ms"] = nullptr;
    if (c.retransmits < 0) j["retransmits"] = nullptr;
    if (c.wire_bytes < 0) j["wire_bytes"] = j["wire_bytes_per_message"] = nullptr;
    if (c.status == "n/a")
      for (auto key :
           {"clients", "seconds", "sent", "delivered", "delivery", "p50_ms", "p99_ms", "p999_ms",
            "bytes_delivered", "client_cpu_ms", "server_cpu_ms", "cpu_us_per_message"})
        j[key] = nullptr;
    doc["cells"].push_back(std::move(j));
  }
  return write_file(base / "compare.json", doc.dump(2) + "\n", why);
}

std::string to_json_line(const cell_result& c) { return nlohmann::json(c).dump(); }

bool from_json_line(const std::string& line, cell_result& c) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  try {
    c = j.get<cell_result>();
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}
