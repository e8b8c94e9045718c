// Fast convolution kernels: im2col and gemm. The image is unrolled into a matrix with one row per
// output pixel and one column per kernel tap (kh, kw, c); then the convolution and both of its
// gradients are matrix products with the HWIO kernel seen as a (kh*kw*in) x out matrix:
//   y      = cols  @ K          (rows x out)
//   dcols  = dy    @ K^T        then folded back into dx (col2im)
//   dK    += cols^T @ dy
// Float32 convolutions with stride 1 on CPUs with AVX-512 run direct instead (conv_direct.hpp): each
// image's channels padded into planes, 16 output positions per vector; or, with output channels that fill
// whole vectors, 16 of them per vector from the NHWC tensors; or, with input channels that fill vectors
// and at most 8 output channels, 16 input channels per vector. With strides, direct where a kernel takes
// them: the forward by channels with strides 2 across, the kernel gradient by channels with any, and a
// 1x1 kernel's three on the pixels it reads; the rest on im2col and gemm.
// The loops in reference.cpp (conv2d_*_reference) are the formula these are tested against.

#include "autograd/kernels/conv_direct.hpp"
#include "autograd/kernels/gemm.hpp"
#include "autograd/kernels/kernels.hpp"
#include "autograd/kernels/parallel.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace tapegrad::kernels {

namespace {

// Below this many multiply-adds a direct convolution runs on the calling thread. Sharing its planes
// with the other core costs more than half of the work: the 256x256 single-channel image (590K) took
// 39 us for its input gradient and 92 us for its kernel gradient on 2 threads, 12.6 and 16.2 on 1.
constexpr int64_t kDirectParallelMultiplyAdds = int64_t{1} << 22;

// Images are unrolled a few at a time, so the columns stay near this size however large the batch.
constexpr int64_t kColumnBytes = int64_t{8} << 20;

int64_t pixels_out(const ConvGeometry& g) { return g.out_height * g.out_width; }
int64_t taps(const ConvGeometry& g) { return g.kernel_height * g.kernel_width * g.in_channels; }

// A 1x1 kernel with stride 1 and no padding reads each pixel once, in order: x is its own columns.
bool columns_are_input(const ConvGeometry& g) {
  return g.kernel_height == 1 && g.kernel_width == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 &&
         g.pad_left == 0 && g.out_height == g.in_height && g.out_width == g.in_width;
}

int64_t images_per_chunk(const ConvGeometry& g, size_t element_bytes) {
  const int64_t per_image = std::max<int64_t>(1, pixels_out(g) * taps(g) * static_cast<int64_t>(element_bytes));
  return std::clamp<int64_t>(kColumnBytes / per_image, 1, std::max<int64_t>(g.batch, 1));
}

// Uses of thread_buffer (parallel.hpp):
struct Columns;       // im2col's columns, the direct kernels' planes or padded images
struct Sums;          // direct_backward_filter's partial sums
struct TurnedKernel;  // direct_backward_input's kernel turned half a turn
struct InputKernel;   // direct_correlate_by_inputs's kernel, HWOI

// Rows of the column matrix for images [first, first + count): row (n, oh, ow) holds the taps the
// kernel sees there, zeros where they fall in the padding.
template <typename T>
void im2col(const T* x, T* cols, const ConvGeometry& g, int64_t first, int64_t count) {
  const int64_t rows = count * pixels_out(g), width = taps(g), c = g.in_channels;
  parallel_for(rows, rows * width, [&](int64_t row) {
    const int64_t n = first + row / pixels_out(g), oh = row / g.out_width % g.out_height, ow = row % g.out_width;
    T* out = cols + row * width;
    for (int64_t kh = 0; kh < g.kernel_height; ++kh) {
      const int64_t ih = oh * g.stride_h + kh * g.dilation_h - g.pad_top;
      for (int64_t kw = 0; kw < g.kernel_width; ++kw, out += c) {
        const int64_t iw = ow * g.stride_w + kw * g.dilation_w - g.pad_left;
        if (ih < 0 || ih >= g.in_height || iw < 0 || iw >= g.in_width) {
          std::fill_n(out, c, T{0});
        } else {
          std::copy_n(x + ((n * g.in_height + ih) * g.in_width + iw) * c, c, out);
        }
      }
    }
  });
}

// The reverse of im2col: adds each row's taps back onto the pixels they came from. Images are
// independent, so they are split between threads; within one, the order is fixed.
template <typename T>
void col2im(const T* cols, T* dx, const ConvGeometry& g, int64_t first, int64_t count) {
  const int64_t width = taps(g), c = g.in_channels;
  parallel_for(count, count * pixels_out(g) * width, [&](int64_t image) {
    const int64_t n = first + image;
    T* target = dx + n * g.in_height * g.in_width * c;
    std::fill_n(target, g.in_height * g.in_width * c, T{0});
    for (int64_t p = 0; p < pixels_out(g); ++p) {
      const int64_t oh = p / g.out_width, ow = p % g.out_width;
      const T* in = cols + (image * pixels_out(g) + p) * width;
      for (int64_t kh = 0; kh < g.kernel_height; ++kh) {
        const int64_t ih = oh * g.stride_h + kh * g.dilation_h - g.pad_top;
        for (int64_t kw = 0; kw < g.kernel_width; ++kw, in += c) {
          const int64_t iw = ow * g.stride_w + kw * g.dilation_w - g.pad_left;
          if (ih < 0 || ih >= g.in_height || iw < 0 || iw >= g.in_width) continue;
          T* pixel = target + (ih * g.in_width + iw) * c;
          for (int64_t ch = 0; ch < c; ++ch) pixel[ch] += in[ch];
        }
      }
    }
  });
}

// The column matrix of images [first, first + count): x itself for a 1x1 kernel, else unrolled
// into the thread's column buffer.
template <typename T>
const T* columns(const T* x, const ConvGeometry& g, int64_t first, int64_t count) {
  if (columns_are_input(g)) return x + first * pixels_out(g) * taps(g);
  T* buffer = thread_buffer<T, Columns>(static_cast<size_t>(count * pixels_out(g) * taps(g)));
  im2col(x, buffer, g, first, count);
  return buffer;
}

// ---- Direct convolution: float32, AVX-512 (see conv_direct.hpp) ----

// Whether the direct kernels can run: float32, on a CPU with AVX-512.
bool direct_kernels_run(DType dtype) { return dtype == DType::float32 && gemm_isa() == GemmIsa::avx512; }

// Stride 1: every direct kernel.
bool use_direct(const ConvGeometry& g, DType dtype) {
  return direct_kernels_run(dtype) && g.stride_h == 1 && g.stride_w == 1;
}

// The NHWC image a sweep by channels reads: rows x columns pixels, so that every tap of every output pixel
// reads inside it; the image itself when it needs no zeros around it (its rows as wide, it may have more),
// else a zero-padded copy (pad_image).
struct SweepImage {
  int64_t rows, columns;
  bool in_place;
};

SweepImage sweep_image(int64_t height, int64_t width, int64_t top, int64_t left, int64_t out_height, int64_t out_width,
                       int64_t extent_h, int64_t extent_w, int64_t stride_h, int64_t stride_w) {
  const int64_t rows = (out_height - 1) * stride_h + extent_h, columns = (out_width - 1) * stride_w + extent_w;
  return {rows, columns, top == 0 && left == 0 && columns == width && rows <= height};
}

int64_t round_up(int64_t x, int64_t step) { return (x + step - 1) / step * step; }

// How one image lies in its planes for a stride-1 sweep that makes out_height x out_width pixels with a
// kernel extent_h x extent_w (dilated): the image's pixel (ih, iw) at row ih + top, column iw + left
// (negative: cropped), zeros around it. Rows are out_width + extent_w - 1 wide, the sweep's last
// extent_w - 1 positions of each thrown away; or, given the image's width, just out_width wide when the
// zeros left of each row's pixels (extent_w - 1 or more) can serve as the zeros right of the previous
// row's, so that a tap past a row's end reads a zero of the next (the input gradient of an unpadded
// convolution): the same products, fewer positions.
struct PlaneLayout {
  int64_t rows, row_width, top, left;
  int64_t in_plane, out_plane, vectors;

  PlaneLayout(int64_t out_height, int64_t out_width, int64_t extent_h, int64_t extent_w, int64_t top_, int64_t left_,
              std::optional<int64_t> image_width = std::nullopt)
      : rows(out_height + extent_h - 1),
        row_width(image_width && left_ >= extent_w - 1 && left_ + *image_width <= out_width ? out_width
                                                                                            : out_width + extent_w - 1),
        top(top_),
        left(left_) {
    const int64_t positions = (out_height - 1) * row_width + out_width;
    vectors = (positions + 15) / 16;
    out_plane = vectors * 16;
    // The last vector reads up to the farthest tap past it; correlate_rows' last band of rows up to
    // kBandRows - 1 rows and 63 columns further.
    in_plane = round_up(std::max(rows * row_width, out_plane + (extent_h - 1) * row_width + extent_w - 1) +
                            (conv_direct::kBandRows - 1) * row_width + 64,
                        16);
  }
};

// Rows of pixels are asked for this many rows before they are turned into planes: the transposes
// otherwise wait on every load.
constexpr int64_t kRowsAhead = 2;

// Asks the caches for `floats` floats from `row`: a hint, which never faults or changes a result.
void prefetch_floats(const float* row, int64_t floats) {
  for (int64_t f = 0; f < floats; f += 16) __builtin_prefetch(row + f);
}

// An NHWC image (height x width x channels) into zero-padded planes, channel c at dst + c * in_plane.
void to_planes(const float* image, int64_t height, int64_t width, int64_t channels, const PlaneLayout& l, float* dst) {
  const int64_t ih0 = std::max<int64_t>(0, -l.top), ih1 = std::min(height, l.rows - l.top);
  const int64_t iw0 = std::max<int64_t>(0, -l.left), iw1 = std::min(width, l.row_width - l.left);
  if (ih0 >= ih1 || iw0 >= iw1) {
    std::fill_n(dst, channels * l.in_plane, 0.0f);
    return;
  }
  const auto prefetch_image_row = [&](int64_t ih) {
    if (ih < ih1) prefetch_floats(image + (ih * width + iw0) * channels, (iw1 - iw0) * channels);
  };
  for (int64_t ih = ih0; ih < ih0 + kRowsAhead; ++ih) prefetch_image_row(ih);  // asked for while zeros are written
  // Zeros around the image only: above, beside and below it.
  const int64_t begin = (ih0 + l.top) * l.row_width + iw0 + l.left,
                end = (ih1 - 1 + l.top) * l.row_width + iw1 + l.left;
  for (int64_t c = 0; c < channels; ++c) {
    float* plane = dst + c * l.in_plane;
    std::fill(plane, plane + begin, 0.0f);
    for (int64_t row = begin + l.row_width; row < end; row += l.row_width) {
      std::fill(plane + row - l.row_width + (iw1 - iw0), plane + row, 0.0f);
    }
    std::fill(plane + end, plane + l.in_plane, 0.0f);
  }
  for (int64_t ih = ih0; ih < ih1; ++ih) {
    prefetch_image_row(ih + kRowsAhead);
    conv_direct::pixels_to_planes(image + (ih * width + iw0) * channels, iw1 - iw0, channels,
                                  dst + (ih + l.top) * l.row_width + iw0 + l.left, l.in_plane);
  }
}

// An NHWC image (out_height x out_width x channels) into output planes, channel o at dst + o * out_plane,
// zeros at the positions the sweep throws away.
void to_output_planes(const float* image, int64_t height, int64_t width, int64_t channels, const PlaneLayout& l,
                      float* dst) {
  prefetch_floats(image, std::min(kRowsAhead, height) * width * channels);  // asked for while zeros are written
  for (int64_t c = 0; c < channels; ++c) {
    float* plane = dst + c * l.out_plane;
    for (int64_t oh = 0; oh + 1 < height; ++oh)
      std::fill(plane + oh * l.row_width + width, plane + (oh + 1) * l.row_width, 0.0f);
    std::fill(plane + (height - 1) * l.row_width + width, plane + l.out_plane, 0.0f);
  }
  for (int64_t oh = 0; oh < height; ++oh) {
    if (oh + kRowsAhead < height) prefetch_floats(image + (oh + kRowsAhead) * width * channels, width * channels);
    conv_direct::pixels_to_planes(image + oh * width * channels, width, channels, dst + oh * l.row_width, l.out_plane);
  }
}

// An NHWC image (height x width x channels) into an NHWC one of rows x columns pixels, its pixel (ih, iw)
// at (ih + top, iw + left), zeros around it.
void pad_image(const float* image, int64_t height, int64_t width, int64_t channels, int64_t top, int64_t left,
               int64_t rows, int64_t columns, float* dst) {
  const int64_t ih0 = std::max<int64_t>(0, -top), ih1 = std::min(height, rows - top);
  const int64_t iw0 = std::max<int64_t>(0, -left), iw1 = std::min(width, columns - left);
  if (ih0 >= ih1 || iw0 >= iw1) {
    std::fill_n(dst, rows * columns * channels, 0.0f);
    return;
  }
  // Zeros around the image only: the rows above it, then each row's sides, then the rows below it.
  const int64_t row_floats = columns * channels, copied = (iw1 - iw0) * channels;
  std::fill_n(dst, (ih0 + top) * row_floats, 0.0f);
  for (int64_t ih = ih0; ih < ih1; ++ih) {
    float* row = dst + (ih + top) * row_floats;
    std::fill_n(row, (iw0 + left) * channels, 0.0f);
    std::copy_n(image + (ih * width + iw0) * channels, copied, row + (iw0 + left) * channels);
    std::fill(row + (iw0 + left) * channels + copied, row + row_floats, 0.0f);
  }
  std::fill(dst + (ih1 + top) * row_floats, dst + rows * row_floats, 0.0f);
}

// Images whose planes are made at once: about kPlaneBytes a thread, so they are still in cache when the
// kernels read them, and a whole number of images a thread (threads split images evenly). Results do not
// depend on it.
constexpr int64_t kPlaneBytes = int64_t{512} << 10;

int64_t images_per_plane_chunk(int64_t image_floats, int64_t batch) {
  const int64_t threads = num_threads();
  const int64_t per_thread = std::max<int64_t>(1, kPlaneBytes / (image_floats * 4));
  return std::clamp<int64_t>(per_thread * threads, 1, std::max<int64_t>(batch, 1));
}

// The calling thread's plane buffer, aligned to cache lines (planes are whole vectors long, so every
// plane starts on a cache line too): most loads of the kernels are then aligned.
float* plane_buffer(int64_t count) {
  float* data = thread_buffer<float, Columns>(static_cast<size_t>(count + 16));
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(data) + 63) & ~uintptr_t{63});
}

// The NHWC images a sweep by channels reads, one chunk of a batch at a time: each image where it lies when
// it needs no zeros around it, else its zero-padded copy (rows x columns pixels, sweep_image) in the
// calling thread's buffer, made by prepare(n, i) for image n, the chunk's i-th.
struct SweptImages {
  const float* in;
  int64_t height, width, channels, top, left;
  int64_t rows, columns;  // the padded copy's; columns is also the image's width when it lies in place
  bool in_place;
  int64_t image_floats, padded_floats, chunk;
  float* buffer;

  SweptImages(const float* in_, int64_t batch, int64_t height_, int64_t width_, int64_t channels_, int64_t top_,
              int64_t left_, const SweepImage& sweep)
      : in(in_),
        height(height_),
        width(width_),
        channels(channels_),
        top(top_),
        left(left_),
        rows(sweep.rows),
        columns(sweep.columns),
        in_place(sweep.in_place),
        image_floats(height_ * width_ * channels_),
        padded_floats(sweep.rows * sweep.columns * channels_),
        chunk(sweep.in_place ? std::max<int64_t>(batch, 1) : images_per_plane_chunk(padded_floats, batch)),
        buffer(sweep.in_place ? nullptr : plane_buffer(std::min(chunk, batch) * padded_floats)) {}

  void prepare(int64_t n, int64_t i) const {
    if (!in_place) {
      pad_image(in + n * image_floats, height, width, channels, top, left, rows, columns, buffer + i * padded_floats);
    }
  }
  const float* image(int64_t n, int64_t i) const {
    return in_place ? in + n * image_floats : buffer + i * padded_floats;
  }
};

// The images of a batch in chunks: prepare(n, i) for each image n of a chunk (its i-th), then run(n, i, piece)
// for each of its `pieces` pieces, threads sharing both. Each omp for ends in a barrier: the next chunk's
// prepare overwrites what a chunk's images were prepared into only after its last piece.
template <typename Prepare, typename Run>
void over_image_chunks(int64_t batch, int64_t chunk, int64_t pieces, bool parallel, const Prepare& prepare,
                       const Run& run) {
  parallel_region(parallel, [&] {
    for (int64_t first = 0; first < batch; first += chunk) {
      const int64_t count = std::min(chunk, batch - first);
#pragma omp for schedule(static)
      for (int64_t i = 0; i < count; ++i) prepare(first + i, i);
#pragma omp for schedule(static)
      for (int64_t item = 0; item < count * pieces; ++item) run(first + item / pieces, item / pieces, item % pieces);
    }
  });
}

// Vectors of output positions per work item: a multiple of every block size of conv_direct::correlate.
constexpr int64_t kVectorsPerPiece = 96;

// The pixels [first, end) of an out_height x out_width image that the plane positions [first_position,
// end_position) of a sweep with rows row_width wide hold.
std::pair<int64_t, int64_t> pixels_of_positions(int64_t first_position, int64_t end_position, int64_t row_width,
                                                int64_t out_height, int64_t out_width) {
  const auto pixel = [&](int64_t position) {
    const int64_t oh = position / row_width, ow = position % row_width;
    return std::min(oh * out_width + std::min(ow, out_width), out_height * out_width);
  };
  return {pixel(first_position), pixel(end_position)};
}

// out (batch x out_height x out_width x out_channels) = the stride-1 correlation of in (batch x height x
// width x channels, at (top, left) in the padded planes) with kernel (HWIO). Threads take disjoint pieces
// of the output; each output is one fixed chain of fmas. epilogue(first, end) then runs on each piece's
// pixels [first, end) of out (counted over the batch) while they are in cache.
template <typename Epilogue>
void direct_correlate_by_planes(const float* in, int64_t batch, int64_t height, int64_t width, int64_t channels,
                                int64_t top, int64_t left, const float* kernel, int64_t kernel_height,
                                int64_t kernel_width, int64_t dilation_h, int64_t dilation_w, int64_t out_channels,
                                int64_t out_height, int64_t out_width, float* out, const Epilogue& epilogue) {
  const PlaneLayout l(out_height, out_width, (kernel_height - 1) * dilation_h + 1, (kernel_width - 1) * dilation_w + 1,
                      top, left, width);
  const int64_t image_floats = channels * l.in_plane;
  const int64_t chunk = images_per_plane_chunk(image_floats, batch);
  // One output channel: bands of rows (see conv_direct::correlate_rows), else pieces of flat positions.
  const bool by_rows = out_channels == 1 && dilation_h == 1 && kernel_height <= conv_direct::kMaxBandKernelHeight;
  const int64_t pieces = by_rows ? (out_height + conv_direct::kBandRows - 1) / conv_direct::kBandRows
                                 : (l.vectors + kVectorsPerPiece - 1) / kVectorsPerPiece;
  const bool parallel =
      batch * l.out_plane * out_channels * channels * kernel_height * kernel_width >= kDirectParallelMultiplyAdds;
  float* buffer = plane_buffer(std::min(chunk, batch) * image_floats);
  over_image_chunks(
      batch, chunk, pieces, parallel,
      [&](int64_t n, int64_t i) {
        to_planes(in + n * height * width * channels, height, width, channels, l, buffer + i * image_floats);
      },
      [&](int64_t n, int64_t i, int64_t piece) {
        const conv_direct::Correlation w{.in = buffer + i * image_floats,
                                         .in_plane = l.in_plane,
                                         .channels = channels,
                                         .row_width = l.row_width,
                                         .kernel = kernel,
                                         .kernel_height = kernel_height,
                                         .kernel_width = kernel_width,
                                         .dilation_h = dilation_h,
                                         .dilation_w = dilation_w,
                                         .out_channels = out_channels,
                                         .out = out + n * out_height * out_width * out_channels,
                                         .out_height = out_height,
                                         .out_width = out_width};
        const int64_t first_pixel = n * out_height * out_width;
        if (by_rows) {
          const int64_t first_row = piece * conv_direct::kBandRows;
          conv_direct::correlate_rows(w, first_row);
          epilogue(first_pixel + first_row * out_width,
                   first_pixel + std::min(out_height, first_row + conv_direct::kBandRows) * out_width);
        } else {
          const int64_t first_vector = piece * kVectorsPerPiece;
          const int64_t end_vector = std::min(l.vectors, (piece + 1) * kVectorsPerPiece);
          conv_direct::correlate(w, first_vector, end_vector);
          const auto [begin, end] =
              pixels_of_positions(16 * first_vector, 16 * end_vector, l.row_width, out_height, out_width);
          epilogue(first_pixel + begin, first_pixel + end);
        }
      });
}

// Positions of the correlation by channels per work item: whole blocks for every count of vectors.
constexpr int64_t kPositionsPerPiece = 9 * conv_direct::kMaxChannelPositions;

// Rows of the sweep by channels: out_height + extent_h - 1 of out_width + extent_w - 1 pixels.
int64_t sweep_positions(int64_t out_height, int64_t out_width, int64_t extent_w) {
  return (out_height - 1) * (out_width + extent_w - 1) + out_width;
}

// Whether a stride-1 correlation by channels takes square blocks of pixels (one image a work item), not
// the flat sweep: one vector of output channels, an image of at least a block each way, and a sweep that
// would compute a fifth more positions than the squares do (the thrown-away columns of small images).
bool use_channel_squares(int64_t out_channels, int64_t out_height, int64_t out_width, int64_t sweep_positions) {
  const int64_t side = conv_direct::kSquareSide;
  if (out_channels != 16 || out_height < side || out_width < side) return false;
  const int64_t square_positions = round_up(out_height, side) * round_up(out_width, side);
  return 5 * sweep_positions > 6 * square_positions;
}

// The same out as direct_correlate_by_planes, with the output channels in vectors (out_channels a multiple
// of 16, channels one that correlate_by_channels takes), from the NHWC image, read where it lies when it
// needs no zeros around it, else copied into zeros. Stride 1: the sweep's rows are out_width + extent_w - 1
// pixels, the last extent_w - 1 positions of each thrown away, and threads take disjoint pieces of
// positions (or whole images in square blocks of pixels: use_channel_squares); each output is the same
// chain of fmas as by planes. With strides (stride_w 2, as
// correlate_strided_by_channels_takes asks: its blocks step two pixels), threads take output rows.
template <typename Epilogue>
void direct_correlate_by_channels(const float* in, int64_t batch, int64_t height, int64_t width, int64_t channels,
                                  int64_t top, int64_t left, const float* kernel, int64_t kernel_height,
                                  int64_t kernel_width, int64_t dilation_h, int64_t dilation_w, int64_t stride_h,
                                  int64_t stride_w, int64_t out_channels, int64_t out_height, int64_t out_width,
                                  float* out, const Epilogue& epilogue) {
  const int64_t extent_h = (kernel_height - 1) * dilation_h + 1, extent_w = (kernel_width - 1) * dilation_w + 1;
  const SweptImages images(
      in, batch, height, width, channels, top, left,
      sweep_image(height, width, top, left, out_height, out_width, extent_h, extent_w, stride_h, stride_w));
  const bool strided = stride_h != 1 || stride_w != 1;
  const int64_t positions = strided ? out_height * out_width : sweep_positions(out_height, out_width, extent_w);
  const bool squares = !strided && use_channel_squares(out_channels, out_height, out_width, positions);
  const int64_t pieces = squares ? 1 : strided ? out_height : std::max<int64_t>(1, positions / kPositionsPerPiece);
  const bool parallel =
      batch * positions * out_channels * channels * kernel_height * kernel_width >= kDirectParallelMultiplyAdds;
  over_image_chunks(
      batch, images.chunk, pieces, parallel, [&](int64_t n, int64_t i) { images.prepare(n, i); },
      [&](int64_t n, int64_t i, int64_t piece) {
        const conv_direct::ChannelCorrelation w{.in = images.image(n, i),
                                                .row_pixels = images.columns,
                                                .channels = channels,
                                                .stride_h = stride_h,
                                                .kernel = kernel,
                                                .kernel_height = kernel_height,
                                                .kernel_width = kernel_width,
                                                .dilation_h = dilation_h,
                                                .dilation_w = dilation_w,
                                                .out_channels = out_channels,
                                                .out = out + n * out_height * out_width * out_channels,
                                                .out_height = out_height,
                                                .out_width = out_width};
        const int64_t image_pixel = n * out_height * out_width;
        if (squares) {
          conv_direct::correlate_by_channel_squares(w);
          epilogue(image_pixel, image_pixel + out_height * out_width);
          return;
        }
        if (strided) {
          conv_direct::correlate_strided_by_channels(w, piece);
          epilogue(image_pixel + piece * out_width, image_pixel + (piece + 1) * out_width);
          return;
        }
        const int64_t begin = piece * kPositionsPerPiece;
        const int64_t end = piece + 1 == pieces ? positions : begin + kPositionsPerPiece;
        conv_direct::correlate_by_channels(w, begin, end);
        const auto [first_pixel, end_pixel] = pixels_of_positions(begin, end, images.columns, out_height, out_width);
        epilogue(image_pixel + first_pixel, image_pixel + end_pixel);
      });
}

// The same out as direct_correlate_by_planes, with the input channels in vectors (channels a multiple of
// 16, at most 8 output channels: correlate_by_inputs_takes), from the NHWC image, read where it lies when
// it needs no zeros around it, else copied into zeros; the taps that read only zeros are skipped. Threads
// take pairs of output rows; each output's sums are made in a fixed order, whatever the thread count.
template <typename Epilogue>
void direct_correlate_by_inputs(const float* in, int64_t batch, int64_t height, int64_t width, int64_t channels,
                                int64_t top, int64_t left, const float* kernel, int64_t kernel_height,
                                int64_t kernel_width, int64_t dilation_h, int64_t dilation_w, int64_t out_channels,
                                int64_t out_height, int64_t out_width, float* out, const Epilogue& epilogue) {
  const int64_t taps = kernel_height * kernel_width;
  float* hwoi = thread_buffer<float, InputKernel>(static_cast<size_t>(taps * channels * out_channels));
  for (int64_t t = 0; t < taps; ++t)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t o = 0; o < out_channels; ++o)
        hwoi[(t * out_channels + o) * channels + c] = kernel[(t * channels + c) * out_channels + o];
  const int64_t extent_h = (kernel_height - 1) * dilation_h + 1, extent_w = (kernel_width - 1) * dilation_w + 1;
  const SweptImages images(in, batch, height, width, channels, top, left,
                           sweep_image(height, width, top, left, out_height, out_width, extent_h, extent_w, 1, 1));
  const bool parallel = batch * out_height * out_width * out_channels * channels * taps >= kDirectParallelMultiplyAdds;
  const int64_t pieces = (out_height + conv_direct::kInputRows - 1) / conv_direct::kInputRows;
  over_image_chunks(
      batch, images.chunk, pieces, parallel, [&](int64_t n, int64_t i) { images.prepare(n, i); },
      [&](int64_t n, int64_t i, int64_t piece) {
        const conv_direct::InputCorrelation w{.in = images.image(n, i),
                                              .row_pixels = images.columns,
                                              .channels = channels,
                                              .image_top = top,  // 0 for an image in place
                                              .image_left = left,
                                              .image_height = height,
                                              .image_width = width,
                                              .kernel = hwoi,
                                              .kernel_height = kernel_height,
                                              .kernel_width = kernel_width,
                                              .dilation_h = dilation_h,
                                              .dilation_w = dilation_w,
                                              .out_channels = out_channels,
                                              .out = out + n * out_height * out_width * out_channels,
                                              .out_height = out_height,
                                              .out_width = out_width};
        const int64_t first_row = piece * conv_direct::kInputRows;
        conv_direct::correlate_by_inputs(w, first_row);
        const int64_t image_pixel = n * out_height * out_width;
        epilogue(image_pixel + first_row * out_width,
                 image_pixel + std::min(out_height, first_row + conv_direct::kInputRows) * out_width);
      });
}

// out (batch x out_height x out_width x out_channels) = the stride-1 correlation of in (batch x height x
// width x channels, at (top, left) among the zeros) with kernel (HWIO), then epilogue(first, end) on each
// piece's pixels: by output channels where they fill vectors and a block of positions fits the image
// (the same bits as by planes); by input channels where they fill vectors and the output channels are
// few; else by planes.
template <typename Epilogue>
void direct_correlate(const float* in, int64_t batch, int64_t height, int64_t width, int64_t channels, int64_t top,
                      int64_t left, const float* kernel, int64_t kernel_height, int64_t kernel_width,
                      int64_t dilation_h, int64_t dilation_w, int64_t out_channels, int64_t out_height,
                      int64_t out_width, float* out, const Epilogue& epilogue) {
  const bool by_channels =
      out_channels > 0 && out_channels % 16 == 0 && conv_direct::correlate_by_channels_takes(channels) &&
      sweep_positions(out_height, out_width, (kernel_width - 1) * dilation_w + 1) >= conv_direct::kMaxChannelPositions;
  if (by_channels) {
    direct_correlate_by_channels(in, batch, height, width, channels, top, left, kernel, kernel_height, kernel_width,
                                 dilation_h, dilation_w, 1, 1, out_channels, out_height, out_width, out, epilogue);
  } else if (conv_direct::correlate_by_inputs_takes(channels, out_channels)) {
    direct_correlate_by_inputs(in, batch, height, width, channels, top, left, kernel, kernel_height, kernel_width,
                               dilation_h, dilation_w, out_channels, out_height, out_width, out, epilogue);
  } else {
    direct_correlate_by_planes(in, batch, height, width, channels, top, left, kernel, kernel_height, kernel_width,
                               dilation_h, dilation_w, out_channels, out_height, out_width, out, epilogue);
  }
}

// A convolution with strides 2 across runs direct by channels where its channels and width allow it.
bool use_direct_strided(const ConvGeometry& g, DType dtype) {
  return direct_kernels_run(dtype) &&
         conv_direct::correlate_strided_by_channels_takes(g.in_channels, g.out_channels, g.out_width, g.stride_w);
}

// y = conv2d(x, kernel) with stride 1 or strides 2 across (use_direct_strided), then the epilogue.
void direct_forward(const float* x, const float* kernel, const Tensor& y, const ConvGeometry& g,
                    const BiasActivation& epilogue) {
  const bool any = epilogue.bias != nullptr || epilogue.activation != Activation::linear;
  const auto apply = [&](int64_t first, int64_t end) {
    if (any) bias_activation(y, epilogue, first, end);
  };
  if (g.stride_h == 1 && g.stride_w == 1) {
    direct_correlate(x, g.batch, g.in_height, g.in_width, g.in_channels, g.pad_top, g.pad_left, kernel, g.kernel_height,
                     g.kernel_width, g.dilation_h, g.dilation_w, g.out_channels, g.out_height, g.out_width,
                     y.mutable_data<float>(), apply);
  } else {
    direct_correlate_by_channels(x, g.batch, g.in_height, g.in_width, g.in_channels, g.pad_top, g.pad_left, kernel,
                                 g.kernel_height, g.kernel_width, g.dilation_h, g.dilation_w, g.stride_h, g.stride_w,
                                 g.out_channels, g.out_height, g.out_width, y.mutable_data<float>(), apply);
  }
}

// dx is dy correlated with the kernel turned half a turn, input and output channels swapped.
void direct_backward_input(const float* dy, const float* kernel, float* dx, const ConvGeometry& g) {
  const int64_t kh = g.kernel_height, kw = g.kernel_width, c = g.in_channels, o = g.out_channels;
  float* turned = thread_buffer<float, TurnedKernel>(static_cast<size_t>(kh * kw * c * o));
  for (int64_t i = 0; i < kh; ++i)
    for (int64_t j = 0; j < kw; ++j)
      for (int64_t a = 0; a < c; ++a)
        for (int64_t b = 0; b < o; ++b)
          turned[(((kh - 1 - i) * kw + kw - 1 - j) * o + b) * c + a] = kernel[((i * kw + j) * c + a) * o + b];
  const int64_t extent_h = (kh - 1) * g.dilation_h + 1, extent_w = (kw - 1) * g.dilation_w + 1;
  direct_correlate(dy, g.batch, g.out_height, g.out_width, o, extent_h - 1 - g.pad_top, extent_w - 1 - g.pad_left,
                   turned, kh, kw, g.dilation_h, g.dilation_w, c, g.in_height, g.in_width, dx, [](int64_t, int64_t) {});
}

// Images a group of direct_backward_filter sums: about this many bytes of one image's working data each
// (its planes, or its padded copy and dy). Fewer groups add fewer partial sums; more balance the threads
// better.
constexpr int64_t kGroupPlaneBytes = int64_t{1} << 20;

// Floats of the groups' sums each step of their adding takes.
constexpr int64_t kAddFloats = 4096;

// The 16 partial sums of filter_sums added up, in a fixed order.
float lane_sum(const float* lanes) {
  float total = 0;
  for (int i = 0; i < 16; ++i) total += lanes[i];
  return total;
}

// Sums over the batch in fixed groups of images, each group's sum_floats sums made by one thread image by
// image (add_image(n, first of its group, the group's sums)), then the groups' added into the first
// group's in group order: the same order for any thread count. A group holds about kGroupPlaneBytes of
// its images' working data (image_floats each); the groups' sizes differ by one at most, and there is an
// even number of them (two threads get equal shares) unless the batch has fewer images. Returns the
// total (the calling thread's buffer).
template <typename AddImage>
const float* sum_over_image_groups(int64_t batch, int64_t image_floats, int64_t sum_floats, bool parallel,
                                   AddImage&& add_image) {
  const int64_t per_group = std::max<int64_t>(1, kGroupPlaneBytes / (image_floats * 4));
  const int64_t groups = std::min(batch, round_up((batch + per_group - 1) / per_group, 2));
  float* sums = thread_buffer<float, Sums>(static_cast<size_t>(std::max<int64_t>(groups, 1) * sum_floats));
  if (groups == 0) std::fill_n(sums, sum_floats, 0.0f);
  parallel_region(parallel, [&] {
#pragma omp for schedule(static)
    for (int64_t group = 0; group < groups; ++group) {
      const int64_t first_image = batch * group / groups;
      for (int64_t n = first_image; n < batch * (group + 1) / groups; ++n)
        add_image(n, n == first_image, sums + group * sum_floats);
    }
#pragma omp for schedule(static)
    for (int64_t first = 0; first < sum_floats; first += kAddFloats) {
      const int64_t last = std::min(sum_floats, first + kAddFloats);
      for (int64_t group = 1; group < groups; ++group) {
        const float* group_sums = sums + group * sum_floats;
        for (int64_t f = first; f < last; ++f) sums[f] += group_sums[f];
      }
    }
  });
  return sums;
}

// dK[kh][kw][c][o] = sum over images and positions of the input planes at tap (kh, kw, c) times dy's
// plane o. Work items are blocks of (taps, output channels), each run over every image's planes (one
// thread makes an image's planes at a time), the images in the fixed groups of sum_over_image_groups.
void direct_backward_filter_by_planes(const float* x, const float* dy, float* dk, const ConvGeometry& g) {
  const PlaneLayout l(g.out_height, g.out_width, (g.kernel_height - 1) * g.dilation_h + 1,
                      (g.kernel_width - 1) * g.dilation_w + 1, g.pad_top, g.pad_left);
  const int64_t c = g.in_channels, o = g.out_channels, taps = g.kernel_height * g.kernel_width * c;
  // Offsets of the taps into an image's planes, HWIO order; blocks past the last tap read tap 0's plane.
  std::vector<int64_t> offsets(static_cast<size_t>(taps + 12), 0);
  for (int64_t kh = 0, t = 0; kh < g.kernel_height; ++kh)
    for (int64_t kw = 0; kw < g.kernel_width; ++kw)
      for (int64_t ch = 0; ch < c; ++ch, ++t)
        offsets[static_cast<size_t>(t)] = ch * l.in_plane + kh * g.dilation_h * l.row_width + kw * g.dilation_w;
  struct Item {
    int64_t first_tap, first_out;
    int taps, outs;
    int64_t sums;  // where its sums start in `sums`
  };
  std::vector<Item> items;
  int64_t sum_floats = 0;
  for (int64_t first_out = 0; first_out < o; first_out += conv_direct::kMaxOuts) {
    const int outs = static_cast<int>(std::min<int64_t>(conv_direct::kMaxOuts, o - first_out));
    // One output channel: blocks as even as they can be (9 taps are one block, not 12 with 3 unused).
    const int64_t most = conv_direct::taps_per_block(outs), blocks = (taps + most - 1) / most;
    const int block = static_cast<int>(outs == 1 ? (taps + blocks - 1) / blocks : most);
    for (int64_t t = 0; t < taps; t += block) {
      items.push_back({t, first_out, block, outs, sum_floats});
      sum_floats += int64_t{block} * outs * 16;
    }
  }
  const int64_t in_floats = c * l.in_plane, image_floats = in_floats + o * l.out_plane;
  const bool parallel = g.batch * l.out_plane * o * taps >= kDirectParallelMultiplyAdds;
  const float* sums =
      sum_over_image_groups(g.batch, image_floats, sum_floats, parallel, [&](int64_t n, bool first, float* group_sums) {
        float* planes = plane_buffer(image_floats);  // this thread's
        to_planes(x + n * g.in_height * g.in_width * c, g.in_height, g.in_width, c, l, planes);
        to_output_planes(dy + n * g.out_height * g.out_width * o, g.out_height, g.out_width, o, l, planes + in_floats);
        const conv_direct::FilterSums w{planes, offsets.data(), planes + in_floats, l.out_plane, l.vectors, first};
        for (const Item& item : items) {
          conv_direct::filter_sums(w, item.first_tap, item.taps, item.first_out, item.outs, group_sums + item.sums);
        }
      });
  // Each tap's and output channel's 16 lanes, added in a fixed order.
  for (const Item& item : items) {
    for (int64_t t = item.first_tap; t < std::min(taps, item.first_tap + item.taps); ++t) {
      for (int64_t j = 0; j < item.outs; ++j) {
        dk[t * o + item.first_out + j] = lane_sum(sums + item.sums + ((t - item.first_tap) * item.outs + j) * 16);
      }
    }
  }
}

// The taps of the kernel gradient that lie side by side in an NHWC input: a kernel row's (kw, c), or one
// kw's channels when the kernel is dilated across.
int64_t channel_run(const ConvGeometry& g) {
  return g.dilation_w == 1 ? g.kernel_width * g.in_channels : g.in_channels;
}

// The blocks a run of taps goes in, as even as they can be, with `vectors` vectors of output channels.
int64_t run_blocks(int64_t run, int vectors) {
  const int64_t most = conv_direct::run_taps_per_block(vectors);
  return (run + most - 1) / most;
}

// Vectors of output channels the kernel gradient by channels takes at once from first_out.
int channel_vectors(int64_t out_channels, int64_t first_out) {
  return static_cast<int>(std::min<int64_t>(conv_direct::kMaxChannelVectors, (out_channels - first_out) / 16));
}

// The same dK with the output channels in vectors (out_channels a multiple of 16): for each output pixel,
// dy's channels loaded once and each tap's input broadcast. The taps go in runs that lie side by side in
// the NHWC input (a kernel row's (kw, c), or one kw's channels when dilated across), each image read where
// it lies when the convolution does not pad it, else copied into zeros. No position is thrown away. Any
// strides: output pixels a stride apart in the input.
void direct_backward_filter_by_channels(const float* x, const float* dy, float* dk, const ConvGeometry& g) {
  const int64_t c = g.in_channels, o = g.out_channels, taps = g.kernel_height * g.kernel_width * c;
  const SweepImage sweep = sweep_image(g.in_height, g.in_width, g.pad_top, g.pad_left, g.out_height, g.out_width,
                                       (g.kernel_height - 1) * g.dilation_h + 1,
                                       (g.kernel_width - 1) * g.dilation_w + 1, g.stride_h, g.stride_w);
  // NOTE: plain variables, not a structured binding: clang 16 cannot capture one in an OpenMP region.
  const int64_t rows = sweep.rows, columns = sweep.columns;
  const bool in_place = sweep.in_place;
  const int64_t row_floats = columns * c, padded_floats = rows * row_floats;
  const int64_t run = channel_run(g);
  struct Item {
    int64_t offset, first_tap;
    int taps;
    int64_t first_out;
    int vectors;
  };
  std::vector<Item> items;
  for (int64_t first_out = 0; first_out < o; first_out += 16 * conv_direct::kMaxChannelVectors) {
    const int vectors = channel_vectors(o, first_out);
    const int64_t blocks = run_blocks(run, vectors);
    for (int64_t kh = 0; kh < g.kernel_height; ++kh) {
      for (int64_t kw = 0; kw < g.kernel_width; kw += run / c) {
        const int64_t offset = kh * g.dilation_h * row_floats + kw * g.dilation_w * c;
        // The run in blocks as even as they can be.
        for (int64_t b = 0; b < blocks; ++b) {
          const int64_t begin = run * b / blocks, end = run * (b + 1) / blocks;
          items.push_back({offset + begin, (kh * g.kernel_width + kw) * c + begin, static_cast<int>(end - begin),
                           first_out, vectors});
        }
      }
    }
  }
  const int64_t dy_floats = g.out_height * g.out_width * o;
  const bool parallel = g.batch * dy_floats * taps >= kDirectParallelMultiplyAdds;
  const float* sums = sum_over_image_groups(
      g.batch, padded_floats + dy_floats, taps * o, parallel, [&](int64_t n, bool first, float* group_sums) {
        const float* image = x + n * g.in_height * g.in_width * c;
        if (!in_place) {
          float* padded = plane_buffer(padded_floats);  // this thread's
          pad_image(image, g.in_height, g.in_width, c, g.pad_top, g.pad_left, rows, columns, padded);
          image = padded;
        }
        const conv_direct::ChannelFilterSums w{
            image, g.stride_h * row_floats, g.stride_w * c, dy + n * dy_floats, g.out_height, g.out_width, o, first};
        for (const Item& item : items) {
          conv_direct::filter_sums_by_channels(w, item.offset, item.taps, item.first_out, item.vectors,
                                               group_sums + item.first_tap * o);
        }
      });
  std::copy_n(sums, taps * o, dk);
}

// Whether dK goes by channels: the output channels fill vectors and each block of taps has 8 accumulators
// or more (fewer chains of fmas leave the FMA units waiting).
bool filter_by_channels(const ConvGeometry& g) {
  if (g.out_channels == 0 || g.out_channels % 16 != 0) return false;
  const int vectors = channel_vectors(g.out_channels, 0);
  const int64_t run = channel_run(g);
  // The smallest block's accumulators, as direct_backward_filter_by_channels cuts the first vectors' runs.
  return run / run_blocks(run, vectors) * vectors >= 8;
}

// dK of a stride-1 convolution: by channels where it can, else by planes.
void direct_backward_filter(const float* x, const float* dy, float* dk, const ConvGeometry& g) {
  if (filter_by_channels(g)) return direct_backward_filter_by_channels(x, dy, dk, g);
  direct_backward_filter_by_planes(x, dy, dk, g);
}

// ---- A 1x1 kernel with strides: the stride-1 convolution of the pixels it reads ----

// A 1x1 kernel reads one pixel per output pixel, (oh * stride_h - pad_top, ow * stride_w - pad_left), or a
// zero outside the image: with strides, the direct kernels take those pixels as an image of their own.
bool use_direct_pointwise(const ConvGeometry& g, DType dtype) {
  return direct_kernels_run(dtype) && g.kernel_height == 1 && g.kernel_width == 1 && (g.stride_h > 1 || g.stride_w > 1);
}

// The geometry of the same convolution on the pixels it reads: stride 1, no padding.
ConvGeometry pointwise(const ConvGeometry& g) {
  ConvGeometry p = g;
  p.in_height = g.out_height;
  p.in_width = g.out_width;
  p.stride_h = p.stride_w = p.dilation_h = p.dilation_w = 1;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 0;
  return p;
}

struct PointwisePixels;  // the pixels a strided 1x1 kernel reads, or their gradient

// The image row of output row oh and column of output column ow (of the pixels a strided 1x1 kernel
// reads), or -1 outside the image.
int64_t pointwise_row(const ConvGeometry& g, int64_t oh) {
  const int64_t ih = oh * g.stride_h - g.pad_top;
  return ih >= 0 && ih < g.in_height ? ih : -1;
}
int64_t pointwise_column(const ConvGeometry& g, int64_t ow) {
  const int64_t iw = ow * g.stride_w - g.pad_left;
  return iw >= 0 && iw < g.in_width ? iw : -1;
}

// The calling thread's buffer for the pixels a strided 1x1 kernel reads (batch x out_height x out_width x
// in_channels), or their gradient.
float* pointwise_buffer(const ConvGeometry& g) {
  return thread_buffer<float, PointwisePixels>(
      static_cast<size_t>(g.batch * g.out_height * g.out_width * g.in_channels));
}

// The pixels a strided 1x1 kernel reads from x, zeros where they fall outside it: its im2col columns.
float* pointwise_pixels(const float* x, const ConvGeometry& g) {
  float* pixels = pointwise_buffer(g);
  im2col(x, pixels, g, 0, g.batch);
  return pixels;
}

// dx of a strided 1x1 kernel: the gradient of the pixels it read put back where they came from, zeros
// at the pixels it skipped.
void put_pointwise_pixels(const float* pixels, const ConvGeometry& g, float* dx) {
  const int64_t c = g.in_channels, image_floats = g.in_height * g.in_width * c;
  parallel_for(g.batch, g.batch * image_floats, [&](int64_t n) {
    float* image = dx + n * image_floats;
    std::fill_n(image, image_floats, 0.0f);
    for (int64_t oh = 0; oh < g.out_height; ++oh) {
      const int64_t ih = pointwise_row(g, oh);
      if (ih < 0) continue;
      const float* in = pixels + (n * g.out_height + oh) * g.out_width * c;
      for (int64_t ow = 0; ow < g.out_width; ++ow, in += c) {
        if (const int64_t iw = pointwise_column(g, ow); iw >= 0) std::copy_n(in, c, image + (ih * g.in_width + iw) * c);
      }
    }
  });
}

}  // namespace

// Pixels the epilogue of a gemm-made output takes per work item.
constexpr int64_t kEpiloguePixels = 1024;

void conv2d_forward(const Tensor& x, const Tensor& kernel, const Tensor& y, const ConvGeometry& g,
                    const BiasActivation& epilogue) {
  if (use_direct(g, x.dtype())) {
    direct_forward(x.data<float>().data(), kernel.data<float>().data(), y, g, epilogue);
    return;
  }
  if (use_direct_pointwise(g, x.dtype())) {
    direct_forward(pointwise_pixels(x.data<float>().data(), g), kernel.data<float>().data(), y, pointwise(g), epilogue);
    return;
  }
  if (use_direct_strided(g, x.dtype())) {
    direct_forward(x.data<float>().data(), kernel.data<float>().data(), y, g, epilogue);
    return;
  }
  if (epilogue.bias != nullptr || epilogue.activation != Activation::linear) {
    // The convolution whole, then its epilogue over the output in pieces.
    conv2d_forward(x, kernel, y, g);
    const int64_t pixels = g.batch * pixels_out(g);
    parallel_for((pixels + kEpiloguePixels - 1) / kEpiloguePixels, y.numel(), [&](int64_t piece) {
      bias_activation(y, epilogue, piece * kEpiloguePixels, std::min(pixels, (piece + 1) * kEpiloguePixels));
    });
    return;
  }
  dispatch_floating(x.dtype(), "conv2d", [&]<typename T>() {
    const T* in = x.data<T>().data();
    const T* k = kernel.data<T>().data();
    T* out = y.mutable_data<T>();
    const int64_t chunk = images_per_chunk(g, sizeof(T)), width = taps(g);
    for (int64_t first = 0; first < g.batch; first += chunk) {
      const int64_t count = std::min(chunk, g.batch - first), rows = count * pixels_out(g);
      const T* cols = columns(in, g, first, count);
      gemm<T>(false, false, rows, g.out_channels, width, cols, width, k, g.out_channels,
              out + first * pixels_out(g) * g.out_channels, g.out_channels, false);
    }
  });
}

void conv2d_backward_input(const Tensor& dy, const Tensor& kernel, const Tensor& dx, const ConvGeometry& g) {
  if (use_direct(g, dy.dtype())) {
    direct_backward_input(dy.data<float>().data(), kernel.data<float>().data(), dx.mutable_data<float>(), g);
    return;
  }
  if (use_direct_pointwise(g, dy.dtype())) {
    float* pixels = pointwise_buffer(g);
    direct_backward_input(dy.data<float>().data(), kernel.data<float>().data(), pixels, pointwise(g));
    put_pointwise_pixels(pixels, g, dx.mutable_data<float>());
    return;
  }
  dispatch_floating(dy.dtype(), "conv2d_backprop_input", [&]<typename T>() {
    const T* grad = dy.data<T>().data();
    const T* k = kernel.data<T>().data();
    T* out = dx.mutable_data<T>();
    const int64_t chunk = images_per_chunk(g, sizeof(T)), width = taps(g);
    for (int64_t first = 0; first < g.batch; first += chunk) {
      const int64_t count = std::min(chunk, g.batch - first), rows = count * pixels_out(g);
      const bool direct = columns_are_input(g);
      T* cols =
          direct ? out + first * pixels_out(g) * width : thread_buffer<T, Columns>(static_cast<size_t>(rows * width));
      gemm<T>(false, true, rows, width, g.out_channels, grad + first * pixels_out(g) * g.out_channels, g.out_channels,
              k, g.out_channels, cols, width, false);
      if (!direct) col2im(cols, out, g, first, count);
    }
  });
}

void conv2d_backward_filter(const Tensor& x, const Tensor& dy, const Tensor& dkernel, const ConvGeometry& g) {
  if (use_direct(g, x.dtype())) {
    direct_backward_filter(x.data<float>().data(), dy.data<float>().data(), dkernel.mutable_data<float>(), g);
    return;
  }
  if (use_direct_pointwise(g, x.dtype())) {
    direct_backward_filter(pointwise_pixels(x.data<float>().data(), g), dy.data<float>().data(),
                           dkernel.mutable_data<float>(), pointwise(g));
    return;
  }
  if (direct_kernels_run(x.dtype()) && filter_by_channels(g)) {
    direct_backward_filter_by_channels(x.data<float>().data(), dy.data<float>().data(), dkernel.mutable_data<float>(),
                                       g);
    return;
  }
  dispatch_floating(x.dtype(), "conv2d_backprop_filter", [&]<typename T>() {
    const T* in = x.data<T>().data();
    const T* grad = dy.data<T>().data();
    T* out = dkernel.mutable_data<T>();
    const int64_t chunk = images_per_chunk(g, sizeof(T)), width = taps(g);
    if (g.batch == 0) std::fill_n(out, dkernel.numel(), T{0});
    // Chunks add into dK one after another, in a fixed order.
    for (int64_t first = 0; first < g.batch; first += chunk) {
      const int64_t count = std::min(chunk, g.batch - first), rows = count * pixels_out(g);
      const T* cols = columns(in, g, first, count);
      gemm<T>(true, false, width, g.out_channels, rows, cols, width, grad + first * pixels_out(g) * g.out_channels,
              g.out_channels, out, g.out_channels, first > 0);
    }
  });
}

}  // namespace tapegrad::kernels
