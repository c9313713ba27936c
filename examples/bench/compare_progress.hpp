// compare_progress: where transport_bench --compare is, on stderr.
//
// On a terminal one line, redrawn: a bar, cells done / total, the cell
// running, time elapsed and an estimate of the time left.  When stderr is
// not a terminal, or CI=true, one plain line per cell instead (logs keep
// them all and no carriage returns).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

class progress_bar {
public:
  explicit progress_bar(std::size_t total);

  /// Cell `index` (0-based) starts: `what` names it.
  void starting(std::size_t index, const std::string& what);
  /// The cell that started last is done; `outcome` is a few words on it.
  void finished(const std::string& outcome);
  /// Clears the line (terminal) before the table is printed.
  void done();

  double elapsed_seconds() const;

private:
  void draw(const std::string& what);

  std::size_t total_, done_ = 0;
  bool live_; // redraw one line (a terminal, not CI)
  std::string current_;
  std::chrono::steady_clock::time_point start_;
};
