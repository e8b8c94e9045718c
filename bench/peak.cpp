// The machine's own yardsticks: single-precision FMA peak (1 thread and every thread) and memory
// bandwidth. Every other figure of the suite is read as a fraction of these, measured in the same run.

#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <ctime>
#include <thread>
#include <vector>

namespace {

// Enough independent accumulators to cover FMA latency times throughput on current x86 cores.
constexpr int kAccumulators = 12;

__attribute__((target("avx512f"))) float fma_loop_avx512(int64_t iterations) {
  __m512 acc[kAccumulators];
  for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm512_set1_ps(static_cast<float>(k));
  const __m512 scale = _mm512_set1_ps(0.999999f), shift = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16  // NOTE: unrolled, the accumulators live in registers; at -O2 a loop keeps them in memory
    for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm512_fmadd_ps(acc[k], scale, shift);
  }
  __m512 total = acc[0];
  for (int k = 1; k < kAccumulators; ++k) total = _mm512_add_ps(total, acc[k]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, total);
  float sum = 0;
  for (float v : lanes) sum += v;
  return sum;
}

__attribute__((target("avx2,fma"))) float fma_loop_avx2(int64_t iterations) {
  __m256 acc[kAccumulators];
  for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm256_set1_ps(static_cast<float>(k));
  const __m256 scale = _mm256_set1_ps(0.999999f), shift = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm256_fmadd_ps(acc[k], scale, shift);
  }
  __m256 total = acc[0];
  for (int k = 1; k < kAccumulators; ++k) total = _mm256_add_ps(total, acc[k]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, total);
  float sum = 0;
  for (float v : lanes) sum += v;
  return sum;
}

float fma_loop_sse(int64_t iterations) {
  __m128 acc[kAccumulators];
  for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm_set1_ps(static_cast<float>(k));
  const __m128 scale = _mm_set1_ps(0.999999f), shift = _mm_set1_ps(1e-7f);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm_add_ps(_mm_mul_ps(acc[k], scale), shift);
  }
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, acc[0]);
  return lanes[0];
}

// Runs the widest loop this CPU has; returns the flops it did.
double fma_loop(int64_t iterations) {
  if (__builtin_cpu_supports("avx512f")) {
    benchmark::DoNotOptimize(fma_loop_avx512(iterations));
    return static_cast<double>(iterations) * kAccumulators * 16 * 2;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    benchmark::DoNotOptimize(fma_loop_avx2(iterations));
    return static_cast<double>(iterations) * kAccumulators * 8 * 2;
  }
  benchmark::DoNotOptimize(fma_loop_sse(iterations));
  return static_cast<double>(iterations) * kAccumulators * 4 * 2;
}

constexpr int64_t kIterations = 1 << 22;

// The process's CPU seconds (all threads): the 1-thread figures per CPU second hold on a busy host,
// where another program's share of the core stretches wall time but not this one's CPU time.
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

void peak_fma_1_thread(benchmark::State& state) {
  double flops = 0;
  const double cpu_start = cpu_seconds();
  for (auto _ : state) flops += fma_loop(kIterations);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsRate);
  state.counters["cpu_GFLOP/s"] = flops * 1e-9 / (cpu_seconds() - cpu_start);
}
BENCHMARK(peak_fma_1_thread)->Unit(benchmark::kMillisecond)->UseRealTime();

void peak_fma_all_threads(benchmark::State& state) {
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  double flops = 0;
  for (auto _ : state) {
    std::vector<std::thread> workers;
    std::vector<double> done(threads);
    for (unsigned t = 0; t < threads; ++t) workers.emplace_back([&, t] { done[t] = fma_loop(kIterations); });
    for (auto& w : workers) w.join();
    for (double d : done) flops += d;
  }
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsRate);
  state.counters["threads"] = threads;
}
BENCHMARK(peak_fma_all_threads)->Unit(benchmark::kMillisecond)->UseRealTime();

void peak_memory_bandwidth(benchmark::State& state) {
  // 64 MiB each way, far past every cache; touched once before timing (first touch is slow here).
  const size_t bytes = size_t{64} << 20;
  std::vector<char> from(bytes, 1), to(bytes, 0);
  const double cpu_start = cpu_seconds();
  for (auto _ : state) {
    std::memcpy(to.data(), from.data(), bytes);
    benchmark::ClobberMemory();
  }
  state.counters["cpu_GB/s"] =
      2.0 * bytes * 1e-9 * static_cast<double>(state.iterations()) / (cpu_seconds() - cpu_start);
  // A copy reads and writes every byte.
  state.counters["GB/s"] =
      benchmark::Counter(2.0 * bytes * 1e-9 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(peak_memory_bandwidth)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
