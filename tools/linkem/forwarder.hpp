// linkem's packet loop: reads each IP packet from one side's TUN device,
// asks that direction's impairment model what becomes of it (lost, queued
// behind the rate limit, delayed, reordered, duplicated) and writes it to
// the other side's device when its time comes.  One thread, no locks.
#pragma once

#include <coronet/impair.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace linkem {

/// What one direction carried.
struct direction_stats {
  std::uint64_t packets = 0, bytes = 0;             ///< read from the sending side
  std::uint64_t delivered = 0, delivered_bytes = 0; ///< written to the receiving side
  std::uint64_t overflow = 0; ///< dropped because linkem held too much in flight
  std::uint64_t write_errors = 0;
  coronet::impairment_stats model; ///< lost, burst_lost, queue_dropped, duplicated, ...
};

struct forwarder_options {
  coronet::impairment uplink, downlink;         ///< client→server, server→client
  std::uint64_t seed = 1;                       ///< uplink's model; downlink's is seed + 1
  std::size_t max_in_flight = 64 * 1024 * 1024; ///< bytes held for delay, both ways
};

class forwarder {
public:
  forwarder(int client_tun, int server_tun, const forwarder_options& o);

  /// Carries packets until on_event(fd) returns false.  event_fd (a
  /// signalfd) is watched beside the devices; on_event runs when it is
  /// readable.
  void run(int event_fd, const std::function<bool()>& on_event);

  direction_stats uplink() const;
  direction_stats downlink() const;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

/// The stats as JSON, for --stats FILE and the tests.
std::string to_json(const direction_stats& s);

} // namespace linkem
