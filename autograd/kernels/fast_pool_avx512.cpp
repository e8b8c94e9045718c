// Average pooling's AVX-512 loop over tiling windows (see pool_tiles.hpp): the outputs of whole windows
// in a vector, their inputs gathered from the row's floats by one permute per window pixel. The driver
// (fast_pool.cpp) calls them only on CPUs with AVX-512F.

#include "autograd/kernels/pool_tiles.hpp"
#include "autograd/kernels/target.hpp"

#include <immintrin.h>

#include <cstdint>

// Everything from here to TAPEGRAD_TARGET_POP is compiled for AVX-512, whatever the build's flags; internal
// linkage and no std:: templates, as in fast_gemm_avx512.cpp.
TAPEGRAD_TARGET_PUSH("avx512f,avx512vl,avx2,fma")

namespace tapegrad::kernels::pool_tiles {
namespace {

// The first `lanes` lanes: none for 0 or fewer, all for 16 or more.
__mmask16 first_lanes(int64_t lanes) {
  if (lanes <= 0) return 0;
  return lanes >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << lanes) - 1);
}

// Lane l = w * channels + ch (w < windows) of a vector: the offset of channel ch of pixel w * kernel_width
// from the first window's first pixel. Lanes past the windows read that pixel (their results are dropped).
__m512i window_offsets(int64_t windows, int64_t channels, int64_t kernel_width) {
  alignas(64) int32_t lanes[16];
  for (int64_t l = 0; l < 16; ++l) {
    const int64_t w = l / channels, ch = l % channels;
    lanes[l] = w < windows ? static_cast<int32_t>(w * kernel_width * channels + ch) : 0;
  }
  return _mm512_load_si512(lanes);
}

}  // namespace

bool average_takes(int64_t channels, int64_t kernel_width) {
  return channels >= 1 && channels <= 16 && kernel_width >= 1 && 16 / channels * kernel_width * channels <= 32;
}

void average_row(const float* window_rows, int64_t in_row, int64_t kernel_height, int64_t kernel_width,
                 int64_t channels, int64_t out_width, float* out) {
  const int64_t windows = 16 / channels, window_floats = kernel_width * channels;
  const __m512i first_pixel = window_offsets(windows, channels, kernel_width);
  const __m512 count = _mm512_set1_ps(static_cast<float>(kernel_height * kernel_width));
  for (int64_t ow = 0; ow < out_width; ow += windows) {
    const int64_t taken = out_width - ow < windows ? out_width - ow : windows;
    // The windows' floats in each row, 32 at most (average_takes): 32 read where the row has them, else
    // just those (masked loads are slow when the row is not in cache).
    const int64_t floats = taken * window_floats;
    const bool whole = ow * window_floats + 32 <= in_row;
    const __mmask16 low = first_lanes(floats), high = first_lanes(floats - 16);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t a = 0; a < kernel_height; ++a) {
      const float* row = window_rows + a * in_row + ow * window_floats;
      // The same floats two output rows on, asked for early: without it, rows not in cache took twice as
      // long as the scalar loops (measured), which the prefetchers seem to serve better.
      // (An address as an integer: it may lie past the image, where a prefetch is harmless.)
      const uintptr_t ahead = reinterpret_cast<uintptr_t>(row) + static_cast<uintptr_t>(2 * kernel_height * in_row) * 4;
      _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(ahead + 64), _MM_HINT_T0);
      const __m512 lo = whole ? _mm512_loadu_ps(row) : _mm512_maskz_loadu_ps(low, row);
      const __m512 hi = whole         ? _mm512_loadu_ps(row + 16)
                        : floats > 16 ? _mm512_maskz_loadu_ps(high, row + 16)
                                      : _mm512_setzero_ps();
      __m512i pixel = first_pixel;
      for (int64_t b = 0; b < kernel_width; ++b) {
        sum = _mm512_add_ps(sum, _mm512_permutex2var_ps(lo, pixel, hi));
        pixel = _mm512_add_epi32(pixel, _mm512_set1_epi32(static_cast<int32_t>(channels)));
      }
    }
    sum = _mm512_div_ps(sum, count);
    // Whole vectors while windows follow in the row (they overwrite the lanes past this one's windows).
    if (ow + windows < out_width) {
      _mm512_storeu_ps(out + ow * channels, sum);
    } else {
      _mm512_mask_storeu_ps(out + ow * channels, first_lanes(taken * channels), sum);
    }
  }
}

}  // namespace tapegrad::kernels::pool_tiles

TAPEGRAD_TARGET_POP()
