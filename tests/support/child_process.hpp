// A child process for interop tests (real peers: Python websockets, Node ws,
// openssl s_client / s_server): fork/exec with a pipe on its stdin (written
// with write(), closed to stop most peers) and one on its stdout (read line
// by line, every wait bounded); its stderr goes to the test's, or into the
// stdout pipe with merge_stderr.
//
// The destructor ends the child: its stop signal if one is set (for peers
// that ignore stdin EOF, like s_server), else stdin EOF; then up to
// `grace` for it to exit, then SIGKILL.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <string>
#include <string_view>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace coronet::test {

struct child_options {
  bool merge_stderr = false; ///< its stderr into the stdout pipe (read with read_line())
  int stop_signal = 0;       ///< sent by the destructor first; 0 = close stdin instead
  std::chrono::milliseconds grace{5'000}; ///< then SIGKILL
};

class child_process {
public:
  explicit child_process(std::vector<std::string> argv, child_options o = {}) : opts_(o) {
    std::signal(SIGPIPE, SIG_IGN); // a write to a child that is gone fails with EPIPE instead
    int in[2], out[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      // A test that crashes takes its peers (servers above all) with it.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      if (o.merge_stderr) ::dup2(out[1], 2);
      std::signal(SIGPIPE, SIG_DFL);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      _exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
    name_ = argv.front();
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() {
    if (opts_.stop_signal != 0 && !status_) ::kill(pid_, opts_.stop_signal);
    close_stdin(); // EOF on its stdin: most peers exit
    if (!wait_exit(opts_.grace)) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (out_ >= 0) ::close(out_);
  }

  /// Writes all of `s` to its stdin; false if it is closed or gone.
  bool write(std::string_view s) {
    while (!s.empty()) {
      if (in_ < 0) return false;
      auto n = ::write(in_, s.data(), s.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  void close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }

  /// The next line of its stdout, or nullopt after `limit` or at EOF.
  std::optional<std::string> read_line(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        auto line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        seen_.push_back(line);
        return line;
      }
      if (eof_) {
        // A last line without a newline.
        if (buf_.empty()) return std::nullopt;
        auto line = std::move(buf_);
        buf_.clear();
        seen_.push_back(line);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= std::chrono::milliseconds(0)) return std::nullopt;
      pollfd p{out_, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return std::nullopt;
      char chunk[4096];
      auto n = ::read(out_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        eof_ = true;
        continue;
      }
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  /// Waits for the line `want`, skipping others; false after `limit`.
  bool expect_line(const std::string& want,
                   std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    return wait_for_line([&](const std::string& l) { return l == want; }, limit).has_value();
  }

  /// The first line that satisfies `pred`, skipping others; nullopt after
  /// `limit` or at EOF.
  template <class Pred>
  std::optional<std::string>
  wait_for_line(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto line = read_line(std::max(left, std::chrono::milliseconds(0)));
      if (!line) return std::nullopt;
      if (pred(*line)) return line;
    }
  }

  /// Reads its stdout up to EOF (all lines land in seen()); false after `limit`.
  bool read_to_eof(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (read_line(std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  deadline - std::chrono::steady_clock::now()),
                              std::chrono::milliseconds(0))))
      ;
    return eof_ && buf_.empty();
  }

  /// Waits up to `limit` for it to exit: its exit status, or 128 + the
  /// signal that ended it; nullopt while it runs.
  std::optional<int> wait_exit(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!status_) {
      int status = 0;
      auto r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_)
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      else if (r < 0 && errno != EINTR)
        status_ = -1;
      else if (std::chrono::steady_clock::now() >= deadline)
        break;
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return status_;
  }

  /// Every line read so far, for failure messages.
  std::string seen() const {
    std::string s;
    for (auto& l : seen_) s += "[" + l + "] ";
    return s;
  }
  const std::vector<std::string>& lines() const { return seen_; }
  /// True if a line read so far contains `part`.
  bool saw(std::string_view part) const {
    return std::any_of(seen_.begin(), seen_.end(),
                       [&](const std::string& l) { return l.find(part) != std::string::npos; });
  }
  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }

private:
  child_options opts_;
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  bool eof_ = false;
  std::optional<int> status_;
  std::string buf_, name_;
  std::vector<std::string> seen_;
};

} // namespace coronet::test
