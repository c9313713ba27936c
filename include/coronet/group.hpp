// coronet::group: a room of channels that a message is published to at once,
// from any thread, and (through a channel layer) from any process.
//
//   coronet::groups rooms;                          // this process's groups
//   auto lobby = rooms.get("lobby");
//
//   // in a connection handler, on the connection's thread:
//   auto joined = lobby.join(ch, "alice");          // leaves when `joined` goes
//   if (!joined) co_return;
//   lobby.publish(coronet::shared_message(R"({"type":"hello"})"));
//
// Contract
// - A member is a channel and a name.  It is sent to on its own thread (the
//   channel's executor): a publish posts once to every thread that has
//   members, not once per member, and the message's bytes are held once
//   (shared_message), whatever the number of members.
// - Ordered per publisher: two publishes from one thread reach every member
//   in the order they were made.  No order between publishers.
// - A slow member never delays the others.  Each member's channel has its
//   own bounded send queue (options::send_queue_limit); a message that finds
//   it full is handled by group_options::slow_consumer (see that enum),
//   and the drops are counted per member and per group.
// - A member leaves when its membership is destroyed, when leave() is
//   called, or as soon as a delivery finds its channel closed.
// - Thread-safe: every member function may be called from any thread.
//   join() is cheapest on the channel's own thread.
#pragma once

#include <coronet/channel.hpp>
#include <coronet/message.hpp>
#include <coronet/options.hpp>
#include <coronet/result.hpp>

#include <asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace coronet {

/// An immutable message that many members share: the bytes are copied (or
/// moved) in once, and every copy of a shared_message refers to them.
class shared_message {
public:
  shared_message() = default;
  /// A text message that takes `text` over (no copy).
  explicit shared_message(std::string text, message_kind kind = message_kind::text);
  /// Copies `m` once.
  explicit shared_message(message_view m);

  message_view view() const noexcept {
    if (!body_) return {};
    return message_view(std::string_view(body_->bytes), body_->kind);
  }
  std::string_view text() const noexcept { return body_ ? std::string_view(body_->bytes) : ""; }
  std::size_t size() const noexcept { return body_ ? body_->bytes.size() : 0; }
  bool empty() const noexcept { return size() == 0; }

private:
  struct body {
    std::string bytes;
    message_kind kind;
  };
  std::shared_ptr<const body> body_;
};

/// How a group treats its members.  Set once per `groups`.
struct group_options {
  /// What happens to a message for a member whose channel's send queue is
  /// full.  wait: it waits in the member's backlog (at most member_backlog
  /// messages, in order; a member whose backlog overflows is disconnected
  /// rather than let it grow or hold up the room).  drop_oldest: the same
  /// backlog, but on overflow the oldest waiting message is dropped (a
  /// dashboard wants the latest values).  drop_newest: the message is
  /// dropped for that member.  disconnect: the member's channel is aborted
  /// at once.
  slow_consumer_policy slow_consumer = slow_consumer_policy::drop_oldest;
  /// Messages a member may have waiting beyond its channel's own send queue
  /// (wait and drop_oldest); at least 1.
  std::size_t member_backlog = 256;
  /// Numbered messages (publish_numbered) each group keeps for history();
  /// 0 = none.  With a channel layer that stores history (Redis), there.
  std::size_t history = 0;
};

/// A message with its place in its group's sequence (publish_numbered()).
struct numbered_message {
  std::uint64_t seq = 0;
  shared_message message;
};

/// A group's kept numbered messages.  The epoch names the numbering they
/// belong to: it changes when the numbering starts over (a process without
/// a channel layer restarted; Redis lost its data), so a seq from another
/// epoch says nothing about what is missing.
struct numbered_history {
  std::string epoch;
  std::vector<numbered_message> messages; ///< oldest first
};

/// What a group has done since it was created (this process's part).
struct group_stats {
  std::size_t members = 0;        ///< members in this process now
  std::uint64_t published = 0;    ///< publish() calls in this process
  std::uint64_t received = 0;     ///< messages that came through the channel layer
  std::uint64_t delivered = 0;    ///< messages handed to a member's channel
  std::uint64_t dropped = 0;      ///< messages a slow member did not get
  std::uint64_t disconnected = 0; ///< members disconnected by the slow-consumer policy
  /// Tasks posted to the members' threads: one per thread that has members,
  /// per message (not one per member).
  std::uint64_t posts = 0;
};

/// One member, as group::members() lists it.
struct group_member {
  std::string name;
  const void* id = nullptr;  ///< the channel's id()
  std::uint64_t dropped = 0; ///< messages this member did not get
  std::size_t backlog = 0;   ///< messages waiting beyond its channel's send queue
};

namespace detail {
struct group_state;
struct groups_state;
struct member_state;
} // namespace detail

/// Membership of one channel in one group: the member leaves when it is
/// destroyed (or leave() is called).  Movable, not copyable.
class [[nodiscard]] membership {
public:
  membership() = default;
  membership(membership&& o) noexcept;
  membership& operator=(membership&& o) noexcept;
  ~membership();
  /// Leaves now (no-op if already left).
  void leave();
  /// A membership from group::join_since() holds the live messages back
  /// until this is called: then those that came after the catch-up's
  /// messages go out, in order, and the live stream follows.  Call it on
  /// the member's thread once the catch-up has been sent.  (No-op
  /// otherwise.)
  void resume();
  explicit operator bool() const noexcept { return group_ != nullptr; }

private:
  friend struct detail::group_state;
  membership(std::shared_ptr<detail::group_state> g, std::shared_ptr<detail::member_state> m);
  std::shared_ptr<detail::group_state> group_;
  std::shared_ptr<detail::member_state> member_;
};

/// What group::join_since() found for a joining member.
struct catch_up {
  membership member; ///< holding live messages back until member.resume()
  /// The kept messages after `since` (all kept ones when `since` is from
  /// another epoch or ahead of the numbering), oldest first.
  std::vector<numbered_message> missed;
  /// True when `missed` is everything after `since`: nothing was lost.
  bool recovered = false;
  /// The numbering's epoch, for the member's next join_since().
  std::string epoch;
};

/// A handle to one named group (copies refer to the same group).  Made by
/// groups::get().
class group {
public:
  group() = default;

  const std::string& name() const;

  /// Adds `ch` as a member named `name` (empty: ch.remote()).  Fails with
  /// errc::invalid_argument for an empty channel or one that is already a
  /// member.  The first member of this process subscribes the group in the
  /// channel layer.
  result<membership> join(channel ch, std::string name = {});

  /// Joins `ch` as join() does, for a member that has seen the group's
  /// numbered messages up to `since` (0: none) in numbering `epoch` (from
  /// an earlier catch_up; empty: unknown).  Completes with the kept
  /// messages it has not seen, which the application sends first (in its
  /// own reply), and whether they are all it missed.  Live messages for the
  /// member are held back meanwhile; membership::resume() then sends those
  /// not already among the catch-up's, so that between the two nothing is
  /// lost and nothing comes twice:
  ///
  ///   auto c = co_await room.join_since(ch, "alice", since, epoch);
  ///   if (!c) ...
  ///   co_await ch.send(reply(c->missed, c->recovered, c->epoch));
  ///   c->member.resume();
  ///
  /// Fails as join() does.  While the channel layer cannot give the
  /// history (Redis down), this process's own stands in, with its own
  /// epoch: recovered is then false.
  asio::awaitable<result<catch_up>> join_since(channel ch, std::string_view name,
                                               std::uint64_t since, std::string_view epoch = {});

  /// Removes the member whose channel is `ch` (no-op if it is none).
  void leave(const channel& ch);

  /// Sends `m` to every member, in this process and, through the channel
  /// layer, in the others.  Returns at once: delivery happens on each
  /// member's thread.
  void publish(shared_message m);
  void publish(message_view m) { publish(shared_message(m)); }

  /// Publishes the numbered message `before` + seq + `after` (seq in
  /// decimal), where seq is the group's next sequence number, one more than
  /// the last, across every process; keeps it in the group's history.  The
  /// number is written between two parts so that it is assigned where the
  /// order is decided (with Redis: in Redis, atomically with the publish and
  /// the history, so every member in every process sees the numbers in
  /// order) without decoding the message:
  ///
  ///   auto json = R"({"type":"message","text":"hi","seq":)";
  ///   auto seq = co_await room.publish_numbered(json, "}");
  ///
  /// Completes with the number once the message is published.  With the
  /// channel layer down it is numbered and delivered in this process only;
  /// if the layer sent it but got no answer, it fails (errc::timeout) and
  /// is not delivered again here, since it may have gone out.
  /// The strings must stay valid until it completes.
  asio::awaitable<result<std::uint64_t>> publish_numbered(std::string_view before,
                                                          std::string_view after);

  /// The group's last group_options::history numbered messages, oldest
  /// first, and their epoch: from the channel layer when it keeps them
  /// (Redis), else (or while it is down) those this process has seen.
  asio::awaitable<result<numbered_history>> history() const;

  /// Members in this process.
  std::size_t size() const;
  std::vector<group_member> members() const;
  /// The names of the members in every process (sorted, each once), from
  /// the channel layer; without one, this process's.  Fails when the layer
  /// cannot tell now (Redis down): members() still has this process's.
  asio::awaitable<result<std::vector<std::string>>> presence() const;
  group_stats stats() const;

  explicit operator bool() const noexcept { return state_ != nullptr; }

private:
  friend class groups;
  explicit group(std::shared_ptr<detail::group_state> s) : state_(std::move(s)) {}
  std::shared_ptr<detail::group_state> state_;
};

/// What joins the groups of several processes.  The default (no layer)
/// keeps every group inside its process, across all of its threads;
/// redis_layer (<coronet/redis_layer.hpp>) joins processes through Redis.
///
/// A layer is told which groups this process has members in, sends what is
/// published here to the other processes, and hands what they publish to
/// receive().  Its functions are called from any thread.
class channel_layer {
public:
  /// Where a layer hands messages from other processes: the group's name
  /// and the message, delivered to this process's members of it; `seq` is
  /// its number for a numbered message, else 0.
  using receiver = std::function<void(std::string_view group, shared_message m, std::uint64_t seq)>;

  virtual ~channel_layer() = default;
  /// Called once, before anything else, by the groups that use the layer.
  virtual void attach(receiver r) = 0;
  /// This process has its first member of `group` / has lost its last.
  virtual void subscribe(const std::string& group) = 0;
  virtual void unsubscribe(const std::string& group) = 0;
  /// `m` was published here; send it to the other processes (this
  /// process's members get it directly, never twice).
  virtual void publish(const std::string& group, const shared_message& m) = 0;
  /// A member joined or left here (for presence across processes).
  virtual void member_joined(const std::string& group, const std::string& name) = 0;
  virtual void member_left(const std::string& group, const std::string& name) = 0;
  /// The names of the group's members in every process, sorted, each once;
  /// fails when the layer cannot tell now (its backend is down).
  virtual asio::awaitable<result<std::vector<std::string>>> presence(const std::string& group) = 0;
  /// Numbers and publishes before + seq + after to every process, this one
  /// included (through the receiver, with its seq), and keeps the last
  /// `history` of them; the number is above `floor`.  Fails with
  /// errc::closed when it sent nothing (the backend is down: the group then
  /// numbers it floor + 1 and delivers it locally), with another error when
  /// whether it went out is unknown (the group reports that).
  virtual asio::awaitable<result<std::uint64_t>>
  publish_numbered(const std::string& group, std::string_view before, std::string_view after,
                   std::size_t history, std::uint64_t floor) = 0;
  /// The last `limit` numbered messages of the group, oldest first, and
  /// the epoch of their numbering (made on first use; a new one when the
  /// backend lost the numbering); fails when the backend is down or keeps
  /// no history (errc::unsupported).  Messages published once this process
  /// has subscribed to the group are either in it or delivered after it.
  virtual asio::awaitable<result<numbered_history>> history(const std::string& group,
                                                            std::size_t limit) = 0;
};

/// The groups of one process, by name.  Thread-safe.  Keep it alive as long
/// as any group or membership it made.
class groups {
public:
  explicit groups(group_options o = {}, std::shared_ptr<channel_layer> layer = nullptr);
  ~groups();
  groups(const groups&) = delete;
  groups& operator=(const groups&) = delete;

  /// The group named `name`, made on first use.  It lives as long as a
  /// handle to it or a member does, and, without a channel layer, once it
  /// has numbered history, as long as this object (that history is the
  /// only copy; with Redis it is kept there).
  group get(std::string_view name);

  /// Names of the groups that have members in this process.
  std::vector<std::string> names() const;

  const group_options& options() const;

private:
  std::shared_ptr<detail::groups_state> state_;
};

} // namespace coronet
