#include <tapegrad/autograd/threads.hpp>

#include <tapegrad/autograd/error.hpp>

#include <omp.h>

#include <algorithm>
#include <atomic>

namespace tapegrad {

namespace {

// 0 until set_num_threads is called: then num_threads() answers with the machine's cores.
std::atomic<int> g_num_threads{0};

// The cores this process may run on, asked once: omp_get_num_procs() is a system call
// (sched_getaffinity) that costs more than a small kernel's whole loop.
int machine_cores() {
  static const int cores = std::max(1, omp_get_num_procs());
  return cores;
}

}  // namespace

void set_num_threads(int n) {
  if (n < 1) fail("set_num_threads: {} threads; expected at least 1", n);
  g_num_threads.store(n, std::memory_order_relaxed);
}

int num_threads() {
  const int n = g_num_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : machine_cores();
}

}  // namespace tapegrad
