// server_thread: the one thread an echo server under test runs on.
//
// It is pinned to one CPU (so that the server and the load generator do not
// trade places between cores mid-run), and what the scheduler knows about it
// can be read from any other thread: its CPU clock, which is how the bench
// charges a server with exactly the CPU time its event loop used, and how
// long it sat runnable without a CPU, which is how the bench tells a
// measurement from a contended machine's noise.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <sys/types.h>
#include <time.h>

/// A thread's scheduler totals at one moment.
struct thread_usage {
  std::chrono::nanoseconds on_cpu{0}; ///< user + system CPU time
  std::chrono::nanoseconds waiting{
      0}; ///< runnable but waiting for a CPU (0 if the kernel does not say)
};

/// What was used between two readings.
inline thread_usage operator-(const thread_usage& later, const thread_usage& earlier) {
  return {later.on_cpu - earlier.on_cpu, later.waiting - earlier.waiting};
}

/// The calling thread's totals.
thread_usage current_thread_usage();

class server_thread {
public:
  /// Runs `body` on a new thread pinned to `cpu` (-1: not pinned).
  server_thread(int cpu, std::function<void()> body);
  ~server_thread(); // joins
  server_thread(const server_thread&) = delete;
  server_thread& operator=(const server_thread&) = delete;

  thread_usage usage() const;

  /// Waits up to `limit` for `body` to return; true if it has.
  bool wait_for_exit(std::chrono::milliseconds limit);

  void join();

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  pid_t tid_ = 0; // published by the thread before the constructor returns
  bool exited_ = false;
  clockid_t clock_{};
  bool have_clock_ = false;
  std::thread thread_; // last: it starts running once the members above exist
};

/// Pins the calling thread to `cpu`; false if the system refused (-1 is a no-op).
bool pin_current_thread(int cpu);

/// The CPUs this process may run on, lowest first.
std::vector<int> usable_cpus();
