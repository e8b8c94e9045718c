// Fast pooling: the arithmetic of the references (max_pool_*_reference and avg_pool_*_reference in
// reference.cpp) in their order, with each window's bounds computed rather than listed, and images
// split between threads: an image's outputs (and in the backward pass its input gradient) are written
// by one thread only, so any thread count gives the same bits as the references.

#include "autograd/kernels/constant_count.hpp"
#include "autograd/kernels/gemm.hpp"
#include "autograd/kernels/kernels.hpp"
#include "autograd/kernels/parallel.hpp"
#include "autograd/kernels/pool_tiles.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>

namespace tapegrad::kernels {

namespace {

// The most pixels a window of the fast loops may have; larger windows take the reference loops.
constexpr int64_t kMaxWindowPixels = 64;

// One window's pixels inside the input: their offsets in the image (channel 0), row-major, as the
// reference lists them.
struct Window {
  std::array<int64_t, kMaxWindowPixels> pixels;
  int64_t count = 0;
};

// For each image (split between threads): start(image, image_size), then visit(image, o, window)
// for each of its output pixels in row-major order. `image` is the offset of the image in the
// input, `image_size` its element count, `o` the offset of the output pixel (channel 0).
template <typename Start, typename Visit>
void for_each_pool_window(const ConvGeometry& g, Start start, Visit visit) {
  const int64_t work = g.batch * g.out_height * g.out_width * g.out_channels * g.kernel_height * g.kernel_width;
  const int64_t in_image = g.in_height * g.in_width * g.in_channels;
  const int64_t out_image = g.out_height * g.out_width * g.out_channels;
  parallel_for(g.batch, work, [&](int64_t n) {
    const int64_t image = n * in_image;
    start(image, in_image);
    Window window;
    for (int64_t oh = 0; oh < g.out_height; ++oh) {
      const int64_t top = oh * g.stride_h - g.pad_top;
      const int64_t row_begin = std::max<int64_t>(top, 0), row_end = std::min(top + g.kernel_height, g.in_height);
      for (int64_t ow = 0; ow < g.out_width; ++ow) {
        const int64_t left = ow * g.stride_w - g.pad_left;
        const int64_t column_begin = std::max<int64_t>(left, 0);
        const int64_t column_end = std::min(left + g.kernel_width, g.in_width);
        window.count = 0;
        for (int64_t ih = row_begin; ih < row_end; ++ih)
          for (int64_t iw = column_begin; iw < column_end; ++iw) {
            window.pixels[static_cast<size_t>(window.count++)] = (ih * g.in_width + iw) * g.in_channels;
          }
        visit(image, n * out_image + (oh * g.out_width + ow) * g.out_channels, window);
      }
    }
  });
}

// The fast loops assume pooling's geometry: one output per channel, no dilation, small windows.
bool fast_pool_geometry(const ConvGeometry& g) {
  return g.dilation_h == 1 && g.dilation_w == 1 && g.in_channels == g.out_channels &&
         g.kernel_height * g.kernel_width <= kMaxWindowPixels;
}

// The offset (channel c added) of the first maximum of `image` in a non-empty window (its first NaN,
// if any, as the reference).
template <typename T>
int64_t first_max(const T* image, const Window& window, int64_t c) {
  int64_t best = window.pixels[0] + c;
  for (int64_t k = 1; k < window.count; ++k) {
    const int64_t p = window.pixels[static_cast<size_t>(k)] + c;
    if (beats(image[p], image[best])) best = p;
  }
  return best;
}

// Windows that tile the input: stride = window, no padding (LeNet's 2x2). Every window then lies
// inside the input and has all its pixels.
bool tiles_input(const ConvGeometry& g) {
  return g.stride_h == g.kernel_height && g.stride_w == g.kernel_width && g.pad_top == 0 && g.pad_left == 0 &&
         g.pad_bottom == 0 && g.pad_right == 0 && g.out_height * g.kernel_height <= g.in_height &&
         g.out_width * g.kernel_width <= g.in_width && g.out_height > 0 && g.out_width > 0;
}

// avg_pool_forward over tiling windows: each output row summed from its window rows in the reference's
// order (0, then the window's pixels row by row), with no list of pixels per window.
template <typename T>
void avg_pool_forward_tiles(const T* in, T* out, const ConvGeometry& g) {
  const int64_t c = g.in_channels, kh = g.kernel_height, kw = g.kernel_width;
  const int64_t in_row = g.in_width * c, out_row = g.out_width * c;
  const T count = static_cast<T>(kh * kw);
  const int64_t rows = g.batch * g.out_height;
  bool vectors = false;  // whole windows per vector (pool_tiles.hpp): float32, AVX-512
  if constexpr (std::is_same_v<T, float>) {
    vectors = gemm_isa() == GemmIsa::avx512 && pool_tiles::average_takes(c, kw);
  }
  parallel_for(rows, rows * out_row * kh * kw, [&](int64_t r) {
    const int64_t n = r / g.out_height, oh = r % g.out_height;
    const T* window_rows = in + (n * g.in_height + oh * kh) * in_row;
    T* o = out + r * out_row;
    if constexpr (std::is_same_v<T, float>) {
      if (vectors) return pool_tiles::average_row(window_rows, in_row, kh, kw, c, g.out_width, o);
    }
    for (int64_t i = 0; i < out_row; ++i) o[i] = T{0};
    for (int64_t a = 0; a < kh; ++a) {
      const T* row = window_rows + a * in_row;
      for (int64_t b = 0; b < kw; ++b) {
        for (int64_t ow = 0; ow < g.out_width; ++ow) {
          const T* pixel = row + (ow * kw + b) * c;
          T* target = o + ow * c;
          for (int64_t ch = 0; ch < c; ++ch) target[ch] += pixel[ch];
        }
      }
    }
    for (int64_t i = 0; i < out_row; ++i) o[i] = o[i] / count;
  });
}

// avg_pool_backward over tiling windows: each covered pixel written once, 0 + its window's share (the
// reference's sum), the pixels no window covers zeroed.
template <typename T, int kChannels>
void avg_pool_backward_tiles_of(const T* grad, T* out, const ConvGeometry& g) {
  const int64_t c = kChannels > 0 ? kChannels : g.in_channels, kh = g.kernel_height, kw = g.kernel_width;
  const int64_t in_row = g.in_width * c, out_row = g.out_width * c;
  const T share = T{1} / static_cast<T>(kh * kw);
  const int64_t covered = g.out_width * kw * c;
  parallel_for(g.batch * g.in_height, g.batch * g.in_height * in_row, [&](int64_t r) {
    const int64_t n = r / g.in_height, ih = r % g.in_height;
    T* row = out + r * in_row;
    if (ih >= g.out_height * kh) {
      for (int64_t i = 0; i < in_row; ++i) row[i] = T{0};
      return;
    }
    const T* from = grad + (n * g.out_height + ih / kh) * out_row;
    for (int64_t ow = 0; ow < g.out_width; ++ow) {
      for (int64_t b = 0; b < kw; ++b) {
        T* pixel = row + (ow * kw + b) * c;
        for (int64_t ch = 0; ch < c; ++ch) pixel[ch] = T{0} + from[ow * c + ch] * share;
      }
    }
    for (int64_t i = covered; i < in_row; ++i) row[i] = T{0};
  });
}

// Up to this many channels, the backward's loops are built for the count: the compiler unrolls the
// loop over channels (6 in LeNet's first pooling: 0.95 to 0.55 ms a step). The forward's showed no gain.
constexpr int kUnrolledChannels = 16;

template <typename T>
void avg_pool_backward_tiles(const T* grad, T* out, const ConvGeometry& g) {
  if (g.in_channels < 1 || g.in_channels > kUnrolledChannels) return avg_pool_backward_tiles_of<T, 0>(grad, out, g);
  with_count<kUnrolledChannels>(g.in_channels, [&]<int C>() { avg_pool_backward_tiles_of<T, C>(grad, out, g); });
}

}  // namespace

// The window maxima are x's own values at its first maxima: max_pool_select with x as the source.
void max_pool_forward(const Tensor& x, const Tensor& y, const ConvGeometry& g) { max_pool_select(x, x, y, g); }

void max_pool_backward(const Tensor& dy, const Tensor& x, const Tensor& dx, const ConvGeometry& g) {
  if (!fast_pool_geometry(g)) return max_pool_backward_reference(dy, x, dx, g);
  dispatch_floating(x.dtype(), "max_pool2d_backprop", [&]<typename T>() {
    const T* in = x.data<T>().data();
    const T* grad = dy.data<T>().data();
    T* out = dx.mutable_data<T>();
    for_each_pool_window(
        g, [&](int64_t image, int64_t size) { std::fill_n(out + image, size, T{0}); },
        [&](int64_t image, int64_t o, const Window& window) {
          if (window.count == 0) return;
          for (int64_t c = 0; c < g.in_channels; ++c) out[image + first_max(in + image, window, c)] += grad[o + c];
        });
  });
}

void max_pool_select(const Tensor& gsrc, const Tensor& x, const Tensor& out, const ConvGeometry& g) {
  if (!fast_pool_geometry(g)) return max_pool_select_reference(gsrc, x, out, g);
  dispatch_floating(x.dtype(), "max_pool2d_select", [&]<typename T>() {
    const T* in = x.data<T>().data();
    const T* from = gsrc.data<T>().data();
    T* to = out.mutable_data<T>();
    for_each_pool_window(
        g, [](int64_t, int64_t) {},
        [&](int64_t image, int64_t o, const Window& window) {
          for (int64_t c = 0; c < g.in_channels; ++c) {
            to[o + c] = window.count == 0 ? T{0} : from[image + first_max(in + image, window, c)];
          }
        });
  });
}

void avg_pool_forward(const Tensor& x, const Tensor& y, const ConvGeometry& g, bool count_include_pad) {
  if (!fast_pool_geometry(g)) return avg_pool_forward_reference(x, y, g, count_include_pad);
  const int64_t whole = g.kernel_height * g.kernel_width;
  dispatch_floating(x.dtype(), "avg_pool2d", [&]<typename T>() {
    const T* in = x.data<T>().data();
    T* out = y.mutable_data<T>();
    if (tiles_input(g)) return avg_pool_forward_tiles(in, out, g);
    for_each_pool_window(
        g, [](int64_t, int64_t) {},
        [&](int64_t image, int64_t o, const Window& window) {
          const T* pixels = in + image;
          for (int64_t c = 0; c < g.in_channels; ++c) {
            T total{0};
            for (int64_t k = 0; k < window.count; ++k) total += pixels[window.pixels[static_cast<size_t>(k)] + c];
            out[o + c] = window.count == 0 ? T{0} : total / static_cast<T>(count_include_pad ? whole : window.count);
          }
        });
  });
}

void avg_pool_backward(const Tensor& dy, const Tensor& dx, const ConvGeometry& g, bool count_include_pad) {
  if (!fast_pool_geometry(g)) return avg_pool_backward_reference(dy, dx, g, count_include_pad);
  const int64_t whole = g.kernel_height * g.kernel_width;
  dispatch_floating(dy.dtype(), "avg_pool2d_backprop", [&]<typename T>() {
    const int64_t channels = g.in_channels;
    const T* grad = dy.data<T>().data();
    T* out = dx.mutable_data<T>();
    if (tiles_input(g)) return avg_pool_backward_tiles(grad, out, g);
    const auto zero = [&](int64_t image, int64_t size) { std::fill_n(out + image, size, T{0}); };
    for_each_pool_window(g, zero, [&](int64_t image, int64_t o, const Window& window) {
      if (window.count == 0) return;
      const T share = T{1} / static_cast<T>(count_include_pad ? whole : window.count);
      const T* from = grad + o;
      for (int64_t k = 0; k < window.count; ++k) {
        T* pixel = out + image + window.pixels[static_cast<size_t>(k)];
        for (int64_t c = 0; c < channels; ++c) pixel[c] += from[c] * share;
      }
    });
  });
}

}  // namespace tapegrad::kernels
