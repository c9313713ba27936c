// Network impairment in the process: what a bad link does to the messages
// going one way (loss, bursts of loss, delay, jitter, reordering,
// duplication, a rate limit with a bounded queue), decided by a seeded
// generator so that a run repeats exactly.
//
//   auto spec = coronet::parse_impairment("loss:2%,delay:20ms,jitter:5ms,rate:1mbit");
//   coronet::impairment_model link(*spec, /*seed*/ 7);
//   auto fate = link.decide(now, message_size);   // lost, or when each copy arrives
//
// The model is pure (no I/O, no clock of its own): impair() below applies
// it to each direction of a channel, and tools/linkem to real IP packets.
// See docs/impair.md.
#pragma once

#include <coronet/channel.hpp>
#include <coronet/impairment.hpp>
#include <coronet/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace coronet {

/// What happened to one message.
struct message_fate {
  enum class cause { none, loss, burst, queue_full } dropped = cause::none;
  /// When each copy arrives (one, or two when duplicated; none when
  /// dropped), as offsets from the time given to decide().
  std::vector<std::chrono::steady_clock::duration> arrivals;
  bool reordered = false;
};

/// Counters of what a model did.
struct impairment_stats {
  std::uint64_t messages = 0, lost = 0, burst_lost = 0, queue_dropped = 0, duplicated = 0,
                reordered = 0, delayed = 0;
};

/// One direction of an impaired link.  decide() is deterministic: the same
/// seed and the same (time, size) sequence give the same fates.  A model
/// for a reliable transport (`reliable`) never drops, duplicates or
/// reorders (the kernel would not): it only delays, and a full rate-limit
/// queue then delays further instead of dropping.
class impairment_model {
public:
  using time_point = std::chrono::steady_clock::time_point;

  impairment_model(impairment i, std::uint64_t seed, bool reliable = false);

  message_fate decide(time_point now, std::size_t size);

  const impairment& settings() const { return i_; }
  const impairment_stats& stats() const { return stats_; }

private:
  double uniform();
  std::chrono::microseconds jitter();
  time_point depart(time_point now, std::size_t size); // when the limited link has sent it
  time_point opportunity(std::uint64_t k) const;       // the trace's k-th, from its start

  impairment i_;
  bool reliable_;
  std::mt19937_64 rng_;
  bool bad_ = false;          // Gilbert-Elliott state
  time_point last_arrival_{}; // (order kept: no message arrives before it)
  time_point link_free_{};    // rate limit: when the link has sent what it holds
  std::deque<std::pair<time_point, std::size_t>> in_queue_; // departures not yet due, bytes
  std::size_t queued_bytes_ = 0;
  time_point trace_start_{}; // (set by the first message)
  bool trace_started_ = false;
  std::uint64_t next_opportunity_ = 0; // the trace's next unused delivery opportunity
  std::size_t opportunity_left_ = 0;   // bytes it can still carry
  impairment_stats stats_;
};

/// Reads a mahimahi packet-delivery trace: one millisecond timestamp per
/// line, ascending, each an opportunity to deliver one 1500-byte packet;
/// the trace repeats after its last line.  Fails with
/// errc::invalid_argument on a line that is not a number, numbers out of
/// order, an empty trace or one whose last timestamp is 0, and with the
/// system's error when the file cannot be read.
result<std::shared_ptr<const std::vector<std::uint32_t>>>
load_delivery_trace(const std::string& path);

/// What an impaired channel did, through channel::info<impaired_link>().
struct impaired_link {
  impairment_spec spec;
  const impairment_stats* send = nullptr;    ///< the messages this end sent
  const impairment_stats* receive = nullptr; ///< the messages it received
};

/// `inner` behind an impaired link: what this end sends goes through
/// spec.send before it reaches `inner`, what `inner` receives through
/// spec.receive before receive() returns it.  On a reliable transport
/// (inner.properties().reliable) messages are only delayed, never lost,
/// duplicated or reordered.  Seeded: the same seed and the same traffic give
/// the same drops and delays.  Messages waiting for their time are held
/// here (at most `limit` bytes each way; past it a datagram channel drops
/// and a reliable one's send() waits).
channel impair(channel inner, const impairment_spec& spec, std::uint64_t seed = 1,
               std::size_t limit = 16 * 1024 * 1024);

} // namespace coronet
