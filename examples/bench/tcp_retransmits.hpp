// tcp_retransmits: the TCP segments this network namespace has
// retransmitted (RetransSegs in /proc/net/snmp).
//
// coronet's channels do not hand out their socket, so a cell's
// retransmissions are the difference of two readings: exact inside linkem's
// private namespaces, where only the bench's connections live; on a shared
// loopback every other TCP connection of the machine counts too.
#pragma once

#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

/// RetransSegs so far; nothing when /proc/net/snmp cannot be read.
inline std::optional<std::uint64_t> tcp_retransmitted_segments() {
  std::ifstream snmp("/proc/net/snmp");
  std::string header, values;
  // Two lines start with "Tcp:": the field names, then their values.
  for (std::string line; std::getline(snmp, line);) {
    if (line.rfind("Tcp:", 0) != 0) continue;
    if (header.empty())
      header = line;
    else {
      values = line;
      break;
    }
  }
  std::istringstream names(header), numbers(values);
  std::string name, number;
  while (names >> name && numbers >> number)
    if (name == "RetransSegs") return std::stoull(number);
  return std::nullopt;
}
