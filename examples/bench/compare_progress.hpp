// compare_progress: where transport_bench --compare is, on stderr.
//
// On a terminal one line, redrawn: a bar, cells done / total, the cell
// running, time elapsed and an estimate of the time left.  When stderr is
// not a terminal, or CI=true, one plain line per cell instead (logs keep
// them all and no carriage returns).  The terminal line is redrawn twice a
// second by a thread of its own, so the clock moves during a long cell.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>

class compare_progress {
public:
  explicit compare_progress(std::size_t total);
  ~compare_progress(); // done()
  compare_progress(const compare_progress&) = delete;
  compare_progress& operator=(const compare_progress&) = delete;

  /// Cell `index` (0-based) starts: `what` names it.
  void starting(std::size_t index, const std::string& what);
  /// The cell that started last is done; `outcome` is a few words on it.
  void finished(const std::string& outcome);
  /// Clears the line (terminal) before the table is printed.
  void done();

  double elapsed_seconds() const;

private:
  void draw(); // with mutex_ held

  std::size_t total_, done_ = 0;
  bool live_; // redraw one line (a terminal, not CI)
  std::string current_, shown_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
  std::condition_variable stop_;
  bool stopping_ = false;
  std::thread ticker_; // last: it starts once the members above exist
};
