// coronet::redis_layer: the channel layer that joins the groups of several
// processes through Redis pub/sub, with presence kept in Redis.
//
//   asio::io_context io;                                   // the layer's thread
//   auto layer = co_await coronet::redis_layer::connect(io.get_executor(),
//                                                       "redis://127.0.0.1:6379/0");
//   if (!layer) return fail(layer.error());               // unreachable, refused, bad URL
//   coronet::groups rooms({}, *layer);
//
// Contract
// - Two connections (hiredis's async API, driven by Asio: the socket is
//   waited on with an asio::posix::stream_descriptor, no extra thread, no
//   polling): one publishes and runs commands, one is subscribed.
// - A group's Redis channel (<prefix>group:<name>) is subscribed while this
//   process has a member in it, and unsubscribed when the last one leaves.
// - A publish goes to this process's members directly and to Redis once;
//   the copy Redis sends back to this process is recognized by its node id
//   and skipped, so no member gets a message twice.
// - Redis down: local delivery goes on.  What is published meanwhile is
//   lost for the other processes (counted in stats().publish_lost).  The
//   layer logs the outage (warning), reconnects with exponential backoff,
//   resubscribes every group that has members here, logs the recovery, and
//   counts both.  A command that gets no reply within command_timeout
//   counts as an outage too (a Redis that hangs, not only one that died).
// - Numbered messages (group::publish_numbered): one Lua script numbers
//   the message (INCR <prefix>seq:<name>), appends it to the group's
//   history (RPUSH + LTRIM <prefix>history:<name>) and publishes it, so the
//   numbers, the history and the order every process receives them in
//   agree.  Every process, this one included, delivers it when Redis sends
//   it back.
// - Presence: each member's name is kept in a sorted set per group
//   (<prefix>presence:<name>) with a deadline refreshed every third of
//   presence_ttl while this process lives, so a crashed process's members
//   are gone within presence_ttl.  close() removes this process's entries.
// - Thread-safe: every member function may be called from any thread; the
//   work runs on a strand of the executor given to connect().
//
// Host names are resolved by hiredis, blocking the layer's strand while it
// does: give an address (or a name /etc/hosts answers).
//
// Without hiredis at build time, connect() fails with errc::unsupported.
#pragma once

#include <coronet/group.hpp>
#include <coronet/result.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace coronet {

struct redis_options {
  /// Start of every key and channel name (lets apps share one Redis).
  std::string prefix = "coronet:";
  /// Each connection attempt (TCP or Unix connect, AUTH, SELECT, PING).
  std::chrono::milliseconds connect_timeout{5'000};
  /// A command unanswered this long means the connection is dead.
  std::chrono::milliseconds command_timeout{5'000};
  /// Reconnect backoff: the first retry after `reconnect_initial`, doubling
  /// up to `reconnect_max`.
  std::chrono::milliseconds reconnect_initial{100};
  std::chrono::milliseconds reconnect_max{5'000};
  /// How long a process's presence entries outlive it.
  std::chrono::milliseconds presence_ttl{30'000};
};

/// A Redis reply (RESP2).
struct redis_reply {
  enum class type { nil, integer, string, status, error, array };
  type kind = type::nil;
  std::int64_t integer = 0;
  std::string str; ///< string, status or error text
  std::vector<redis_reply> elements;
};

struct redis_layer_stats {
  bool connected = false;
  std::uint64_t outages = 0;      ///< times the connection to Redis was lost
  std::uint64_t reconnects = 0;   ///< times it came back
  std::uint64_t published = 0;    ///< messages sent to Redis
  std::uint64_t publish_lost = 0; ///< messages not sent because Redis was down
  std::uint64_t received = 0;     ///< messages from other processes
  std::uint64_t malformed = 0;    ///< messages on our channels that were not ours to read
};

class redis_layer final : public channel_layer {
public:
  /// Connects to the Redis at `url`:
  ///   redis://[[user]:password@]host[:port][/db]   (port 6379, db 0)
  ///   unix:///path/to/redis.sock[?db=N&password=P&user=U]
  /// Fails with errc::invalid_url (the reason logged), errc::unsupported
  /// (rediss://: no TLS in hiredis 0.14; or built without hiredis),
  /// errc::connection_refused, errc::timeout, or errc::unauthorized (AUTH
  /// refused, or required and not given).  Once connected, it reconnects
  /// by itself.  The layer's work runs on a strand of `ex`.
  static asio::awaitable<result<std::shared_ptr<redis_layer>>> connect(asio::any_io_executor ex,
                                                                       std::string_view url);
  /// The same with options.  Pass them as a variable, not a temporary
  /// (`connect(ex, url, {.prefix = "app:"})`): GCC 12 corrupts short
  /// strings in the temporaries of a co_await expression (docs/design.md).
  static asio::awaitable<result<std::shared_ptr<redis_layer>>>
  connect(asio::any_io_executor ex, std::string_view url, const redis_options& o);

  ~redis_layer() override; ///< drops the connections (prefer close())

  /// Removes this process's presence entries, disconnects, and stops
  /// reconnecting.  Groups using the layer keep working in this process.
  asio::awaitable<void> close();

  /// Runs one command on the command connection (not for SUBSCRIBE).  A
  /// Redis error is a reply of type error; the result fails with
  /// errc::closed while Redis is down or when the connection drops (one
  /// that leaves a command unanswered for command_timeout is dropped).
  asio::awaitable<result<redis_reply>> command(std::vector<std::string> args);

  redis_layer_stats stats() const;
  /// This process's id in the messages it publishes (16 hex digits).
  const std::string& node_id() const;

  // channel_layer
  void attach(receiver r) override;
  void subscribe(const std::string& group) override;
  void unsubscribe(const std::string& group) override;
  void publish(const std::string& group, const shared_message& m) override;
  void member_joined(const std::string& group, const std::string& name) override;
  void member_left(const std::string& group, const std::string& name) override;
  asio::awaitable<result<std::vector<std::string>>> presence(const std::string& group) override;
  asio::awaitable<result<std::uint64_t>>
  publish_numbered(const std::string& group, std::string_view before, std::string_view after,
                   std::size_t history, std::uint64_t floor) override;
  asio::awaitable<result<numbered_history>> history(const std::string& group,
                                                    std::size_t limit) override;

  struct impl;

private:
  explicit redis_layer(std::shared_ptr<impl> i) : impl_(std::move(i)) {}
  static asio::awaitable<result<std::shared_ptr<redis_layer>>> start(std::shared_ptr<impl> i);
  std::shared_ptr<impl> impl_;
};

} // namespace coronet
