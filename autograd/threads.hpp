#pragma once

// How many threads tapegrad's kernels use.

namespace tapegrad {

/// Sets the number of threads kernels use from now on (n >= 1); throws Error otherwise.
void set_num_threads(int n);

/// The number of threads kernels use: what set_num_threads set; by default the environment's
/// TAPEGRAD_NUM_THREADS, else OMP_NUM_THREADS, else every core the process may run on.
int num_threads();

}  // namespace tapegrad
