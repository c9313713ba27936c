// What a bad link does, as settings (the struct) and as text (the URL's
// ?impair=): the part of <coronet/impair.hpp> that options need.
#pragma once

#include <coronet/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace coronet {

/// What a link does to the messages going one way.  Zero everywhere: nothing.
struct impairment {
  double loss = 0; ///< each message is lost with this probability (Bernoulli)
  /// Gilbert-Elliott bursts (on when burst_p > 0): from the good state the
  /// link turns bad with probability burst_p per message, from the bad
  /// state good again with burst_r; in the bad state a message is lost with
  /// burst_loss.  Mean burst length 1 / burst_r messages.
  double burst_p = 0, burst_r = 0, burst_loss = 1;
  std::chrono::microseconds delay{0};  ///< added to every message
  std::chrono::microseconds jitter{0}; ///< plus a uniform 0..jitter; order is kept
  /// Each message, with this probability, is held back by reorder_delay
  /// more and may be overtaken by the ones after it.
  double reorder = 0;
  std::chrono::microseconds reorder_delay{0}; ///< 0: delay + jitter (at least 1 ms)
  double duplicate = 0;                       ///< a second copy, with this probability
  std::uint64_t rate_bits_per_second = 0;     ///< 0: no limit
  /// Bytes that may wait for the rate-limited link; more are dropped at
  /// the tail (0: 64 KiB).
  std::size_t queue_bytes = 0;
  /// When set, the queue holds at most this many messages (packets)
  /// instead of queue_bytes: linkem's --queue.
  std::size_t queue_packets = 0;
  /// A mahimahi-style delivery trace instead of a fixed rate: the link can
  /// send trace_bytes (one 1500-byte packet) at each of these millisecond
  /// offsets, ascending, repeating after the last one; opportunities with
  /// nothing waiting are lost.  See load_delivery_trace() in <coronet/impair.hpp>.
  std::shared_ptr<const std::vector<std::uint32_t>> trace;
  std::size_t trace_bytes = 1500;

  bool limited() const { return rate_bits_per_second > 0 || trace; }
  bool drops() const { return loss > 0 || burst_p > 0 || limited(); }
  bool reorders() const { return reorder > 0; }
  bool duplicates() const { return duplicate > 0; }
  bool any() const {
    return drops() || reorders() || duplicates() || delay.count() || jitter.count();
  }
};

/// Both directions: what this end sends, and what it receives.
struct impairment_spec {
  impairment send, receive;
};

/// Parses "loss:2%,delay:20ms,jitter:5ms,reorder:1%,dup:0.5%,rate:1mbit,
/// queue:64kb,burst:gilbert(0.01,0.3)", each key once, in any order, for
/// both directions; "send:(...)" and "receive:(...)" (or "up"/"down")
/// hold one direction's keys.  Units: % or a fraction; us, ms, s; bit,
/// kbit, mbit, gbit (per second); b, kb, mb.  Fails with
/// errc::invalid_argument (and no partial result) on anything else.
result<impairment_spec> parse_impairment(std::string_view text);

/// The spec written back in parse_impairment()'s syntax (shortest form).
std::string to_string(const impairment_spec& spec);

} // namespace coronet
