// The matrix-multiply kernel alone (kernels::gemm), in GFLOP/s (2*m*n*k per product): square products
// on 1 and 2 threads, and the shapes conv2d's im2col gives LeNet-like layers (many rows, few columns,
// short depth), forward and the two backward products.

#include "autograd/kernels/gemm.hpp"
#include <tapegrad/autograd/threads.hpp>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdint>
#include <random>
#include <vector>

namespace {

using namespace tapegrad;

struct GemmCase {
  bool transpose_a, transpose_b;
  int64_t m, n, k;
  const char* what;
};

constexpr GemmCase kGemmCases[] = {
    {false, false, 512, 512, 512, "square"},
    {false, false, 1024, 1024, 1024, "square"},
    // im2col forward: (N*Ho*Wo) x (kh*kw*Cin) times (kh*kw*Cin) x Cout.
    {false, false, 64 * 28 * 28, 6, 25, "N=64 1->6 28x28 5x5 forward"},
    {false, false, 64 * 10 * 10, 16, 150, "N=64 6->16 14x14 5x5 valid forward"},
    {false, false, 32 * 28 * 28, 32, 144, "N=32 16->32 28x28 3x3 forward"},
    // Their backward products: kernel gradient cols^T dY, input gradient dY W^T.
    {true, false, 25, 6, 64 * 28 * 28, "N=64 1->6 5x5 kernel gradient"},
    {false, true, 64 * 28 * 28, 25, 6, "N=64 1->6 5x5 input gradient"},
    {true, false, 144, 32, 32 * 28 * 28, "N=32 16->32 3x3 kernel gradient"},
    {false, true, 32 * 28 * 28, 144, 32, "N=32 16->32 3x3 input gradient"},
};

template <typename T>
void gemm_case(benchmark::State& state) {
  const GemmCase& g = kGemmCases[state.range(0)];
  const int threads = static_cast<int>(state.range(1));
  std::mt19937 generator(1);
  std::uniform_real_distribution<T> uniform(-1, 1);
  std::vector<T> a(static_cast<size_t>(g.m * g.k)), b(static_cast<size_t>(g.k * g.n)),
      c(static_cast<size_t>(g.m * g.n));
  for (T& v : a) v = uniform(generator);
  for (T& v : b) v = uniform(generator);
  const int64_t lda = g.transpose_a ? g.m : g.k, ldb = g.transpose_b ? g.k : g.n;
  const int before = num_threads();
  set_num_threads(threads);
  for (auto _ : state) {
    kernels::gemm(g.transpose_a, g.transpose_b, g.m, g.n, g.k, a.data(), lda, b.data(), ldb, c.data(), g.n, false);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_num_threads(before);
  state.SetLabel(fmt::format("{}x{}x{}{}{} {} {} threads={}", g.m, g.n, g.k, g.transpose_a ? " A^T" : "",
                             g.transpose_b ? " B^T" : "", g.what, kernels::gemm_isa_name(kernels::gemm_isa()),
                             threads));
  const double flops = 2.0 * static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void gemm_float(benchmark::State& state) { gemm_case<float>(state); }
BENCHMARK(gemm_float)
    ->ArgsProduct({benchmark::CreateDenseRange(0, 8, 1), {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void gemm_double(benchmark::State& state) { gemm_case<double>(state); }
BENCHMARK(gemm_double)->ArgsProduct({{0, 1}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
