// gemm's AVX-512 micro-kernels: float 14 x 32 and double 14 x 16 for packed A (28 accumulators of the
// 32 zmm registers), and narrow ones for products with few columns that read A in place. The driver
// (fast_gemm.cpp) calls them only on CPUs with AVX-512F and VL.

#include "autograd/kernels/gemm.hpp"
#include "autograd/kernels/target.hpp"
#include "autograd/kernels/transpose_avx512.hpp"

#include <immintrin.h>

#include <cstdint>

// Everything from here to TAPEGRAD_TARGET_POP is compiled for AVX-512, whatever the build's flags. It all has
// internal linkage (anonymous namespace) and uses no std:: templates: an inline function instantiated
// here and shared with other files could be the copy the linker keeps for code that runs on any CPU.
TAPEGRAD_TARGET_PUSH("avx512f,avx512vl,avx2,fma")

namespace tapegrad::kernels::gemm_detail {
namespace {

struct F32x16 {
  using T = float;
  using V = __m512;
  static constexpr int kLanes = 16;
  static __mmask16 mask(int n) { return static_cast<__mmask16>((1u << n) - 1); }
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const T* p) { return _mm512_loadu_ps(p); }
  static V load(const T* p, int n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static void store(T* p, V v) { _mm512_storeu_ps(p, v); }
  static void store(T* p, V v, int n) { _mm512_mask_storeu_ps(p, mask(n), v); }
  static V broadcast(const T* p) { return _mm512_set1_ps(*p); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
};

struct F64x8 {
  using T = double;
  using V = __m512d;
  static constexpr int kLanes = 8;
  static __mmask8 mask(int n) { return static_cast<__mmask8>((1u << n) - 1); }
  static V zero() { return _mm512_setzero_pd(); }
  static V load(const T* p) { return _mm512_loadu_pd(p); }
  static V load(const T* p, int n) { return _mm512_maskz_loadu_pd(mask(n), p); }
  static void store(T* p, V v) { _mm512_storeu_pd(p, v); }
  static void store(T* p, V v, int n) { _mm512_mask_storeu_pd(p, mask(n), v); }
  static V broadcast(const T* p) { return _mm512_set1_pd(*p); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
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

// NOTE: GCC 12's unpack and shuffle intrinsics start from _mm512_undefined_ps(), which
// -Wmaybe-uninitialized reports as a use of an uninitialised value; it is not one.
#pragma GCC diagnostic push
#if !defined(__clang__)  // a GCC warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// A row-major A's rows x depth block into panels of kMR (<= 16) rows, 16 x 16 blocks at a time through
// registers: a transpose, where scalar copies would do a load and a store per value.
template <int kMR>
void pack_a_f32(const float* a, int64_t lda, int64_t rows, int64_t depth, float* dst) {
  static_assert(kMR <= 16);
  for (int64_t i = 0; i < rows; i += kMR) {
    const int height = rows - i < kMR ? static_cast<int>(rows - i) : kMR;
    const __mmask16 row_mask = F32x16::mask(height);
    const float* src = a + i * lda;
    float* panel = dst + i * depth;
    for (int64_t p = 0; p < depth; p += 16) {
      const int width = depth - p < 16 ? static_cast<int>(depth - p) : 16;
      __m512 r[16];
#pragma GCC unroll 16
      for (int q = 0; q < 16; ++q) {
        if (q >= height) {
          r[q] = _mm512_setzero_ps();
        } else {
          r[q] = width == 16 ? F32x16::load(src + q * lda + p) : F32x16::load(src + q * lda + p, width);
        }
      }
      simd::transpose16(r);
      for (int j = 0; j < width; ++j) _mm512_mask_storeu_ps(panel + (p + j) * kMR, row_mask, r[j]);
    }
  }
}

#pragma GCC diagnostic pop

}  // namespace
}  // namespace tapegrad::kernels::gemm_detail

TAPEGRAD_TARGET_POP()

namespace tapegrad::kernels::gemm_detail {

template <>
const Kernels<float>& avx512_kernels<float>() {
  static const Kernels<float> kernels{
      .wide = {14, 32, &run<F32x16, 14, 2>, &pack_b<F32x16, 2>, &pack_a_f32<14>},
      .narrow = {{12, 16, &run<F32x16, 12, 1>, &pack_b<F32x16, 1>}, {8, 32, &run<F32x16, 8, 2>, &pack_b<F32x16, 2>}},
  };
  return kernels;
}

template <>
const Kernels<double>& avx512_kernels<double>() {
  static const Kernels<double> kernels{
      .wide = {14, 16, &run<F64x8, 14, 2>, &pack_b<F64x8, 2>},
      .narrow = {{12, 8, &run<F64x8, 12, 1>, &pack_b<F64x8, 1>}, {8, 16, &run<F64x8, 8, 2>, &pack_b<F64x8, 2>}},
  };
  return kernels;
}

}  // namespace tapegrad::kernels::gemm_detail
