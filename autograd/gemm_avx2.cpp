// gemm's AVX2 + FMA micro-kernels: float 6 x 16 and double 6 x 8 for packed A (12 accumulators of the
// 16 ymm registers), and narrow ones for products with few columns that read A in place. The driver
// (gemm.cpp) calls them only on CPUs with AVX2 and FMA.

#include "autograd/gemm.hpp"

#include <immintrin.h>

#include <cstdint>

// Everything from here to pop_options is compiled for AVX2 and FMA, whatever the build's flags. It all
// has internal linkage (anonymous namespace) and uses no std:: templates: an inline function
// instantiated here and shared with other files could be the copy the linker keeps for code that runs on
// any CPU.
#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace tapegrad::kernels::gemm_detail {
namespace {

struct F32x8 {
  using T = float;
  using V = __m256;
  static constexpr int kLanes = 8;
  // Lanes below n set (the sign bit is what maskload and maskstore look at).
  static __m256i mask(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const T* p) { return _mm256_loadu_ps(p); }
  static V load(const T* p, int n) { return _mm256_maskload_ps(p, mask(n)); }
  static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
  static void store(T* p, V v, int n) { _mm256_maskstore_ps(p, mask(n), v); }
  static V broadcast(const T* p) { return _mm256_set1_ps(*p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
};

struct F64x4 {
  using T = double;
  using V = __m256d;
  static constexpr int kLanes = 4;
  static __m256i mask(int n) { return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)); }
  static V zero() { return _mm256_setzero_pd(); }
  static V load(const T* p) { return _mm256_loadu_pd(p); }
  static V load(const T* p, int n) { return _mm256_maskload_pd(p, mask(n)); }
  static void store(T* p, V v) { _mm256_storeu_pd(p, v); }
  static void store(T* p, V v, int n) { _mm256_maskstore_pd(p, mask(n), v); }
  static V broadcast(const T* p) { return _mm256_set1_pd(*p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
};

// One tile of C, kMR x (kNV vectors): acc = C or 0, then acc = fma(a(r, p), b(p, :), acc) for p in
// order, then back to C. Only the first `rows` rows and `cols` columns of C are touched.
template <class VT, int kMR, int kNV, bool kRowMajorA>
__attribute__((always_inline)) inline void tile(int64_t depth, const typename VT::T* a, int64_t a_stride,
                                                const typename VT::T* b, typename VT::T* c, int64_t ldc, int rows,
                                                int cols, bool load_c) {
  using V = typename VT::V;
  constexpr int kW = VT::kLanes, kNR = kW * kNV;
  const bool full = rows == kMR && cols == kNR;
  V acc[kMR][kNV];
#pragma GCC unroll 16
  for (int r = 0; r < kMR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) acc[r][v] = VT::zero();
  }
  if (load_c && full) {
#pragma GCC unroll 16
    for (int r = 0; r < kMR; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v) acc[r][v] = VT::load(c + r * ldc + v * kW);
    }
  } else if (load_c) {
#pragma GCC unroll 16
    for (int r = 0; r < kMR; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v) {
        const int lanes = cols - v * kW;
        if (r >= rows || lanes <= 0) continue;
        acc[r][v] = lanes >= kW ? VT::load(c + r * ldc + v * kW) : VT::load(c + r * ldc + v * kW, lanes);
      }
    }
  }
  for (int64_t p = 0; p < depth; ++p) {
    V bv[kNV];
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) bv[v] = VT::load(b + p * kNR + v * kW);
#pragma GCC unroll 16
    for (int r = 0; r < kMR; ++r) {
      const V av = VT::broadcast(kRowMajorA ? a + r * a_stride + p : a + p * a_stride + r);
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v) acc[r][v] = VT::fma(av, bv[v], acc[r][v]);
    }
  }
  if (full) {
#pragma GCC unroll 16
    for (int r = 0; r < kMR; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v) VT::store(c + r * ldc + v * kW, acc[r][v]);
    }
  } else {
#pragma GCC unroll 16
    for (int r = 0; r < kMR; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v) {
        const int lanes = cols - v * kW;
        if (r >= rows || lanes <= 0) continue;
        if (lanes >= kW) {
          VT::store(c + r * ldc + v * kW, acc[r][v]);
        } else {
          VT::store(c + r * ldc + v * kW, acc[r][v], lanes);
        }
      }
    }
  }
}

// Every tile of a block: row tiles outer (A's kMR x depth panel stays in L1), column panels inner.
template <class VT, int kMR, int kNV, bool kRowMajorA>
void run_tiles(const Block<typename VT::T>& block) {
  using T = typename VT::T;
  constexpr int kNR = VT::kLanes * kNV;
  for (int64_t i = 0, t = 0; i < block.rows; i += kMR, ++t) {
    const T* a = block.a + t * block.a_tile;
    const int rows = block.rows - i < kMR ? static_cast<int>(block.rows - i) : kMR;
    for (int64_t j = 0; j < block.cols; j += kNR) {
      const int cols = block.cols - j < kNR ? static_cast<int>(block.cols - j) : kNR;
      tile<VT, kMR, kNV, kRowMajorA>(block.depth, a, block.a_stride, block.b + j * block.depth,
                                     block.c + i * block.ldc + j, block.ldc, rows, cols, block.load_c);
    }
  }
}

template <class VT, int kMR, int kNV>
void run(const Block<typename VT::T>& block) {
  if (block.a_row_major) {
    run_tiles<VT, kMR, kNV, true>(block);
  } else {
    run_tiles<VT, kMR, kNV, false>(block);
  }
}

}  // namespace
}  // namespace tapegrad::kernels::gemm_detail

#pragma GCC pop_options

namespace tapegrad::kernels::gemm_detail {

template <>
const Kernels<float>& avx2_kernels<float>() {
  static const Kernels<float> kernels{
      .wide = {6, 16, &run<F32x8, 6, 2>},
      .narrow = {{12, 8, &run<F32x8, 12, 1>}, {6, 16, &run<F32x8, 6, 2>}},
  };
  return kernels;
}

template <>
const Kernels<double>& avx2_kernels<double>() {
  static const Kernels<double> kernels{
      .wide = {6, 8, &run<F64x4, 6, 2>},
      .narrow = {{12, 4, &run<F64x4, 12, 1>}, {6, 8, &run<F64x4, 6, 2>}},
  };
  return kernels;
}

}  // namespace tapegrad::kernels::gemm_detail
