#pragma once

// How tapegrad's kernels share work between threads. Kernels run their parallel loops through OpenMP
// with `num_threads(tapegrad::num_threads())` and static schedules, mostly over independent outputs.
// Where threads' partial sums meet (the convolution's filter gradient sums over the batch), the work
// is cut into pieces that do not depend on the thread count and the pieces' sums are added in a fixed
// order, so results are bit-identical for any thread count.

#include <tapegrad/autograd/threads.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tapegrad {

/// The calling thread's buffer of at least `count` elements for one use (a tag type, one per use, so a
/// caller can hold several), kept between calls: first touch of fresh memory is slow.
template <typename T, typename Use>
T* thread_buffer(size_t count) {
  thread_local std::vector<T> buffer;
  if (buffer.size() < count) buffer.resize(count);
  return buffer.data();
}

/// Elements of work below which a kernel's loop stays on the calling thread.
inline constexpr int64_t kParallelElements = int64_t{1} << 16;

/// body(i) for i in [0, count), split statically between num_threads() threads when `work` (the
/// elements the loop touches) reaches kParallelElements. Below it, a plain loop that never enters
/// the OpenMP runtime: a `parallel ... if (false)` region still builds a team (a malloc, and
/// futex calls), which costs a small op several times its own loop.
template <typename Body>
void parallel_for(int64_t count, int64_t work, Body&& body) {
  if (work < kParallelElements) {
    for (int64_t i = 0; i < count; ++i) body(i);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (int64_t i = 0; i < count; ++i) body(i);
}

/// body() on every thread of a parallel region when `parallel`, else once on the calling thread
/// (without entering the OpenMP runtime); body's `omp for` loops share out its work either way.
template <typename Body>
void parallel_region(bool parallel, Body&& body) {
  if (!parallel) {
    body();
    return;
  }
#pragma omp parallel num_threads(num_threads())
  body();
}

}  // namespace tapegrad
