// Framework overhead: the book's kernel-learning loop against the same arithmetic as plain loops,
// and one-element ops through a tape.

#include <tapegrad/tapegrad.hpp>

#include <benchmark/benchmark.h>

#include <array>
#include <cmath>

namespace {

using namespace tapegrad;

constexpr int kEpochs = 10;
constexpr double kLearningRate = 0.03;

// The book's 6x8 image X with a dark band, and its edges Y under the kernel [1, -1].
struct BookImages {
  Tensor X = ones({6, 8}).with({all, {2, 6}}, 0);
  Tensor Y = corr2d(X, Tensor({1, -1}, {1, 2}));
};

// examples/learn_kernel's loop: corr2d, |Y_hat - Y|^2, the tape's gradient, a manual update.
void d2l_loop_tapegrad(benchmark::State& state) {
  const auto [X, Y] = BookImages{};
  for (auto _ : state) {
    Variable kernel(Tensor({0.3, 0.7}, {1, 2}), "kernel");
    for (int epoch = 0; epoch < kEpochs; ++epoch) {
      GradientTape tape({.watch_accessed_variables = false});
      tape.watch(kernel);
      const Tensor loss = pow(abs(corr2d(X, kernel) - Y), 2);
      kernel.assign(kernel.value() - kLearningRate * tape.gradient(loss, kernel));
    }
    benchmark::DoNotOptimize(kernel.value().flat(0));
  }
}
BENCHMARK(d2l_loop_tapegrad)->Unit(benchmark::kMicrosecond);

// d|corr2d(X, k) - Y|^2 / dk written out with the ops the tape's backward sweep runs; `loss` gets
// the loss.
Tensor gradient_by_hand(const Tensor& X, const Tensor& Y, const Tensor& k, const Tensor& seed, Tensor& loss) {
  const Tensor diff = corr2d(X, k) - Y;
  const Tensor magnitude = abs(diff);
  loss = pow(magnitude, 2);
  return corr2d(X, abs_backprop(pow_backprop(seed, magnitude, 2), diff));
}

// The same ten steps through the same tapegrad ops, with the gradient written out by hand and no
// tape: what the tensors alone cost.
void d2l_loop_untaped(benchmark::State& state) {
  const auto [X, Y] = BookImages{};
  const Tensor seed = ones(Y.shape());  // as the tape, which keeps its seed from one step to the next
  Tensor loss;
  {
    Variable kernel(Tensor({0.3, 0.7}, {1, 2}), "kernel");
    GradientTape tape;
    const Tensor by_tape = tape.gradient(pow(abs(corr2d(X, kernel) - Y), 2), kernel);
    if (gradient_by_hand(X, Y, kernel.value(), seed, loss).to_vector() != by_tape.to_vector()) {
      state.SkipWithError("the gradient by hand differs from the tape's");
      return;
    }
  }
  for (auto _ : state) {
    Variable kernel(Tensor({0.3, 0.7}, {1, 2}), "kernel");
    for (int epoch = 0; epoch < kEpochs; ++epoch) {
      kernel.assign(kernel.value() - kLearningRate * gradient_by_hand(X, Y, kernel.value(), seed, loss));
      benchmark::DoNotOptimize(loss);
    }
    benchmark::DoNotOptimize(kernel.value().flat(0));
  }
}
BENCHMARK(d2l_loop_untaped)->Unit(benchmark::kMicrosecond);

// The same ten steps, written by hand: no tensors, no tape.
void d2l_loop_plain(benchmark::State& state) {
  float X[6][8], Y[6][7];
  for (auto& row : X)
    for (int j = 0; j < 8; ++j) row[j] = (j >= 2 && j < 6) ? 0.0f : 1.0f;
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 7; ++j) Y[i][j] = X[i][j] - X[i][j + 1];
  for (auto _ : state) {
    std::array<float, 2> k{0.3f, 0.7f};
    for (int epoch = 0; epoch < kEpochs; ++epoch) {
      std::array<float, 2> grad{0.0f, 0.0f};
      for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 7; ++j) {
          const float diff = X[i][j] * k[0] + X[i][j + 1] * k[1] - Y[i][j];
          // d|d|^2/dd = 2 |d| sign(d) = 2 d
          grad[0] += 2.0f * diff * X[i][j];
          grad[1] += 2.0f * diff * X[i][j + 1];
        }
      k[0] -= static_cast<float>(kLearningRate) * grad[0];
      k[1] -= static_cast<float>(kLearningRate) * grad[1];
    }
    benchmark::DoNotOptimize(k);
  }
}
BENCHMARK(d2l_loop_plain)->Unit(benchmark::kMicrosecond);

// One-element a + b, forward and backward through a tape.
void op_overhead_add(benchmark::State& state) {
  const Tensor a = Tensor::scalar(1.5), b = Tensor::scalar(2.5);
  for (auto _ : state) {
    GradientTape tape;
    tape.watch(a);
    const Tensor c = a + b;
    benchmark::DoNotOptimize(tape.gradient(c, a));
  }
}
BENCHMARK(op_overhead_add)->Unit(benchmark::kNanosecond);

// A chain of 100 one-element adds, forward and backward.
void op_overhead_chain_100(benchmark::State& state) {
  const Tensor a = Tensor::scalar(1.5), b = Tensor::scalar(0.5);
  for (auto _ : state) {
    GradientTape tape;
    tape.watch(a);
    Tensor c = a;
    for (int i = 0; i < 100; ++i) c = c + b;
    benchmark::DoNotOptimize(tape.gradient(c, a));
  }
  state.counters["ns/op"] = benchmark::Counter(100.0 * static_cast<double>(state.iterations()),
                                               benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(op_overhead_chain_100)->Unit(benchmark::kMicrosecond);

}  // namespace
