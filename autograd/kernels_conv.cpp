// Fast convolution kernels: im2col and gemm. The image is unrolled into a matrix with one row per
// output pixel and one column per kernel tap (kh, kw, c); then the convolution and both of its
// gradients are matrix products with the HWIO kernel seen as a (kh*kw*in) x out matrix:
//   y      = cols  @ K          (rows x out)
//   dcols  = dy    @ K^T        then folded back into dx (col2im)
//   dK    += cols^T @ dy
// The loops in kernels.cpp (conv2d_*_reference) are the formula these are tested against.

#include "autograd/gemm.hpp"
#include "autograd/kernels.hpp"
#include "autograd/parallel.hpp"

#include <algorithm>
#include <vector>

namespace tapegrad::kernels {

namespace {

// Below this many elements a loop runs on the calling thread: starting threads costs more.
constexpr int64_t kParallelElements = int64_t{1} << 16;

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

// The calling thread's column buffer, kept between calls: first touch of fresh memory is slow.
template <typename T>
T* column_buffer(size_t count) {
  thread_local std::vector<T> buffer;
  if (buffer.size() < count) buffer.resize(count);
  return buffer.data();
}

// Rows of the column matrix for images [first, first + count): row (n, oh, ow) holds the taps the
// kernel sees there, zeros where they fall in the padding.
template <typename T>
void im2col(const T* x, T* cols, const ConvGeometry& g, int64_t first, int64_t count) {
  const int64_t rows = count * pixels_out(g), width = taps(g), c = g.in_channels;
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (rows * width >= kParallelElements)
  for (int64_t row = 0; row < rows; ++row) {
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
  }
}

// The reverse of im2col: adds each row's taps back onto the pixels they came from. Images are
// independent, so they are split between threads; within one, the order is fixed.
template <typename T>
void col2im(const T* cols, T* dx, const ConvGeometry& g, int64_t first, int64_t count) {
  const int64_t width = taps(g), c = g.in_channels;
#pragma omp parallel for schedule(static) \
    num_threads(num_threads()) if (count * pixels_out(g) * width >= kParallelElements)
  for (int64_t image = 0; image < count; ++image) {
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
  }
}

// The column matrix of images [first, first + count): x itself for a 1x1 kernel, else unrolled
// into the thread's column buffer.
template <typename T>
const T* columns(const T* x, const ConvGeometry& g, int64_t first, int64_t count) {
  if (columns_are_input(g)) return x + first * pixels_out(g) * taps(g);
  T* buffer = column_buffer<T>(static_cast<size_t>(count * pixels_out(g) * taps(g)));
  im2col(x, buffer, g, first, count);
  return buffer;
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& kernel, const Tensor& y, const ConvGeometry& g) {
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
  dispatch_floating(dy.dtype(), "conv2d_backprop_input", [&]<typename T>() {
    const T* grad = dy.data<T>().data();
    const T* k = kernel.data<T>().data();
    T* out = dx.mutable_data<T>();
    const int64_t chunk = images_per_chunk(g, sizeof(T)), width = taps(g);
    for (int64_t first = 0; first < g.batch; first += chunk) {
      const int64_t count = std::min(chunk, g.batch - first), rows = count * pixels_out(g);
      const bool direct = columns_are_input(g);
      T* cols = direct ? out + first * pixels_out(g) * width : column_buffer<T>(static_cast<size_t>(rows * width));
      gemm<T>(false, true, rows, width, g.out_channels, grad + first * pixels_out(g) * g.out_channels, g.out_channels,
              k, g.out_channels, cols, width, false);
      if (!direct) col2im(cols, out, g, first, count);
    }
  });
}

void conv2d_backward_filter(const Tensor& x, const Tensor& dy, const Tensor& dkernel, const ConvGeometry& g) {
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
