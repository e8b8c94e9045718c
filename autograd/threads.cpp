#include <tapegrad/autograd/threads.hpp>

#include <tapegrad/autograd/error.hpp>

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tapegrad {

namespace {

// 0 until set_num_threads is called: then num_threads() answers with the default.
std::atomic<int> g_num_threads{0};

// TAPEGRAD_NUM_THREADS as a count >= 1; 0 when unset, and when it is not such a count (said once on
// stderr, as libgomp says of a bad OMP_NUM_THREADS).
int tapegrad_num_threads_variable() {
  const char* text = std::getenv("TAPEGRAD_NUM_THREADS");
  if (text == nullptr || *text == '\0') return 0;
  int n = 0;
  const char* end = text + std::strlen(text);
  const auto [stop, error] = std::from_chars(text, end, n);
  if (error != std::errc{} || stop != end || n < 1 || n > kMaxThreads) {
    std::fprintf(stderr, "tapegrad: ignoring TAPEGRAD_NUM_THREADS=%s; expected a whole number from 1 to %d\n", text,
                 kMaxThreads);
    return 0;
  }
  return n;
}

// The threads kernels use unless set_num_threads says otherwise, asked once: TAPEGRAD_NUM_THREADS,
// else OMP_NUM_THREADS (its first value, as libgomp parses it), else the cores this process may run
// on. (omp_get_num_procs() is a system call, sched_getaffinity, that costs more than a small kernel's
// whole loop.)
int default_threads() {
  static const int threads = [] {
    if (const int n = tapegrad_num_threads_variable(); n > 0) return n;
    if (std::getenv("OMP_NUM_THREADS") != nullptr) return std::max(1, omp_get_max_threads());
    return std::max(1, omp_get_num_procs());
  }();
  return threads;
}

}  // namespace

void set_num_threads(int n) {
  if (n < 1 || n > kMaxThreads) fail("set_num_threads: {} threads; expected 1 to {} (kMaxThreads)", n, kMaxThreads);
  g_num_threads.store(n, std::memory_order_relaxed);
}

int num_threads() {
  const int n = g_num_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : default_threads();
}

}  // namespace tapegrad
