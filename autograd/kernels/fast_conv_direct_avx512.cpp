// Direct convolution's AVX-512 kernels (see conv_direct.hpp): 16 output positions per vector, each
// kernel tap broadcast, several output channels and vectors of positions in registers at once; and the
// kernel gradient by output channels, 16 of them per vector, each input broadcast. The driver
// (fast_conv.cpp) calls them only on CPUs with AVX-512F.

#include "autograd/kernels/constant_count.hpp"
#include "autograd/kernels/conv_direct.hpp"
#include "autograd/kernels/target.hpp"
#include "autograd/kernels/transpose_avx512.hpp"

#include <immintrin.h>

#include <cstdint>

// Everything from here to TAPEGRAD_TARGET_POP is compiled for AVX-512, whatever the build's flags; internal
// linkage and no std:: templates, as in fast_gemm_avx512.cpp.
TAPEGRAD_TARGET_PUSH("avx512f,avx512vl,avx2,fma")

// NOTE: GCC 12's unpack and shuffle intrinsics (in simd::transpose16) start from _mm512_undefined_ps(),
// which -W(maybe-)uninitialized reports as a use of an uninitialised value; it is not one.
#pragma GCC diagnostic push
#if !defined(__clang__)  // a GCC warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace tapegrad::kernels::conv_direct {
namespace {

// Keeps v in a register: GCC would otherwise load it again as the memory operand of each fma that uses
// it, and loads, not fmas, would bound the loop.
inline void in_register(__m512& v) { asm("" : "+v"(v)); }

// Vectors of positions per block with kOuts output channels: kOuts x kVectors accumulators of 32 registers.
constexpr int vectors_per_block(int outs) { return outs <= 1 ? 12 : outs <= 2 ? 8 : outs <= 4 ? 6 : outs <= 6 ? 4 : 3; }

// Positions [16 * first, 16 * (first + kVectors)) of output channels [first_out, first_out + kOuts).
template <int kOuts, int kVectors>
void correlate_block(const Correlation& w, int64_t first_out, int64_t first) {
  __m512 acc[kOuts][kVectors];
#pragma GCC unroll 8
  for (int o = 0; o < kOuts; ++o) {
#pragma GCC unroll 12
    for (int v = 0; v < kVectors; ++v) acc[o][v] = _mm512_setzero_ps();
  }
  const int64_t tap_step = w.channels * w.out_channels;
  for (int64_t c = 0; c < w.channels; ++c) {
    const float* plane = w.in + c * w.in_plane + first * 16;
    for (int64_t kh = 0; kh < w.kernel_height; ++kh) {
      const float* row = plane + kh * w.dilation_h * w.row_width;
      const float* taps = w.kernel + (kh * w.kernel_width * w.channels + c) * w.out_channels + first_out;
      for (int64_t kw = 0; kw < w.kernel_width; ++kw, taps += tap_step) {
        const float* src = row + kw * w.dilation_w;
        __m512 x[kVectors];
#pragma GCC unroll 12
        for (int v = 0; v < kVectors; ++v) x[v] = _mm512_loadu_ps(src + 16 * v);
#pragma GCC unroll 8
        for (int o = 0; o < kOuts; ++o) {
          const __m512 k = _mm512_set1_ps(taps[o]);
#pragma GCC unroll 12
          for (int v = 0; v < kVectors; ++v) acc[o][v] = _mm512_fmadd_ps(x[v], k, acc[o][v]);
        }
      }
    }
  }
  // Straight into the NHWC image: a transpose turns kOuts vectors of 16 positions into 16 positions of
  // kOuts channels; positions past a row's last pixel are dropped.
  const int64_t row_width = w.row_width, out_width = w.out_width, pixel = w.out_channels;
  int64_t oh = first * 16 / row_width, ow = first * 16 % row_width;
  float* out = w.out + (oh * out_width + ow) * pixel + first_out;  // pixel (oh, ow), while ow < out_width
  const __mmask16 channels = static_cast<__mmask16>((1u << kOuts) - 1);
#pragma GCC unroll 12
  for (int v = 0; v < kVectors; ++v) {
    if (oh >= w.out_height) break;
    __m512 r[16];
#pragma GCC unroll 16
    for (int q = 0; q < 16; ++q) r[q] = q < kOuts ? acc[q][v] : _mm512_setzero_ps();
    simd::transpose16(r);
#pragma GCC unroll 16
    for (int q = 0; q < 16; ++q) {
      if (ow < out_width) _mm512_mask_storeu_ps(out, channels, r[q]);
      out += pixel;
      if (++ow == row_width) {
        ow = 0;
        out -= (row_width - out_width) * pixel;  // the thrown-away positions have no pixels
        if (++oh >= w.out_height) break;
      }
    }
  }
}

// Every position of [first, end) for kOuts output channels: blocks, then single vectors for the rest.
template <int kOuts>
void correlate_outs(const Correlation& w, int64_t first_out, int64_t first, int64_t end) {
  constexpr int kVectors = vectors_per_block(kOuts);
  int64_t v = first;
  for (; v + kVectors <= end; v += kVectors) correlate_block<kOuts, kVectors>(w, first_out, v);
  for (; v < end; ++v) correlate_block<kOuts, 1>(w, first_out, v);
}

// One output channel, output rows [first_row, first_row + kBandRows) x columns [first_column, +16 * kVectors),
// only the first `columns` of them stored: each input row loaded once serves up to kBandRows output rows
// (with one output channel, loads and not fmas would bound the flat sweep). A kHeight x width kernel,
// dilation_h == 1.
template <int kVectors, int kHeight>
void correlate_rows_block(const Correlation& w, int64_t first_row, int64_t first_column, int64_t columns) {
  constexpr int kRows = kBandRows;
  __m512 acc[kRows][kVectors];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kVectors; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  const int64_t width = w.kernel_width, tap_step = w.channels;
  for (int64_t c = 0; c < w.channels; ++c) {
    const float* plane = w.in + c * w.in_plane + first_row * w.row_width + first_column;
    const float* taps = w.kernel + c;  // tap (kh, kw) at taps[(kh * width + kw) * channels]
    // Input row j feeds output row r through kernel row kh = j - r: kh ascending for each r, as in correlate.
#pragma GCC unroll 16
    for (int j = 0; j < kRows + kHeight - 1; ++j) {
      const float* row = plane + j * w.row_width;
      for (int64_t kw = 0; kw < width; ++kw) {
        __m512 x[kVectors];
#pragma GCC unroll 4
        for (int v = 0; v < kVectors; ++v) {
          x[v] = _mm512_loadu_ps(row + kw * w.dilation_w + 16 * v);
          in_register(x[v]);
        }
#pragma GCC unroll 8
        for (int r = 0; r < kRows; ++r) {
          if (j - r < 0 || j - r >= kHeight) continue;
          const __m512 k = _mm512_set1_ps(taps[((j - r) * width + kw) * tap_step]);
#pragma GCC unroll 4
          for (int v = 0; v < kVectors; ++v) acc[r][v] = _mm512_fmadd_ps(x[v], k, acc[r][v]);
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
    if (first_row + r >= w.out_height) break;
    float* out = w.out + (first_row + r) * w.out_width + first_column;
#pragma GCC unroll 4
    for (int v = 0; v < kVectors; ++v) {
      const int64_t lanes = columns - 16 * v;
      if (lanes >= 16) {
        _mm512_storeu_ps(out + 16 * v, acc[r][v]);
      } else if (lanes > 0) {
        _mm512_mask_storeu_ps(out + 16 * v, static_cast<__mmask16>((1u << lanes) - 1), acc[r][v]);
      }
    }
  }
}

template <int kHeight>
void correlate_rows_height(const Correlation& w, int64_t first_row) {
  for (int64_t column = 0; column < w.out_width; column += 64) {
    const int64_t columns = w.out_width - column;
    if (columns > 32) {
      correlate_rows_block<4, kHeight>(w, first_row, column, columns);
    } else if (columns > 16) {
      correlate_rows_block<2, kHeight>(w, first_row, column, columns);
    } else {
      correlate_rows_block<1, kHeight>(w, first_row, column, columns);
    }
  }
}

// kOuts output channels' sums over one image; the taps' inputs come from `offsets`.
template <int kOuts, int kTaps = taps_per_block(kOuts)>
void filter_block(const FilterSums& w, int64_t first_tap, int64_t first_out, float* sums) {
  __m512 acc[kTaps][kOuts];
  const float* in[kTaps];
#pragma GCC unroll 12
  for (int t = 0; t < kTaps; ++t) {
    in[t] = w.in + w.offsets[first_tap + t];
#pragma GCC unroll 8
    for (int o = 0; o < kOuts; ++o)
      acc[t][o] = w.first ? _mm512_setzero_ps() : _mm512_loadu_ps(sums + (t * kOuts + o) * 16);
  }
  const float* dy = w.dy + first_out * w.dy_plane;
  for (int64_t p = 0; p < 16 * w.vectors; p += 16) {
    __m512 x[kTaps];
#pragma GCC unroll 12
    for (int t = 0; t < kTaps; ++t) x[t] = _mm512_loadu_ps(in[t] + p);
#pragma GCC unroll 8
    for (int o = 0; o < kOuts; ++o) {
      __m512 g = _mm512_loadu_ps(dy + o * w.dy_plane + p);
      in_register(g);
#pragma GCC unroll 12
      for (int t = 0; t < kTaps; ++t) acc[t][o] = _mm512_fmadd_ps(x[t], g, acc[t][o]);
    }
  }
#pragma GCC unroll 12
  for (int t = 0; t < kTaps; ++t) {
#pragma GCC unroll 8
    for (int o = 0; o < kOuts; ++o) _mm512_storeu_ps(sums + (t * kOuts + o) * 16, acc[t][o]);
  }
}

// kTaps taps side by side in the input times kVectors vectors of output channels, over every output
// pixel of one image: each tap's input broadcast, each pixel's dy loaded once for all the taps.
template <int kVectors, int kTaps>
void channel_filter_block(const ChannelFilterSums& w, int64_t offset, int64_t first_out, float* sums) {
  __m512 acc[kTaps][kVectors];
#pragma GCC unroll 24
  for (int t = 0; t < kTaps; ++t) {
#pragma GCC unroll 4
    for (int v = 0; v < kVectors; ++v) acc[t][v] = _mm512_setzero_ps();
  }
  const int64_t pixel_floats = w.pixel_floats, dy_pixel = w.out_channels;
  for (int64_t oh = 0; oh < w.out_height; ++oh) {
    const float* in = w.in + oh * w.row_floats + offset;
    const float* dy = w.dy + oh * w.out_width * dy_pixel + first_out;
    for (int64_t ow = 0; ow < w.out_width; ++ow, in += pixel_floats, dy += dy_pixel) {
      __m512 g[kVectors];
#pragma GCC unroll 4
      for (int v = 0; v < kVectors; ++v) {
        g[v] = _mm512_loadu_ps(dy + 16 * v);
        in_register(g[v]);
      }
#pragma GCC unroll 24
      for (int t = 0; t < kTaps; ++t) {
        const __m512 x = _mm512_set1_ps(in[t]);
#pragma GCC unroll 4
        for (int v = 0; v < kVectors; ++v) acc[t][v] = _mm512_fmadd_ps(x, g[v], acc[t][v]);
      }
    }
  }
#pragma GCC unroll 24
  for (int t = 0; t < kTaps; ++t) {
#pragma GCC unroll 4
    for (int v = 0; v < kVectors; ++v) {
      float* s = sums + t * w.out_channels + first_out + 16 * v;
      _mm512_storeu_ps(s, w.first ? acc[t][v] : _mm512_add_ps(_mm512_loadu_ps(s), acc[t][v]));
    }
  }
}

// Where a block of `block` positions starting at `position` goes so that it ends by `end`: a run's last
// block starts early rather than reading past it (the positions it shares with the one before get the same
// sums).
inline int64_t started_early(int64_t position, int64_t end, int64_t block) {
  return position < end - block ? position : end - block;
}

// Positions per block of correlate_by_channels with kVectors vectors of output channels: 28 accumulators
// and the tap's kVectors kernel vectors in the 32 registers.
constexpr int channel_positions_per_block(int vectors) { return kMaxChannelPositions / vectors; }

// acc[p][v] = the sums of kVectors vectors of output channels from first_out at kPositions output pixels
// whose inputs start at image + p * kStep floats: for each tap (c, kh, kw, in that order, as correlate
// sums) its kernel vectors loaded once and each pixel's input broadcast. With kChannels and kStep known,
// the pixels' inputs lie at fixed offsets from one pointer.
// With kRows > 1, the pixels are kRows rows of kPositions / kRows, a row's inputs row_floats floats after the
// one above's.
template <int kChannels, int kVectors, int kPositions, int kStep, int kRows = 1>
__attribute__((always_inline)) inline void channel_taps(const ChannelCorrelation& w, int64_t first_out,
                                                        const float* image, __m512 (&acc)[kPositions][kVectors],
                                                        int64_t row_floats = 0) {
  constexpr int kColumns = kPositions / kRows;
#pragma GCC unroll 28
  for (int p = 0; p < kPositions; ++p) {
#pragma GCC unroll 4
    for (int v = 0; v < kVectors; ++v) acc[p][v] = _mm512_setzero_ps();
  }
  const int64_t tap_step = kChannels * w.out_channels;  // kernel floats from one kw to the next
  for (int64_t c = 0; c < kChannels; ++c) {
    for (int64_t kh = 0; kh < w.kernel_height; ++kh) {
      const float* row = image + kh * w.dilation_h * w.row_pixels * kChannels + c;
      const float* taps = w.kernel + (kh * w.kernel_width * kChannels + c) * w.out_channels + first_out;
      for (int64_t kw = 0; kw < w.kernel_width; ++kw, taps += tap_step) {
        const float* src = row + kw * w.dilation_w * kChannels;
        __m512 k[kVectors];
#pragma GCC unroll 4
        for (int v = 0; v < kVectors; ++v) {
          k[v] = _mm512_loadu_ps(taps + 16 * v);
          in_register(k[v]);
        }
        // Each row's pixels at fixed offsets from its own pointer.
        const float* rows[kRows];
#pragma GCC unroll 8
        for (int r = 0; r < kRows; ++r) rows[r] = src + r * row_floats;
#pragma GCC unroll 28
        for (int p = 0; p < kPositions; ++p) {
          const __m512 x = _mm512_set1_ps(rows[p / kColumns][(p % kColumns) * kStep]);
#pragma GCC unroll 4
          for (int v = 0; v < kVectors; ++v) acc[p][v] = _mm512_fmadd_ps(x, k[v], acc[p][v]);
        }
      }
    }
  }
}

// kVectors vectors of output channels from first_out at the stride-1 positions [first, first + kPositions),
// straight into the NHWC image, each position's channels whole vectors; thrown-away positions dropped.
template <int kChannels, int kVectors, int kPositions = channel_positions_per_block(kVectors)>
void channel_correlate_block(const ChannelCorrelation& w, int64_t first_out, int64_t first) {
  __m512 acc[kPositions][kVectors];
  channel_taps<kChannels, kVectors, kPositions, kChannels>(w, first_out, w.in + first * kChannels, acc);
  const int64_t row_pixels = w.row_pixels, out_width = w.out_width, pixel = w.out_channels;
  int64_t ow = first % row_pixels;
  float* out = w.out + (first / row_pixels * out_width + ow) * pixel + first_out;  // while ow < out_width
#pragma GCC unroll 28
  for (int p = 0; p < kPositions; ++p) {
    if (ow < out_width) {
#pragma GCC unroll 4
      for (int v = 0; v < kVectors; ++v) _mm512_storeu_ps(out + 16 * v, acc[p][v]);
    }
    out += pixel;
    if (++ow == row_pixels) {
      ow = 0;
      out -= (row_pixels - out_width) * pixel;  // the thrown-away positions have no pixels
    }
  }
}

// The same for the output pixels [ow, ow + kPositions) of output row oh with strides (kStride across).
template <int kChannels, int kVectors, int kStride, int kPositions = channel_positions_per_block(kVectors)>
void channel_correlate_strided_block(const ChannelCorrelation& w, int64_t first_out, int64_t oh, int64_t ow) {
  __m512 acc[kPositions][kVectors];
  channel_taps<kChannels, kVectors, kPositions, kStride * kChannels>(
      w, first_out, w.in + (oh * w.stride_h * w.row_pixels + ow * kStride) * kChannels, acc);
  float* out = w.out + (oh * w.out_width + ow) * w.out_channels + first_out;
#pragma GCC unroll 28
  for (int p = 0; p < kPositions; ++p) {
#pragma GCC unroll 4
    for (int v = 0; v < kVectors; ++v) _mm512_storeu_ps(out + p * w.out_channels + 16 * v, acc[p][v]);
  }
}

// One vector of output channels from first_out at the output pixels (oh + r, ow + q), r, q < kSquareSide:
// a square block, so that no position of the flat sweep's thrown-away columns is computed (36 of the 136
// positions of a 5x5 kernel's 10x10 output). The same chain of fmas for each output as the flat sweep.
template <int kChannels>
void channel_correlate_square_block(const ChannelCorrelation& w, int64_t first_out, int64_t oh, int64_t ow) {
  constexpr int kSide = kSquareSide, kPositions = kSide * kSide;
  __m512 acc[kPositions][1];
  const int64_t row_floats = w.row_pixels * kChannels;
  channel_taps<kChannels, 1, kPositions, kChannels, kSide>(w, first_out, w.in + oh * row_floats + ow * kChannels, acc,
                                                           row_floats);
#pragma GCC unroll 5
  for (int r = 0; r < kSide; ++r) {
    float* out = w.out + ((oh + r) * w.out_width + ow) * w.out_channels + first_out;
#pragma GCC unroll 5
    for (int q = 0; q < kSide; ++q) _mm512_storeu_ps(out + q * w.out_channels, acc[r * kSide + q][0]);
  }
}

// Every position of [first, end) for kVectors vectors of output channels from first_out: blocks, the last
// one started early enough to end at `end` (the positions it shares with the one before get the same sums).
template <int kChannels, int kVectors>
void channel_correlate_run(const ChannelCorrelation& w, int64_t first_out, int64_t first, int64_t end) {
  constexpr int kPositions = channel_positions_per_block(kVectors);
  for (int64_t p = first; p < end; p += kPositions)
    channel_correlate_block<kChannels, kVectors>(w, first_out, started_early(p, end, kPositions));
}

template <int kChannels>
void channel_correlate(const ChannelCorrelation& w, int64_t first, int64_t end) {
  for (int64_t o = 0; o < w.out_channels; o += 16 * kMaxChannelVectors) {
    with_count<kMaxChannelVectors>((w.out_channels - o) / 16,
                                   [&]<int Vectors>() { channel_correlate_run<kChannels, Vectors>(w, o, first, end); });
  }
}

// The whole image in square blocks, one vector of output channels at a time; the last block of each row
// and of each column of blocks started early enough to end with the image.
template <int kChannels>
void channel_correlate_squares(const ChannelCorrelation& w) {
  const int64_t side = kSquareSide;
  for (int64_t o = 0; o < w.out_channels; o += 16) {
    for (int64_t oh = 0; oh < w.out_height; oh += side) {
      for (int64_t ow = 0; ow < w.out_width; ow += side) {
        channel_correlate_square_block<kChannels>(w, o, started_early(oh, w.out_height, side),
                                                  started_early(ow, w.out_width, side));
      }
    }
  }
}

// Output row oh with strides 2 across: blocks, the last one started early enough to end at the row's end.
template <int kChannels>
void channel_correlate_strided_row(const ChannelCorrelation& w, int64_t oh) {
  for (int64_t o = 0; o < w.out_channels; o += 16 * kMaxChannelVectors) {
    with_count<kMaxChannelVectors>((w.out_channels - o) / 16, [&]<int Vectors>() {
      constexpr int kPositions = channel_positions_per_block(Vectors);
      for (int64_t ow = 0; ow < w.out_width; ow += kPositions) {
        channel_correlate_strided_block<kChannels, Vectors, 2>(w, o, oh, started_early(ow, w.out_width, kPositions));
      }
    });
  }
}

__mmask16 first_lanes(int64_t n) { return static_cast<__mmask16>(n >= 16 ? 0xffff : (1u << n) - 1); }

}  // namespace

// Blocks of 16 pixels x 16 channels through a register transpose.
void pixels_to_planes(const float* pixels, int64_t count, int64_t channels, float* dst, int64_t plane) {
  if (channels == 1) {
    for (int64_t i = 0; i < count; ++i) dst[i] = pixels[i];
    return;
  }
  for (int64_t c0 = 0; c0 < channels; c0 += 16) {
    const int64_t width = channels - c0;
    const __mmask16 channel_lanes = first_lanes(width);
    for (int64_t i = 0; i < count; i += 16) {
      const int64_t n = count - i;
      __m512 r[16];
#pragma GCC unroll 16
      for (int q = 0; q < 16; ++q) {
        r[q] = q < n ? _mm512_maskz_loadu_ps(channel_lanes, pixels + (i + q) * channels + c0) : _mm512_setzero_ps();
      }
      simd::transpose16(r);
      for (int c = 0; c < 16 && c < width; ++c) _mm512_mask_storeu_ps(dst + (c0 + c) * plane + i, first_lanes(n), r[c]);
    }
  }
}

namespace {

// Lane j of the result: the sum of v[j]'s lanes (a transpose's shuffles, adding as it goes).
inline __m512 lane_sums16(const __m512 v[16]) {
  __m512 t[8], u[4];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  }
  // Each 128-bit lane of u[i]: its own part of v[4i], ..., v[4i + 3]'s sums.
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    u[i] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  }
  const __m512 low = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], 0x88), _mm512_shuffle_f32x4(u[0], u[1], 0xdd));
  const __m512 high = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], 0x88), _mm512_shuffle_f32x4(u[2], u[3], 0xdd));
  return _mm512_add_ps(_mm512_shuffle_f32x4(low, high, 0x88), _mm512_shuffle_f32x4(low, high, 0xdd));
}

// out[j] = the sum of acc[j]'s lanes, j < kCount.
template <int kCount>
void store_lane_sums(const __m512 acc[kCount], float* out) {
#pragma GCC unroll 2
  for (int first = 0; first < kCount; first += 16) {
    __m512 v[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) v[i] = first + i < kCount ? acc[first + i] : _mm512_setzero_ps();
    const __m512 sums = lane_sums16(v);
    const int count = kCount - first < 16 ? kCount - first : 16;
    if (count == 16) {
      _mm512_storeu_ps(out + first, sums);
    } else if (count == 8) {
      _mm256_storeu_ps(out + first, _mm512_castps512_ps256(sums));
    } else {
      _mm512_mask_storeu_ps(out + first, static_cast<__mmask16>((1u << count) - 1), sums);
    }
  }
}

// Pixels per block of correlate_by_inputs with kOuts output channels, in one row (in two, half as many
// across, rounded down): their sums and inputs in the 32 registers, with one for the kernel.
constexpr int input_block_pixels(int outs) {
  return outs <= 1 ? 12 : outs <= 2 ? 8 : outs <= 3 ? 6 : outs <= 6 ? 4 : 3;
}

// The taps [first, end) along one axis whose inputs, for outputs [position, position + count) on it, lie in
// the image's [image_first, image_first + image_size): a run, the taps before and after it reading zeros.
struct TapRun {
  int64_t first = 0, end = 0;
};
inline TapRun taps_in_image(int64_t position, int64_t count, int64_t taps, int64_t dilation, int64_t image_first,
                            int64_t image_size) {
  TapRun run{taps, taps};
  for (int64_t t = 0; t < taps; ++t) {
    const int64_t at = position + t * dilation;
    if (at + count > image_first && at < image_first + image_size) {
      if (run.first == taps) run.first = t;
      run.end = t + 1;
    }
  }
  return run;
}

// Output pixels (oh + r, ow + q), r < kRows, q < kColumns, kOuts == w.out_channels: two rows where they can
// be, so that fewer of the block's taps read zeros for some pixel and the image for another (all are then
// taken).
template <int kOuts, int kRows, int kColumns>
void input_correlate_block(const InputCorrelation& w, int64_t oh, int64_t ow) {
  constexpr int kPixels = kRows * kColumns;
  __m512 acc[kPixels * kOuts];
#pragma GCC unroll 24
  for (int j = 0; j < kPixels * kOuts; ++j) acc[j] = _mm512_setzero_ps();
  const int64_t channels = w.channels, row_floats = w.row_pixels * channels;
  const TapRun rows = taps_in_image(oh, kRows, w.kernel_height, w.dilation_h, w.image_top, w.image_height);
  const TapRun columns = taps_in_image(ow, kColumns, w.kernel_width, w.dilation_w, w.image_left, w.image_width);
  for (int64_t kh = rows.first; kh < rows.end; ++kh) {
    const float* x_row = w.in + (oh + kh * w.dilation_h) * row_floats + ow * channels;
    for (int64_t kw = columns.first; kw < columns.end; ++kw) {
      const float* x = x_row + kw * w.dilation_w * channels;
      const float* k = w.kernel + (kh * w.kernel_width + kw) * kOuts * channels;
      for (int64_t c = 0; c < channels; c += 16) {
        __m512 xv[kPixels];
#pragma GCC unroll 2
        for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 12
          for (int q = 0; q < kColumns; ++q) {
            xv[r * kColumns + q] = _mm512_loadu_ps(x + r * row_floats + q * channels + c);
            in_register(xv[r * kColumns + q]);
          }
        }
#pragma GCC unroll 8
        for (int o = 0; o < kOuts; ++o) {
          const __m512 kv = _mm512_loadu_ps(k + o * channels + c);
#pragma GCC unroll 12
          for (int p = 0; p < kPixels; ++p) acc[p * kOuts + o] = _mm512_fmadd_ps(xv[p], kv, acc[p * kOuts + o]);
        }
      }
    }
  }
  // The sums row by row: each output row's run of kColumns pixels lies side by side.
  alignas(64) float sums[(kPixels * kOuts + 15) / 16 * 16];
  store_lane_sums<kPixels * kOuts>(acc, sums);
#pragma GCC unroll 2
  for (int r = 0; r < kRows; ++r) {
    float* out = w.out + ((oh + r) * w.out_width + ow) * kOuts;
#pragma GCC unroll 48
    for (int j = 0; j < kColumns * kOuts; ++j) out[j] = sums[r * kColumns * kOuts + j];
  }
}

// Output rows [oh, oh + kRows) in blocks of kColumns pixels, the last started early so that it ends with the
// rows; single pixels when they are narrower than a block.
template <int kOuts, int kRows>
void input_correlate_rows(const InputCorrelation& w, int64_t oh) {
  constexpr int kColumns = input_block_pixels(kOuts) / kRows;
  if (w.out_width < kColumns) {
    for (int64_t ow = 0; ow < w.out_width; ++ow) input_correlate_block<kOuts, kRows, 1>(w, oh, ow);
    return;
  }
  for (int64_t ow = 0; ow < w.out_width; ow += kColumns) {
    input_correlate_block<kOuts, kRows, kColumns>(w, oh, started_early(ow, w.out_width, kColumns));
  }
}

}  // namespace

bool correlate_by_inputs_takes(int64_t channels, int64_t out_channels) {
  return channels > 0 && channels % 16 == 0 && out_channels >= 1 && out_channels <= 8;
}

void correlate_by_inputs(const InputCorrelation& w, int64_t first_row) {
  static_assert(kInputRows == 2, "blocks of one or two rows");
  const bool pair = first_row + 1 < w.out_height;
  with_count<8>(w.out_channels, [&]<int Outs>() {
    if (pair) {
      input_correlate_rows<Outs, kInputRows>(w, first_row);
    } else {
      input_correlate_rows<Outs, 1>(w, first_row);
    }
  });
}

void correlate(const Correlation& w, int64_t first_vector, int64_t end_vector) {
  for (int64_t o = 0; o < w.out_channels; o += kMaxOuts) {
    with_count<kMaxOuts>(w.out_channels - o, [&]<int Outs>() { correlate_outs<Outs>(w, o, first_vector, end_vector); });
  }
}

bool correlate_by_channels_takes(int64_t channels) {
  return channels == 1 || channels == 6 || channels == 16 || channels == 32 || channels == 64;
}

namespace {

// Calls f.template operator()<C>() with C = channels, one of those correlate_by_channels_takes; its callers
// check that first.
template <typename F>
void with_channels(int64_t channels, F&& f) {
  switch (channels) {
    case 1: return f.template operator()<1>();
    case 6: return f.template operator()<6>();
    case 16: return f.template operator()<16>();
    case 32: return f.template operator()<32>();
    case 64: return f.template operator()<64>();
    default: return;
  }
}

}  // namespace

void correlate_by_channels(const ChannelCorrelation& w, int64_t first, int64_t end) {
  with_channels(w.channels, [&]<int Channels>() { channel_correlate<Channels>(w, first, end); });
}

bool correlate_strided_by_channels_takes(int64_t channels, int64_t out_channels, int64_t out_width, int64_t stride_w) {
  if (!correlate_by_channels_takes(channels) || stride_w != 2 || out_channels == 0 || out_channels % 16 != 0)
    return false;
  // The last group of vectors has the fewest and so the widest blocks.
  const int64_t last_vectors = (out_channels / 16 - 1) % kMaxChannelVectors + 1;
  return out_width >= channel_positions_per_block(static_cast<int>(last_vectors));
}

void correlate_by_channel_squares(const ChannelCorrelation& w) {
  with_channels(w.channels, [&]<int Channels>() { channel_correlate_squares<Channels>(w); });
}

void correlate_strided_by_channels(const ChannelCorrelation& w, int64_t oh) {
  with_channels(w.channels, [&]<int Channels>() { channel_correlate_strided_row<Channels>(w, oh); });
}

void correlate_rows(const Correlation& w, int64_t first_row) {
  with_count<7>(w.kernel_height, [&]<int Height>() { correlate_rows_height<Height>(w, first_row); });
}

void filter_sums(const FilterSums& w, int64_t first_tap, int taps, int64_t first_out, int outs, float* sums) {
  if (outs == 1) {
    with_count<12>(taps, [&]<int Taps>() { filter_block<1, Taps>(w, first_tap, first_out, sums); });
  } else {
    with_count<8>(outs, [&]<int Outs>() { filter_block<Outs>(w, first_tap, first_out, sums); });
  }
}

void filter_sums_by_channels(const ChannelFilterSums& w, int64_t offset, int taps, int64_t first_out, int vectors,
                             float* sums) {
  with_count<kMaxChannelVectors>(vectors, [&]<int Vectors>() {
    with_count<run_taps_per_block(Vectors)>(
        taps, [&]<int Taps>() { channel_filter_block<Vectors, Taps>(w, offset, first_out, sums); });
  });
}

}  // namespace tapegrad::kernels::conv_direct

#pragma GCC diagnostic pop
TAPEGRAD_TARGET_POP()
