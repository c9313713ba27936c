#include <coronet/detail/event.hpp>
#include <coronet/memory_stream.hpp>

#include <asio/this_coro.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

namespace coronet {

// One direction of the pair.
struct memory_stream::pipe {
  explicit pipe(const asio::any_io_executor& ex) : readable(ex), writable(ex) {}
  std::vector<std::byte> data;
  std::size_t read_pos = 0;
  bool fin = false;           // the writer ended the stream
  bool reader_closed = false; // the reader shut down receive or closed
  bool reset = false;         // the reader closed: writes fail
  detail::event readable, writable;
  std::size_t size() const { return data.size() - read_pos; }
};

struct memory_stream::link {
  explicit link(const asio::any_io_executor& ex) : to_second(ex), to_first(ex) {}
  pipe to_second, to_first;
};

std::pair<memory_stream, memory_stream>
memory_stream::make_pair(executor_type ex, memory_stream_faults a, memory_stream_faults b) {
  auto l = std::make_shared<link>(ex);
  return {memory_stream(ex, l, false, a), memory_stream(ex, l, true, b)};
}

memory_stream::memory_stream(executor_type ex, std::shared_ptr<link> l, bool second,
                             memory_stream_faults f)
    : ex_(std::move(ex)), link_(std::move(l)), second_(second), faults_(f) {}

memory_stream::~memory_stream() {
  if (link_) close();
}

memory_stream::pipe& memory_stream::inbound() const {
  return second_ ? link_->to_second : link_->to_first;
}
memory_stream::pipe& memory_stream::outbound() const {
  return second_ ? link_->to_first : link_->to_second;
}

std::size_t memory_stream::available() const { return inbound().size(); }

bool memory_stream::inject_fault(std::error_code& ec) {
  if (ops_++ >= faults_.fail_at) {
    ec = faults_.error;
    return true;
  }
  return false;
}

asio::awaitable<memory_stream::outcome> memory_stream::do_read(asio::mutable_buffer buf) {
  std::error_code ec;
  if (closed_) co_return outcome{asio::error::bad_descriptor, 0};
  if (inject_fault(ec)) co_return outcome{ec, 0};
  if (buf.size() == 0) co_return outcome{{}, 0};
  auto link = link_; // the pipe outlives a close() while we wait
  pipe& in = inbound();
  for (;;) {
    if (closed_) co_return outcome{asio::error::operation_aborted, 0};
    if (in.reader_closed) co_return outcome{asio::error::eof, 0};
    if (in.size() > 0) {
      std::size_t n = std::min(in.size(), buf.size());
      if (faults_.read_chunk) n = std::min(n, faults_.read_chunk);
      std::memcpy(buf.data(), in.data.data() + in.read_pos, n);
      in.read_pos += n;
      if (in.read_pos == in.data.size()) {
        in.data.clear();
        in.read_pos = 0;
      }
      in.writable.notify_all();
      co_return outcome{{}, n};
    }
    if (in.fin) co_return outcome{asio::error::eof, 0};
    co_await in.readable.wait();
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none)
      co_return outcome{asio::error::operation_aborted, 0};
  }
}

asio::awaitable<memory_stream::outcome> memory_stream::do_write(asio::const_buffer buf) {
  std::error_code ec;
  if (closed_) co_return outcome{asio::error::bad_descriptor, 0};
  if (inject_fault(ec)) co_return outcome{ec, 0};
  auto link = link_;
  pipe& out = outbound();
  for (;;) {
    if (closed_) co_return outcome{asio::error::operation_aborted, 0};
    if (out.fin) co_return outcome{asio::error::shut_down, 0};
    if (out.reset) co_return outcome{asio::error::connection_reset, 0};
    if (buf.size() == 0) co_return outcome{{}, 0};
    std::size_t room = buf.size();
    if (faults_.capacity) room = out.size() < faults_.capacity ? faults_.capacity - out.size() : 0;
    if (room > 0) {
      std::size_t n = std::min(room, buf.size());
      if (faults_.write_chunk) n = std::min(n, faults_.write_chunk);
      if (!out.reader_closed) { // like TCP after SHUT_RD: accepted and dropped
        auto p = static_cast<const std::byte*>(buf.data());
        out.data.insert(out.data.end(), p, p + n);
        out.readable.notify_all();
      }
      co_return outcome{{}, n};
    }
    co_await out.writable.wait();
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none)
      co_return outcome{asio::error::operation_aborted, 0};
  }
}

result<void> memory_stream::shutdown(shutdown_type how) {
  if (closed_) return fail(asio::error::bad_descriptor);
  if (how != asio::socket_base::shutdown_receive) {
    outbound().fin = true;
    outbound().readable.notify_all();
  }
  if (how != asio::socket_base::shutdown_send) {
    inbound().reader_closed = true;
    inbound().readable.notify_all();
    inbound().writable.notify_all();
  }
  return {};
}

void memory_stream::close() {
  if (closed_ || !link_) return;
  closed_ = true;
  outbound().fin = true;
  outbound().readable.notify_all();
  outbound().writable.notify_all();
  inbound().reader_closed = true;
  inbound().reset = true;
  inbound().readable.notify_all();
  inbound().writable.notify_all();
}

} // namespace coronet
