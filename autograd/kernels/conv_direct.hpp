#pragma once

// Internal: the contract between the convolution driver (fast_conv.cpp) and the AVX-512 kernels of
// direct convolution (fast_conv_direct_avx512.cpp). Not for use outside them.
//
// Direct convolution works on "planes": one channel of one image, zero-padded to the rows x row_width
// pixels the kernel sweeps, row-major. With stride 1, output pixel (oh, ow) reads the input at plane
// position p + kh * dh * row_width + kw * dw, where p = oh * row_width + ow; so the output is computed at
// every position p in one flat, vectorisable loop, and the positions with ow >= out_width (the last
// row_width - out_width of each row) are computed but thrown away. Few channels leave nothing else to
// vectorise over. Where the output channels fill whole vectors, the correlation and the kernel gradient
// vectorise over them instead (correlate_by_channels, filter_sums_by_channels), on the NHWC tensors; where
// the input channels do and the output channels are few, the correlation vectorises over the input
// channels (correlate_by_inputs).

#include <cstdint>

namespace tapegrad::kernels::conv_direct {

/// One image's planes of input, channel c at in + c * in_plane; the kernel, HWIO; and the output image,
/// NHWC (out_height x out_width x out_channels).
struct Correlation {
  const float* in = nullptr;
  int64_t in_plane = 0, channels = 0, row_width = 0;
  const float* kernel = nullptr;
  int64_t kernel_height = 0, kernel_width = 0, dilation_h = 0, dilation_w = 0, out_channels = 0;
  float* out = nullptr;
  int64_t out_height = 0, out_width = 0;
};

/// out[oh][ow][o] = sum over c, kh, kw (in that order) of in[c][p + kh * dh * row_width + kw * dw] *
/// kernel[kh][kw][c][o], p = oh * row_width + ow, for the positions p in [16 * first_vector, 16 * end_vector)
/// that are pixels of the output. The input planes must be readable that far.
void correlate(const Correlation& w, int64_t first_vector, int64_t end_vector);

/// Output rows correlate_rows computes at once.
constexpr int64_t kBandRows = 6;

/// Kernel heights correlate_rows takes.
constexpr int64_t kMaxBandKernelHeight = 7;

/// The same sums as correlate for one output channel, dilation_h == 1 and kernel_height <=
/// kMaxBandKernelHeight, for output rows [first_row, min(first_row + kBandRows, out_height)). The input
/// planes must be readable kBandRows - 1 rows and 63 columns past the image.
void correlate_rows(const Correlation& w, int64_t first_row);

/// One image's planes for the kernel gradient: input `in`, the offset of each tap (kh, kw, c) into them, and
/// dy's planes (zero at thrown-away positions), channel o at dy + o * dy_plane.
struct FilterSums {
  const float* in = nullptr;
  const int64_t* offsets = nullptr;
  const float* dy = nullptr;
  int64_t dy_plane = 0, vectors = 0;
  bool first = false;  ///< the first image of the sums: they are written, not added to
};

/// Output channels filter_sums takes at once.
constexpr int kMaxOuts = 8;

/// Taps filter_sums takes at once with `outs` output channels: outs x taps accumulators and the taps' inputs
/// fill the 32 registers. With one output channel, any number of taps up to this.
constexpr int taps_per_block(int outs) {
  constexpr int kTaps[] = {12, 12, 8, 6, 5, 4, 4, 3, 3};
  return kTaps[outs];
}

/// For the taps t in [first_tap, first_tap + taps) and output channels o in [first_out, first_out + outs):
/// sums[((t - first_tap) * outs + o - first_out) * 16 + lane] += in[offsets[t] + p] * dy[o][p] over the
/// positions p = 16 * v + lane, v ascending from 0 to `vectors`. taps == taps_per_block(outs), or at most
/// that with outs == 1.
void filter_sums(const FilterSums& w, int64_t first_tap, int taps, int64_t first_out, int outs, float* sums);

/// One image for the kernel gradient with the output channels in vectors: the input NHWC (the image
/// itself, or its zero-padded copy) such that every tap of every output pixel reads inside it, output
/// rows `row_floats` floats apart and output pixels `pixel_floats` (channels times the stride across);
/// dy NHWC (out_height x out_width x out_channels).
struct ChannelFilterSums {
  const float* in = nullptr;
  int64_t row_floats = 0, pixel_floats = 0;
  const float* dy = nullptr;
  int64_t out_height = 0, out_width = 0, out_channels = 0;
  bool first = false;  ///< the first image of the sums: they are written, not added to
};

/// Vectors of output channels filter_sums_by_channels takes at once.
constexpr int kMaxChannelVectors = 4;

/// Taps filter_sums_by_channels takes at once with `vectors` vectors of output channels: their
/// accumulators fill 24 of the 32 registers.
constexpr int run_taps_per_block(int vectors) { return 24 / vectors; }

/// For a run of `taps` taps whose inputs lie side by side, the first of them `offset` floats past the
/// output pixel (oh, ow)'s input at in + oh * row_floats + ow * pixel_floats, and the output channels [first_out,
/// first_out + 16 * vectors): sums[t * out_channels + o] = (first) or += the sum over the pixels (oh, ow) of the image,
/// row by row, of in[pixel + offset + t] * dy[oh][ow][o]. The image's own sums are made from zero before they are
/// added. taps <= run_taps_per_block(vectors), vectors <= kMaxChannelVectors.
void filter_sums_by_channels(const ChannelFilterSums& w, int64_t offset, int taps, int64_t first_out, int vectors,
                             float* sums);

/// One image for the correlation with the output channels in vectors: the input NHWC (the image itself, or its
/// zero-padded copy), rows `row_pixels` pixels apart, such that every tap of every position reads inside it;
/// the kernel, HWIO; the output image, NHWC (out_height x out_width x out_channels, a multiple of 16). With
/// stride 1, positions are counted as in Correlation: p = oh * row_pixels + ow, thrown away where ow >=
/// out_width; with strides, output pixels go row by row (correlate_strided_by_channels).
struct ChannelCorrelation {
  const float* in = nullptr;
  int64_t row_pixels = 0, channels = 0;
  int64_t stride_h = 1;  ///< input rows from one output row to the next (correlate_strided_by_channels)
  const float* kernel = nullptr;
  int64_t kernel_height = 0, kernel_width = 0, dilation_h = 0, dilation_w = 0, out_channels = 0;
  float* out = nullptr;
  int64_t out_height = 0, out_width = 0;
};

/// The input channel counts correlate_by_channels takes: each has a kernel of its own, so that the pixels
/// of a block lie at fixed offsets from one another.
bool correlate_by_channels_takes(int64_t channels);

/// Positions correlate_by_channels takes at once, at most (with one vector of output channels).
constexpr int kMaxChannelPositions = 28;

/// The same sums as correlate, in the same order, for the positions [first, end) and every output channel,
/// 16 output channels per vector: each tap's kernel row loaded once for a block of positions, each position's
/// input broadcast, no transpose. end - first >= kMaxChannelPositions: a run's last block starts early
/// rather than reading past it.
void correlate_by_channels(const ChannelCorrelation& w, int64_t first, int64_t end);

/// Rows and columns of the square blocks of correlate_by_channel_squares.
constexpr int kSquareSide = 5;

/// The same sums as correlate_by_channels for a whole image of at least kSquareSide x kSquareSide output
/// pixels, in square blocks of output pixels, one vector of output channels at a time: no position of
/// the sweep's thrown-away columns computed (with out_width 10 and a 5x5 kernel, 100 pixels where the
/// flat sweep computes 136 positions). Each output is the same chain of fmas.
void correlate_by_channel_squares(const ChannelCorrelation& w);

/// Whether correlate_strided_by_channels takes these channels, strides across and output width (every block
/// of positions fits in a row).
bool correlate_strided_by_channels_takes(int64_t channels, int64_t out_channels, int64_t out_width, int64_t stride_w);

/// The output row oh of a convolution with strides (stride_h down, 2 across), every output channel:
/// out[oh][ow][o] = sum over c, kh, kw (in that order) of in[(oh * stride_h + kh * dh) * row_pixels + 2 * ow +
/// kw * dw][c] * kernel[kh][kw][c][o], in the NHWC input (zeros included) such that every tap reads inside it.
void correlate_strided_by_channels(const ChannelCorrelation& w, int64_t oh);

/// One image for the correlation with the input channels in vectors: the input NHWC (the image itself, or
/// its zero-padded copy), rows `row_pixels` pixels apart, such that every tap of every output pixel reads
/// inside it, the image's own pixels at rows [image_top, image_top + image_height) and columns
/// [image_left, image_left + image_width) of it (zeros elsewhere); the kernel HWOI (tap (kh, kw)'s output
/// channel o at kernel + ((kh * kernel_width + kw) * out_channels + o) * channels); the output image NHWC.
struct InputCorrelation {
  const float* in = nullptr;
  int64_t row_pixels = 0, channels = 0;
  int64_t image_top = 0, image_left = 0, image_height = 0, image_width = 0;
  const float* kernel = nullptr;
  int64_t kernel_height = 0, kernel_width = 0, dilation_h = 0, dilation_w = 0, out_channels = 0;
  float* out = nullptr;
  int64_t out_height = 0, out_width = 0;
};

/// Whether correlate_by_inputs takes these channels: input channels that fill vectors, up to 8 output
/// channels (a block's outputs lie side by side in the NHWC output).
bool correlate_by_inputs_takes(int64_t channels, int64_t out_channels);

/// Output rows [first_row, first_row + kInputRows) of the stride-1 correlation (first_row alone when it is
/// the last), every output channel: out[oh][ow][o] = the sum over the taps
/// (kh, kw) whose input lies in the image, and the input channels, of in[oh + kh * dh][ow + kw * dw][c] *
/// kernel[kh][kw][o][c]. 16 input channels per vector, a block of pixels' taps read once for all output
/// channels, each sum's lanes added at the end; the taps that read only zeros around the image (most of
/// an input gradient's, on small images) are skipped. The sums' order differs from correlate's.
/// NOTE: a skipped tap multiplies nothing: with inf or NaN in the kernel, pixels near the image's edge
/// get no 0 * inf = NaN from the zeros around it, where correlate and the reference do; which pixels
/// escape depends on the blocks (deterministic, the same for any thread count).
void correlate_by_inputs(const InputCorrelation& w, int64_t first_row);

/// Output rows correlate_by_inputs computes at once.
constexpr int64_t kInputRows = 2;

/// dst[c * plane + i] = pixels[i * channels + c] for i < count, c < channels: a run of NHWC pixels into planes.
void pixels_to_planes(const float* pixels, int64_t count, int64_t channels, float* dst, int64_t plane);

}  // namespace tapegrad::kernels::conv_direct
