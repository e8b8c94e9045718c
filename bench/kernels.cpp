// Kernel speed: conv2d forward and backward, and matmul, in GFLOP/s, on 1 and on 2 threads (the
// targets are ratios to the 1-thread FMA peak, and 2 threads to 1).

#include <tapegrad/tapegrad.hpp>
#include "autograd/kernels/gemm.hpp"

#include <benchmark/benchmark.h>

#ifdef TAPEGRAD_BENCH_OPENBLAS
#include <cblas.h>
#endif

#include <vector>

namespace {

using namespace tapegrad;

struct ConvCase {
  int64_t batch, in_channels, out_channels, size, kernel;
  bool same;
};

// The shapes of issue 5's targets: a mid-sized layer, LeNet's two layers, one big single-channel image.
constexpr ConvCase kConvCases[] = {
    {32, 16, 32, 28, 3, true},
    {64, 1, 6, 28, 5, true},
    {64, 6, 16, 14, 5, false},
    {1, 1, 1, 256, 3, false},
};

double conv_flops(const ConvCase& c, const Shape& out) {
  return 2.0 * static_cast<double>(c.batch * out[1] * out[2] * c.out_channels * c.kernel * c.kernel * c.in_channels);
}

void conv_label(benchmark::State& state, const ConvCase& c) {
  state.SetLabel(fmt::format("N={} {}->{} {}x{} {}x{} {}", c.batch, c.in_channels, c.out_channels, c.size, c.size,
                             c.kernel, c.kernel, c.same ? "same" : "valid"));
}

// The runs of the conv2d and matmul benchmarks: every case (or size) on 1 and on 2 threads, timed in
// milliseconds of wall time.
void conv_runs(benchmark::internal::Benchmark* b) {
  b->ArgsProduct({benchmark::CreateDenseRange(0, 3, 1), {1, 2}})
      ->ArgNames({"case", "threads"})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
}
void matmul_runs(benchmark::internal::Benchmark* b) {
  b->ArgsProduct({{512, 1024}, {1, 2}})->ArgNames({"n", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

// Runs kernels on `threads` threads while alive (the benchmark's second argument), then restores the count.
class ThreadCount {
 public:
  explicit ThreadCount(benchmark::State& state) : before_(num_threads()) {
    const int threads = static_cast<int>(state.range(1));
    set_num_threads(threads);
    state.counters["threads"] = threads;
  }
  ~ThreadCount() { set_num_threads(before_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int before_;
};

void conv2d_forward(benchmark::State& state) {
  const ThreadCount threads(state);
  const ConvCase& c = kConvCases[state.range(0)];
  Generator generator(1);
  const Tensor x = random_normal({c.batch, c.size, c.size, c.in_channels}, generator);
  const Tensor w = random_normal({c.kernel, c.kernel, c.in_channels, c.out_channels}, generator);
  const Conv2DOptions options{.padding = c.same ? Padding::same() : Padding::valid()};
  Shape out;
  for (auto _ : state) out = conv2d(x, w, options).shape();
  conv_label(state, c);
  state.counters["GFLOP/s"] = benchmark::Counter(conv_flops(c, out) * 1e-9 * static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate);
}
BENCHMARK(conv2d_forward)->Apply(conv_runs);

// Input and kernel gradients: two passes of the forward's flops.
void conv2d_backward(benchmark::State& state) {
  const ThreadCount threads(state);
  const ConvCase& c = kConvCases[state.range(0)];
  Generator generator(1);
  const Tensor x = random_normal({c.batch, c.size, c.size, c.in_channels}, generator);
  const Tensor w = random_normal({c.kernel, c.kernel, c.in_channels, c.out_channels}, generator);
  const Conv2DOptions options{.padding = c.same ? Padding::same() : Padding::valid()};
  const Tensor dy = ones_like(conv2d(x, w, options));
  for (auto _ : state) {
    benchmark::DoNotOptimize(conv2d_backprop_input(dy, w, x.shape(), options));
    benchmark::DoNotOptimize(conv2d_backprop_filter(x, dy, w.shape(), options));
  }
  conv_label(state, c);
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * conv_flops(c, dy.shape()) * 1e-9 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(conv2d_backward)->Apply(conv_runs);

void matmul_square(benchmark::State& state) {
  const ThreadCount threads(state);
  const int64_t n = state.range(0);
  Generator generator(1);
  const Tensor a = random_normal({n, n}, generator), b = random_normal({n, n}, generator);
  for (auto _ : state) benchmark::DoNotOptimize(matmul(a, b));
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * static_cast<double>(n * n * n) * 1e-9 * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}
BENCHMARK(matmul_square)->Apply(matmul_runs);

// The same product with tapegrad's AVX2 kernel: what a CPU without AVX-512 gets, next to OpenBLAS.
void matmul_square_avx2(benchmark::State& state) {
  if (!kernels::gemm_isa_supported(kernels::GemmIsa::avx2)) {
    state.SkipWithError("this CPU has no AVX2");
    return;
  }
  kernels::force_gemm_isa(kernels::GemmIsa::avx2);
  matmul_square(state);
  kernels::force_gemm_isa(kernels::GemmIsa::automatic);
}
BENCHMARK(matmul_square_avx2)->Apply(matmul_runs);

#ifdef TAPEGRAD_BENCH_OPENBLAS
// The same float32 product through OpenBLAS's cblas_sgemm (Debian's libopenblas-dev, when meson finds
// it): issue 5 asks for a BLAS wherever it beats tapegrad's own kernel, so the table shows both.
void matmul_square_openblas(benchmark::State& state) {
  const int64_t n = state.range(0);
  const int threads = static_cast<int>(state.range(1));
  openblas_set_num_threads(threads);
  state.counters["threads"] = threads;
  Generator generator(1);
  const Tensor a = random_normal({n, n}, generator), b = random_normal({n, n}, generator);
  std::vector<float> c(static_cast<size_t>(n * n));
  const auto size = static_cast<int>(n);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, size, size, size, 1.0f, a.data<float>().data(), size,
                b.data<float>().data(), size, 0.0f, c.data(), size);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * static_cast<double>(n * n * n) * 1e-9 * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
  state.SetLabel(openblas_get_corename());
}
BENCHMARK(matmul_square_openblas)->Apply(matmul_runs);
#endif

}  // namespace
