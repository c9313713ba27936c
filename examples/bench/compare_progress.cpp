#include "compare_progress.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <unistd.h>

namespace {

std::string clock_text(double seconds) {
  auto s = static_cast<long>(seconds + 0.5);
  char text[32];
  std::snprintf(text, sizeof text, "%ld:%02ld", s / 60, s % 60);
  return text;
}

bool in_ci() {
  auto ci = std::getenv("CI");
  return ci && (std::strcmp(ci, "true") == 0 || std::strcmp(ci, "1") == 0);
}

} // namespace

compare_progress::compare_progress(std::size_t total)
    : total_(total), live_(::isatty(2) && !in_ci()), start_(std::chrono::steady_clock::now()) {
  if (!live_) return;
  ticker_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stop_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stopping_; }))
      if (!shown_.empty()) draw();
  });
}

compare_progress::~compare_progress() { done(); }

double compare_progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void compare_progress::starting(std::size_t index, const std::string& what) {
  std::lock_guard lock(mutex_);
  done_ = index;
  current_ = what;
  if (live_) {
    shown_ = what;
    draw();
  } else {
    std::fprintf(stderr, "[%zu/%zu] %s ...\n", index + 1, total_, what.c_str());
  }
}

void compare_progress::finished(const std::string& outcome) {
  std::lock_guard lock(mutex_);
  ++done_;
  if (live_) {
    shown_ = current_ + ": " + outcome;
    draw();
  } else {
    std::fprintf(stderr, "[%zu/%zu] %s: %s (elapsed %s)\n", done_, total_, current_.c_str(),
                 outcome.c_str(), clock_text(elapsed_seconds()).c_str());
  }
}

void compare_progress::done() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  if (live_) std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

void compare_progress::draw() {
  constexpr std::size_t width = 24;
  auto filled = total_ ? width * done_ / total_ : width;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  auto elapsed = elapsed_seconds();
  std::string eta =
      done_ ? clock_text(elapsed / static_cast<double>(done_) * static_cast<double>(total_ - done_))
            : std::string("?");
  std::fprintf(stderr, "\r\033[K[%s] %zu/%zu  %s  elapsed %s  ETA %s", bar.c_str(), done_, total_,
               shown_.c_str(), clock_text(elapsed).c_str(), eta.c_str());
  std::fflush(stderr);
}
