// gemm's AVX2 + FMA micro-kernels: float 6 x 16 and double 6 x 8 for packed A (12 accumulators of the
// 16 ymm registers), and narrow ones for products with few columns that read A in place. The driver
// (fast_gemm.cpp) calls them only on CPUs with AVX2 and FMA.

#include "autograd/kernels/gemm.hpp"
#include "autograd/kernels/target.hpp"

#include <immintrin.h>

#include <cstdint>

// Everything from here to TAPEGRAD_TARGET_POP is compiled for AVX2 and FMA, whatever the build's flags. It all
// has internal linkage (anonymous namespace) and uses no std:: templates: an inline function
// instantiated here and shared with other files could be the copy the linker keeps for code that runs on
// any CPU.
TAPEGRAD_TARGET_PUSH("avx2,fma")

namespace tapegrad::kernels::gemm_detail {
namespace {

struct F32x8 {
  using T = float;
  using V = __m256;
  static constexpr int kLanes = 8;
  // Lanes below n set (the sign bit is what maskload and maskstore look at).
  static __m256i mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
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

// One tile of C, kMR rows x (kNV vectors): acc = C or 0, then acc = fma(a(r, p), b(p, :), acc) for p in
// order, then back to C. Only the first `cols` columns of C are touched.
template <class VT, int kMR, int kNV, bool kRowMajorA>
__attribute__((always_inline)) inline void tile(int64_t depth, const typename VT::T* a, int64_t a_stride,
                                                const typename VT::T* b, typename VT::T* c, int64_t ldc, int cols,
                                                bool load_c) {
  using V = typename VT::V;
  constexpr int kW = VT::kLanes, kNR = kW * kNV;
  V acc[kMR][kNV];
#pragma GCC unroll 16
  for (int r = 0; r < kMR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) {
      const int lanes = cols - v * kW;
      if (!load_c || lanes <= 0) {
        acc[r][v] = VT::zero();
      } else {
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
#pragma GCC unroll 16
  for (int r = 0; r < kMR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) {
      const int lanes = cols - v * kW;
      if (lanes >= kW) {
        VT::store(c + r * ldc + v * kW, acc[r][v]);
      } else if (lanes > 0) {
        VT::store(c + r * ldc + v * kW, acc[r][v], lanes);
      }
    }
  }
}

// The rows of a last, partial row tile (fewer than kMR) in tiles of 8, 4, 2 and 1 rows.
template <class VT, int kMR, int kNV, bool kRowMajorA>
void edge_rows(int rows, int64_t depth, const typename VT::T* a, int64_t a_stride, const typename VT::T* b,
               typename VT::T* c, int64_t ldc, int cols, bool load_c) {
  const auto at = [&](int r) { return kRowMajorA ? a + r * a_stride : a + r; };
  int r = 0;
  if constexpr (kMR > 8) {
    if (rows - r >= 8) {
      tile<VT, 8, kNV, kRowMajorA>(depth, at(r), a_stride, b, c + r * ldc, ldc, cols, load_c);
      r += 8;
    }
  }
  if constexpr (kMR > 4) {
    if (rows - r >= 4) {
      tile<VT, 4, kNV, kRowMajorA>(depth, at(r), a_stride, b, c + r * ldc, ldc, cols, load_c);
      r += 4;
    }
  }
  if (rows - r >= 2) {
    tile<VT, 2, kNV, kRowMajorA>(depth, at(r), a_stride, b, c + r * ldc, ldc, cols, load_c);
    r += 2;
  }
  if (rows - r >= 1) tile<VT, 1, kNV, kRowMajorA>(depth, at(r), a_stride, b, c + r * ldc, ldc, cols, load_c);
}

// Every tile of a block: row tiles outer (A's kMR x depth panel stays in L1), column panels inner.
template <class VT, int kMR, int kNV, bool kRowMajorA>
void run_tiles(const Block<typename VT::T>& block) {
  using T = typename VT::T;
  constexpr int kNR = VT::kLanes * kNV;
  for (int64_t i = 0, t = 0; i < block.rows; i += kMR, ++t) {
    const T* a = block.a + t * block.a_tile;
    const int64_t rows = block.rows - i;
    for (int64_t j = 0; j < block.cols; j += kNR) {
      const int cols = block.cols - j < kNR ? static_cast<int>(block.cols - j) : kNR;
      const T* b = block.b + j * block.depth;
      T* c = block.c + i * block.ldc + j;
      if (rows >= kMR) {
        tile<VT, kMR, kNV, kRowMajorA>(block.depth, a, block.a_stride, b, c, block.ldc, cols, block.load_c);
      } else {
        edge_rows<VT, kMR, kNV, kRowMajorA>(static_cast<int>(rows), block.depth, a, block.a_stride, b, c, block.ldc,
                                            cols, block.load_c);
      }
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

// A row-major B's depth x cols block into zero-padded panels of kNV vectors: a vector load and store
// for every kLanes values.
template <class VT, int kNV>
void pack_b(const typename VT::T* b, int64_t ldb, int64_t depth, int64_t cols, typename VT::T* dst) {
  constexpr int kW = VT::kLanes, kNR = kW * kNV;
  for (int64_t p = 0; p < depth; ++p) {
    const typename VT::T* row = b + p * ldb;
    for (int64_t j = 0; j < cols; j += kNR) {
      typename VT::T* out = dst + j * depth + p * kNR;
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v) {
        const int64_t lanes = cols - j - v * kW;
        if (lanes >= kW) {
          VT::store(out + v * kW, VT::load(row + j + v * kW));
        } else {
          VT::store(out + v * kW, lanes > 0 ? VT::load(row + j + v * kW, static_cast<int>(lanes)) : VT::zero());
        }
      }
    }
  }
}

}  // namespace
}  // namespace tapegrad::kernels::gemm_detail

TAPEGRAD_TARGET_POP()

namespace tapegrad::kernels::gemm_detail {

template <>
const Kernels<float>& avx2_kernels<float>() {
  static const Kernels<float> kernels{
      .wide = {6, 16, &run<F32x8, 6, 2>, &pack_b<F32x8, 2>},
      .narrow = {{12, 8, &run<F32x8, 12, 1>, &pack_b<F32x8, 1>}, {6, 16, &run<F32x8, 6, 2>, &pack_b<F32x8, 2>}},
  };
  return kernels;
}

template <>
const Kernels<double>& avx2_kernels<double>() {
  static const Kernels<double> kernels{
      .wide = {6, 8, &run<F64x4, 6, 2>, &pack_b<F64x4, 2>},
      .narrow = {{12, 4, &run<F64x4, 12, 1>, &pack_b<F64x4, 1>}, {6, 8, &run<F64x4, 6, 2>, &pack_b<F64x4, 2>}},
  };
  return kernels;
}

}  // namespace tapegrad::kernels::gemm_detail
