#pragma once

// How many threads tapegrad's kernels use. Kernels run their parallel loops through OpenMP with
// `num_threads(tapegrad::num_threads())` and static schedules, and split work only over independent
// outputs (never a reduction), so results are bit-identical for any thread count.

namespace tapegrad {

/// Sets the number of threads kernels use from now on (n >= 1); throws Error otherwise.
void set_num_threads(int n);

/// The number of threads kernels use: what set_num_threads set, by default every core of the machine.
int num_threads();

}  // namespace tapegrad
