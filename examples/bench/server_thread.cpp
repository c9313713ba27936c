#include "server_thread.hpp"

#include <cstdio>
#include <string>

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

namespace {

std::chrono::nanoseconds read_clock(clockid_t clock) {
  timespec ts{};
  if (::clock_gettime(clock, &ts) != 0) return std::chrono::nanoseconds(0);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// /proc/.../schedstat: "<ns on cpu> <ns waiting on a run queue> <timeslices>".
std::chrono::nanoseconds run_queue_wait(const std::string& path) {
  unsigned long long on_cpu = 0, waiting = 0;
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return std::chrono::nanoseconds(0);
  int got = std::fscanf(f, "%llu %llu", &on_cpu, &waiting);
  std::fclose(f);
  return std::chrono::nanoseconds(got == 2 ? static_cast<std::int64_t>(waiting) : 0);
}

} // namespace

thread_usage current_thread_usage() {
  return {read_clock(CLOCK_THREAD_CPUTIME_ID), run_queue_wait("/proc/thread-self/schedstat")};
}

server_thread::server_thread(int cpu, std::function<void()> body)
    : thread_([this, cpu, body = std::move(body)] {
        pin_current_thread(cpu); // best effort: a result on a shared core is still a result
        {
          std::lock_guard lock(mutex_);
          tid_ = ::gettid();
          changed_.notify_all();
        }
        body();
        std::lock_guard lock(mutex_);
        exited_ = true;
        changed_.notify_all();
      }) {
  have_clock_ = ::pthread_getcpuclockid(thread_.native_handle(), &clock_) == 0;
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return tid_ != 0; });
}

server_thread::~server_thread() { join(); }

thread_usage server_thread::usage() const {
  if (!have_clock_) return {};
  return {read_clock(clock_),
          run_queue_wait("/proc/self/task/" + std::to_string(tid_) + "/schedstat")};
}

bool server_thread::wait_for_exit(std::chrono::milliseconds limit) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, limit, [&] { return exited_; });
}

void server_thread::join() {
  if (thread_.joinable()) thread_.join();
}

bool pin_current_thread(int cpu) {
  if (cpu < 0) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set) == 0;
}

std::vector<int> usable_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int i = 0; i < CPU_SETSIZE; ++i)
    if (CPU_ISSET(i, &set)) cpus.push_back(i);
  return cpus;
}
