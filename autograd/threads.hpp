#pragma once

// How many threads tapegrad's kernels use.

namespace tapegrad {

/// Sets the number of threads kernels use from now on (n >= 1); throws Error otherwise.
void set_num_threads(int n);

/// The number of threads kernels use: what set_num_threads set, by default every core of the machine.
int num_threads();

}  // namespace tapegrad
