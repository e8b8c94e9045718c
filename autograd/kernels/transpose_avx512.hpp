#pragma once

// A 16 x 16 float transpose in AVX-512 registers, shared by fast_gemm_avx512.cpp and
// fast_conv_direct_avx512.cpp. Compiled for AVX-512 whatever the including file's flags; callers run it
// only on CPUs with AVX-512F.

#include "autograd/kernels/target.hpp"

#include <immintrin.h>

TAPEGRAD_TARGET_PUSH("avx512f,avx512vl,avx2,fma")

// NOTE: GCC 12's unpack and shuffle intrinsics start from _mm512_undefined_ps(), which
// -W(maybe-)uninitialized reports as a use of an uninitialised value; it is not one.
#pragma GCC diagnostic push
#if !defined(__clang__)  // a GCC warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace tapegrad::kernels::simd {
namespace {

// Transposes 16 vectors in place: afterwards r[j] holds lane j of every input, in order.
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
#pragma GCC unroll 2
  for (int i = 0; i < 2; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
      t[8 * i + 4 + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0xdd);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
  }
}

}  // namespace
}  // namespace tapegrad::kernels::simd

#pragma GCC diagnostic pop
TAPEGRAD_TARGET_POP()
