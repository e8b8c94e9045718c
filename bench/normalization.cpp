// Batch normalization, dropout and the layers of issue 15, forward + backward on a tape, against a
// copy of the same bytes on as many threads: the ratio of effective bandwidths is the figure
// (issue 15's target: batch normalization at half the copy's or better, on a 32x28x28x64 float32
// tensor). Bytes counted per forward + backward, as the least a fused implementation must move:
// batch normalization reads x and writes y, then reads dy and x and writes dx (5 tensors of x's size);
// dropout reads x and writes y and the mask, then reads dy and the mask and writes dx (6); the copy
// reads and writes x's bytes once (2).

#include <tapegrad/nn.hpp>
#include <tapegrad/tapegrad.hpp>
#include "autograd/kernels/parallel.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace {

using namespace tapegrad;

const Shape kShape{32, 28, 28, 64};

// Runs kernels on `threads` threads while alive (the benchmark's first argument), then restores the count.
class Threads {
 public:
  explicit Threads(benchmark::State& state) : before_(num_threads()) {
    set_num_threads(static_cast<int>(state.range(0)));
    state.counters["threads"] = static_cast<double>(state.range(0));
  }
  ~Threads() { set_num_threads(before_); }
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;

 private:
  int before_;
};

void bandwidth(benchmark::State& state, double tensors) {
  const double bytes = tensors * static_cast<double>(kShape.numel()) * sizeof(float);
  state.counters["GB/s"] =
      benchmark::Counter(bytes * 1e-9 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.SetLabel("32x28x28x64 float32");
}

// The yardstick: x's bytes copied to another buffer, split between the threads as a kernel splits its rows.
void bn_copy_same_bytes(benchmark::State& state) {
  const Threads threads(state);
  const auto n = static_cast<size_t>(kShape.numel());
  std::vector<float> from(n, 1.0f), to(n, 0.0f);
  const int64_t blocks = 64;
  for (auto _ : state) {
    parallel_for(blocks, kShape.numel(), [&](int64_t b) {
      const size_t begin = n * static_cast<size_t>(b) / blocks, end = n * static_cast<size_t>(b + 1) / blocks;
      std::memcpy(to.data() + begin, from.data() + begin, (end - begin) * sizeof(float));
    });
    benchmark::ClobberMemory();
  }
  bandwidth(state, 2);
}
BENCHMARK(bn_copy_same_bytes)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same yardstick at batch normalization's footprint: x to y and dy to dx, four buffers of x's
// size (26 MB, near this machine's 32 MiB L3, where the one copy above stays in it).
void bn_copy_working_set(benchmark::State& state) {
  const Threads threads(state);
  const auto n = static_cast<size_t>(kShape.numel());
  std::vector<float> x(n, 1.0f), y(n, 0.0f), dy(n, 1.0f), dx(n, 0.0f);
  const int64_t blocks = 64;
  for (auto _ : state) {
    for (const auto& [from, to] : {std::pair{&x, &y}, std::pair{&dy, &dx}}) {
      parallel_for(blocks, kShape.numel(), [&, from = from, to = to](int64_t b) {
        const size_t begin = n * static_cast<size_t>(b) / blocks, end = n * static_cast<size_t>(b + 1) / blocks;
        std::memcpy(to->data() + begin, from->data() + begin, (end - begin) * sizeof(float));
      });
    }
    benchmark::ClobberMemory();
  }
  bandwidth(state, 4);
}
BENCHMARK(bn_copy_working_set)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// The floor of any batch normalization that makes four passes (the forward's sums, then y; the
// backward's sums, then dx): the same reads and writes over the same four buffers, in the same order,
// with the least arithmetic (a sum, a copy, a sum of two, an add). Batch normalization can go no
// faster than this without fewer passes; its counted bytes are the same 5 tensors.
// The loops, built for AVX-512, AVX2 and any x86-64 (the CPU picks); omp simd lets each sum keep
// one partial sum a lane, so the loops run at the speed of their reads and writes.
[[gnu::target_clones("avx512f", "avx2", "default")]] float stream_sum(const float* a, size_t n) {
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (size_t i = 0; i < n; ++i) sum += a[i];
  return sum;
}
[[gnu::target_clones("avx512f", "avx2", "default")]] float stream_sum_of_two(const float* a, const float* b, size_t n) {
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (size_t i = 0; i < n; ++i) sum += a[i] + b[i];
  return sum;
}
[[gnu::target_clones("avx512f", "avx2", "default")]] void stream_add(const float* a, const float* b, float* out,
                                                                     size_t n) {
#pragma omp simd
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void bn_four_passes_floor(benchmark::State& state) {
  const Threads threads(state);
  const auto n = static_cast<size_t>(kShape.numel());
  std::vector<float> x(n, 1.0f), y(n, 0.0f), dy(n, 1.0f), dx(n, 0.0f);
  const int64_t blocks = 64;
  std::vector<float> sums(blocks);
  // pass(begin, count, block) over the 64 blocks, split between the threads as the kernels split theirs.
  const auto each_block = [&](auto&& pass) {
    parallel_for(blocks, kShape.numel(), [&](int64_t b) {
      const size_t begin = n * static_cast<size_t>(b) / blocks, end = n * static_cast<size_t>(b + 1) / blocks;
      pass(begin, end - begin, b);
    });
  };
  for (auto _ : state) {
    each_block([&](size_t begin, size_t count, int64_t b) {
      sums[static_cast<size_t>(b)] = stream_sum(x.data() + begin, count);
    });
    each_block([&](size_t begin, size_t count, int64_t) {
      std::memcpy(y.data() + begin, x.data() + begin, count * sizeof(float));
    });
    each_block([&](size_t begin, size_t count, int64_t b) {
      sums[static_cast<size_t>(b)] += stream_sum_of_two(dy.data() + begin, x.data() + begin, count);
    });
    each_block([&](size_t begin, size_t count, int64_t) {
      stream_add(dy.data() + begin, x.data() + begin, dx.data() + begin, count);
    });
    benchmark::DoNotOptimize(sums.data());
    benchmark::ClobberMemory();
  }
  bandwidth(state, 5);
}
BENCHMARK(bn_four_passes_floor)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void batch_norm_training_forward_backward(benchmark::State& state) {
  const Threads threads(state);
  Generator generator(1);
  const Tensor x = random_normal(kShape, generator, 0.5, 2.0);
  const Tensor dy = random_normal(kShape, generator);
  const Tensor gamma = random_normal({kShape[-1]}, generator, 1.0, 0.1);
  const Tensor beta = random_normal({kShape[-1]}, generator);
  GradientOptions options;
  options.output_gradients = dy;
  for (auto _ : state) {
    GradientTape tape;
    tape.watch(x);
    tape.watch(gamma);
    tape.watch(beta);
    const Tensor y = batch_norm_training(x, gamma, beta).output;
    benchmark::DoNotOptimize(tape.gradient(y, {x, gamma, beta}, options));
  }
  bandwidth(state, 5);
}
BENCHMARK(batch_norm_training_forward_backward)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void batch_norm_inference_forward(benchmark::State& state) {
  const Threads threads(state);
  Generator generator(1);
  const Tensor x = random_normal(kShape, generator);
  const Tensor c = ones({kShape[-1]});
  for (auto _ : state) benchmark::DoNotOptimize(batch_norm(x, c * 0.5, c * 2.0, c, c));
  bandwidth(state, 2);
}
BENCHMARK(batch_norm_inference_forward)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void dropout_forward_backward(benchmark::State& state) {
  const Threads threads(state);
  Generator generator(1);
  const Tensor x = random_normal(kShape, generator);
  const Tensor dy = random_normal(kShape, generator);
  GradientOptions options;
  options.output_gradients = dy;
  for (auto _ : state) {
    GradientTape tape;
    tape.watch(x);
    const Tensor y = dropout(x, 0.5, generator);
    benchmark::DoNotOptimize(tape.gradient(y, x, options));
  }
  bandwidth(state, 6);
}
BENCHMARK(dropout_forward_backward)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// The layers, forward + backward with respect to the input and the trainable variables, in training.
template <typename Make>
void layer_forward_backward(benchmark::State& state, Make make, double tensors) {
  const Threads threads(state);
  Generator generator(1);
  const Tensor x = random_normal(kShape, generator);
  auto layer = make();
  const Tensor probe = (*layer)(x, true);
  const Tensor dy = random_normal(probe.shape(), generator);
  GradientOptions options;
  options.output_gradients = dy;
  for (auto _ : state) {
    GradientTape tape;
    tape.watch(x);
    const Tensor y = (*layer)(x, true);
    std::vector<Source> sources{x};
    for (const Variable& v : layer->trainable_variables()) sources.emplace_back(v);
    benchmark::DoNotOptimize(tape.gradient(y, std::span<const Source>(sources), options));
  }
  bandwidth(state, tensors);
}

void layer_batch_normalization(benchmark::State& state) {
  layer_forward_backward(
      state, [] { return std::make_unique<nn::BatchNormalization>(); }, 5);
}
BENCHMARK(layer_batch_normalization)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void layer_dropout(benchmark::State& state) {
  layer_forward_backward(
      state, [] { return std::make_unique<nn::Dropout>(0.5, 1); }, 6);
}
BENCHMARK(layer_dropout)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Global average pooling reads x and writes dx (its output and dy are tiny).
void layer_global_average_pooling2d(benchmark::State& state) {
  layer_forward_backward(
      state, [] { return std::make_unique<nn::GlobalAveragePooling2D>(); }, 2);
}
BENCHMARK(layer_global_average_pooling2d)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Add of x and x: reads both and writes y; its backward passes dy through to both (no bytes).
void layer_add(benchmark::State& state) {
  const Threads threads(state);
  Generator generator(1);
  const Tensor a = random_normal(kShape, generator), b = random_normal(kShape, generator);
  const Tensor dy = random_normal(kShape, generator);
  nn::Add add;
  GradientOptions options;
  options.output_gradients = dy;
  for (auto _ : state) {
    GradientTape tape;
    tape.watch(a);
    tape.watch(b);
    benchmark::DoNotOptimize(tape.gradient(add({a, b}), {a, b}, options));
  }
  bandwidth(state, 3);
}
BENCHMARK(layer_add)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
