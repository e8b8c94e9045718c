#pragma once

// How many threads tapegrad's kernels use.

namespace tapegrad {

/// The most threads `set_num_threads` (and TAPEGRAD_NUM_THREADS) accepts: more than the hardware
/// threads of today's largest two-socket servers (768); a larger count is a mistake, not a machine.
inline constexpr int kMaxThreads = 1024;

/// Sets the number of threads kernels use from now on (1 <= n <= kMaxThreads); throws Error otherwise.
void set_num_threads(int n);

/// The number of threads kernels use: what set_num_threads set; by default the environment's
/// TAPEGRAD_NUM_THREADS, else OMP_NUM_THREADS, else every core the process may run on.
int num_threads();

}  // namespace tapegrad
