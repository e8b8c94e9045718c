#include "autograd/kernels/kernels.hpp"

#include "autograd/kernels/constant_count.hpp"
#include "autograd/kernels/gemm.hpp"
#include "autograd/kernels/parallel.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

namespace tapegrad::kernels {

StridedView dense_view(const Shape& shape, int64_t offset) {
  StridedView view;
  view.offset = offset;
  const auto strides = shape.strides();
  std::copy(strides.begin(), strides.end(), view.strides.begin());
  return view;
}

StridedView broadcast_view(const Shape& shape, const Shape& to) {
  StridedView view;
  const auto strides = shape.strides();
  const int shift = to.rank() - shape.rank();
  for (int k = 0; k < shape.rank(); ++k) {
    view.strides[k + shift] = shape.dims()[k] == 1 ? 0 : strides[k];
  }
  return view;
}

void strided_copy(const Tensor& src, const StridedView& src_view, const Tensor& dst, const StridedView& dst_view,
                  const Shape& extent) {
  const int64_t n = extent.numel();
  if (n == 0) return;
  dispatch(src.dtype(), [&]<typename T>() {
    const T* in = src.data<T>().data();
    T* out = dst.mutable_data<T>();
    const int rank = extent.rank();
    if (rank == 0) {
      out[dst_view.offset] = in[src_view.offset];
      return;
    }
    const int64_t inner = extent.dims()[rank - 1];
    const int64_t s_in = src_view.strides[rank - 1], s_out = dst_view.strides[rank - 1];
    std::array<int64_t, Shape::kMaxRank> index{};
    for (int64_t done = 0; done < n; done += inner) {
      int64_t o_in = src_view.offset, o_out = dst_view.offset;
      for (int k = 0; k < rank - 1; ++k) {
        o_in += index[k] * src_view.strides[k];
        o_out += index[k] * dst_view.strides[k];
      }
      for (int64_t i = 0; i < inner; ++i) out[o_out + i * s_out] = in[o_in + i * s_in];
      for (int k = rank - 2; k >= 0; --k) {
        if (++index[k] < extent.dims()[k]) break;
        index[k] = 0;
      }
    }
  });
}

namespace {

// Folds each element of x into acc[its index with the reduced axes set to 0].
template <typename T, typename Acc, typename Combine>
Shape reduce_into(const Tensor& x, const std::array<bool, Shape::kMaxRank>& reduce, std::vector<Acc>& acc, Acc init,
                  Combine combine) {
  const Shape& shape = x.shape();
  Shape out_shape;
  for (int k = 0; k < shape.rank(); ++k) out_shape.push_back(reduce[k] ? 1 : shape.dims()[k]);
  StridedView to_out;
  const auto out_strides = out_shape.strides();
  for (int k = 0; k < shape.rank(); ++k) to_out.strides[k] = reduce[k] ? 0 : out_strides[k];
  acc.assign(static_cast<size_t>(out_shape.numel()), init);
  const T* in = x.data<T>().data();
  const int64_t n = x.numel();
  const int rank = shape.rank();
  if (rank == 0 || out_shape.numel() == 1) {
    for (int64_t i = 0; i < n; ++i) acc[0] = combine(acc[0], in[i]);
    return out_shape;
  }
  if (n == 0) return out_shape;
  const int64_t inner = shape.dims()[rank - 1];
  const int64_t s_inner = to_out.strides[rank - 1];
  std::array<int64_t, Shape::kMaxRank> index{};
  for (int64_t done = 0; done < n; done += inner) {
    int64_t o = 0;
    for (int k = 0; k < rank - 1; ++k) o += index[k] * to_out.strides[k];
    for (int64_t i = 0; i < inner; ++i) {
      Acc& slot = acc[static_cast<size_t>(o + i * s_inner)];
      slot = combine(slot, in[done + i]);
    }
    for (int k = rank - 2; k >= 0; --k) {
      if (++index[k] < shape.dims()[k]) break;
      index[k] = 0;
    }
  }
  return out_shape;
}

template <typename T, typename Acc>
Tensor tensor_from(const std::vector<Acc>& values, const Shape& shape, DType dtype) {
  Tensor out = Tensor::empty(shape, dtype);
  std::ranges::transform(values, out.mutable_data<T>(), [](Acc v) { return static_cast<T>(v); });
  return out;
}

}  // namespace

namespace {

// The sums of x viewed as (outer, inner) when the reduced axes all come before the kept ones
// (`reduce_outer`: a bias's gradient, summed over batch and pixels) or all after them, in the
// order reduce_into adds: each slot's elements in row-major order. Nothing when the axes interleave.
template <typename T>
std::optional<Tensor> reduce_sum_contiguous(const Tensor& x, const std::array<bool, Shape::kMaxRank>& reduce) {
  const Shape& shape = x.shape();
  const int rank = shape.rank();
  int split = 0;
  const bool reduce_outer = rank > 0 && reduce[0];
  while (split < rank && reduce[split] == reduce_outer) ++split;
  for (int k = split; k < rank; ++k) {
    if (reduce[k] == reduce_outer) return std::nullopt;
  }
  int64_t outer = 1, inner = 1;
  Shape out_shape;
  for (int k = 0; k < rank; ++k) {
    (k < split ? outer : inner) *= shape.dims()[k];
    out_shape.push_back(reduce[k] ? 1 : shape.dims()[k]);
  }
  const T* in = x.data<T>().data();
  Tensor out = Tensor::empty(out_shape, x.dtype());
  T* result = out.mutable_data<T>();
  if (reduce_outer) {
    std::vector<double> acc(static_cast<size_t>(inner), 0.0);
    for (int64_t o = 0; o < outer; ++o) {
      const T* row = in + o * inner;
      for (int64_t i = 0; i < inner; ++i) acc[static_cast<size_t>(i)] += static_cast<double>(row[i]);
    }
    for (int64_t i = 0; i < inner; ++i) result[i] = static_cast<T>(acc[static_cast<size_t>(i)]);
  } else {
    for (int64_t o = 0; o < outer; ++o) {
      double total = 0.0;
      for (int64_t i = 0; i < inner; ++i) total += static_cast<double>(in[o * inner + i]);
      result[o] = static_cast<T>(total);
    }
  }
  return out;
}

}  // namespace

Tensor reduce_sum(const Tensor& x, const std::array<bool, Shape::kMaxRank>& reduce) {
  std::optional<Tensor> fast =
      dispatch_floating(x.dtype(), "sum", [&]<typename T>() { return reduce_sum_contiguous<T>(x, reduce); });
  return fast ? std::move(*fast) : reduce_sum_reference(x, reduce);
}

Tensor reduce_sum_reference(const Tensor& x, const std::array<bool, Shape::kMaxRank>& reduce) {
  return dispatch_floating(x.dtype(), "sum", [&]<typename T>() {
    std::vector<double> acc;
    const Shape shape = reduce_into<T>(x, reduce, acc, 0.0, [](double a, T v) { return a + static_cast<double>(v); });
    return tensor_from<T>(acc, shape, x.dtype());
  });
}

Tensor reduce_max(const Tensor& x, const std::array<bool, Shape::kMaxRank>& reduce) {
  return dispatch_floating(x.dtype(), "reduce_max", [&]<typename T>() {
    std::vector<T> acc;
    // NOTE: NaN propagates, as in NumPy's max.
    const Shape shape = reduce_into<T>(x, reduce, acc, -std::numeric_limits<T>::infinity(),
                                       [](T a, T v) { return (v > a || std::isnan(v)) && !std::isnan(a) ? v : a; });
    return tensor_from<T>(acc, shape, x.dtype());
  });
}

Tensor select(const Tensor& mask, const Tensor& a, const Tensor& b) {
  return dispatch_floating(a.dtype(), "where", [&]<typename T>() {
    Tensor out = Tensor::empty(a.shape(), a.dtype());
    const T* m = mask.data<T>().data();
    const T* pa = a.data<T>().data();
    const T* pb = b.data<T>().data();
    T* po = out.mutable_data<T>();
    for (int64_t i = 0; i < a.numel(); ++i) po[i] = m[i] != 0 ? pa[i] : pb[i];
    return out;
  });
}

void matmul(const Tensor& a, const Tensor& b, const Tensor& c, int64_t batch, int64_t m, int64_t k, int64_t n,
            const std::vector<int64_t>& a_offsets, const std::vector<int64_t>& b_offsets) {
  dispatch_floating(a.dtype(), "matmul", [&]<typename T>() {
    T* out = c.mutable_data<T>();
    for (int64_t i = 0; i < batch; ++i) {
      gemm<T>(false, false, m, n, k, a.data<T>().data() + a_offsets[static_cast<size_t>(i)], k,
              b.data<T>().data() + b_offsets[static_cast<size_t>(i)], n, out + i * m * n, n, false);
    }
  });
}

void gather(const Tensor& x, const Tensor& indices, const Tensor& y, int64_t outer, int64_t dim, int64_t inner) {
  const auto idx = indices.data<int64_t>();
  dispatch(x.dtype(), [&]<typename T>() {
    const T* in = x.data<T>().data();
    T* out = y.mutable_data<T>();
    const auto count = static_cast<int64_t>(idx.size());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < count; ++j) {
        std::copy_n(in + (o * dim + idx[static_cast<size_t>(j)]) * inner, inner, out + (o * count + j) * inner);
      }
  });
}

void scatter_add(const Tensor& dy, const Tensor& indices, const Tensor& y, int64_t outer, int64_t dim, int64_t inner) {
  const auto idx = indices.data<int64_t>();
  dispatch_floating(dy.dtype(), "scatter_add", [&]<typename T>() {
    const T* in = dy.data<T>().data();
    T* out = y.mutable_data<T>();
    std::fill_n(out, y.numel(), T{0});
    const auto count = static_cast<int64_t>(idx.size());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < count; ++j) {
        T* row = out + (o * dim + idx[static_cast<size_t>(j)]) * inner;
        const T* from = in + (o * count + j) * inner;
        for (int64_t i = 0; i < inner; ++i) row[i] += from[i];
      }
  });
}

void argmax(const Tensor& x, const Tensor& out, int64_t outer, int64_t dim, int64_t inner) {
  int64_t* result = out.mutable_data<int64_t>();
  dispatch_floating(x.dtype(), "argmax", [&]<typename T>() {
    const T* in = x.data<T>().data();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t best = 0;
        for (int64_t j = 1; j < dim; ++j) {
          if (in[(o * dim + j) * inner + i] > in[(o * dim + best) * inner + i]) best = j;
        }
        result[o * inner + i] = best;
      }
  });
}

// The three convolution loops share one index rule: input pixel (ih, iw) = (oh*s + kh*d - pad, ...).

void conv2d_forward_reference(const Tensor& x, const Tensor& kernel, const Tensor& y, const ConvGeometry& g) {
  dispatch_floating(x.dtype(), "conv2d", [&]<typename T>() {
    const T* in = x.data<T>().data();
    const T* k = kernel.data<T>().data();
    T* out = y.mutable_data<T>();
    std::vector<T> acc(static_cast<size_t>(g.out_channels));
    for (int64_t n = 0; n < g.batch; ++n)
      for (int64_t oh = 0; oh < g.out_height; ++oh)
        for (int64_t ow = 0; ow < g.out_width; ++ow) {
          std::fill(acc.begin(), acc.end(), T{0});
          for (int64_t kh = 0; kh < g.kernel_height; ++kh) {
            const int64_t ih = oh * g.stride_h + kh * g.dilation_h - g.pad_top;
            if (ih < 0 || ih >= g.in_height) continue;
            for (int64_t kw = 0; kw < g.kernel_width; ++kw) {
              const int64_t iw = ow * g.stride_w + kw * g.dilation_w - g.pad_left;
              if (iw < 0 || iw >= g.in_width) continue;
              const T* pixel = in + ((n * g.in_height + ih) * g.in_width + iw) * g.in_channels;
              const T* taps = k + (kh * g.kernel_width + kw) * g.in_channels * g.out_channels;
              for (int64_t c = 0; c < g.in_channels; ++c)
                for (int64_t o = 0; o < g.out_channels; ++o) acc[o] += pixel[c] * taps[c * g.out_channels + o];
            }
          }
          std::copy(acc.begin(), acc.end(), out + ((n * g.out_height + oh) * g.out_width + ow) * g.out_channels);
        }
  });
}

void conv2d_backward_input_reference(const Tensor& dy, const Tensor& kernel, const Tensor& dx, const ConvGeometry& g) {
  dispatch_floating(dy.dtype(), "conv2d_backprop_input", [&]<typename T>() {
    const T* grad = dy.data<T>().data();
    const T* k = kernel.data<T>().data();
    T* out = dx.mutable_data<T>();
    std::fill_n(out, dx.numel(), T{0});
    for (int64_t n = 0; n < g.batch; ++n)
      for (int64_t oh = 0; oh < g.out_height; ++oh)
        for (int64_t ow = 0; ow < g.out_width; ++ow) {
          const T* upstream = grad + ((n * g.out_height + oh) * g.out_width + ow) * g.out_channels;
          for (int64_t kh = 0; kh < g.kernel_height; ++kh) {
            const int64_t ih = oh * g.stride_h + kh * g.dilation_h - g.pad_top;
            if (ih < 0 || ih >= g.in_height) continue;
            for (int64_t kw = 0; kw < g.kernel_width; ++kw) {
              const int64_t iw = ow * g.stride_w + kw * g.dilation_w - g.pad_left;
              if (iw < 0 || iw >= g.in_width) continue;
              T* pixel = out + ((n * g.in_height + ih) * g.in_width + iw) * g.in_channels;
              const T* taps = k + (kh * g.kernel_width + kw) * g.in_channels * g.out_channels;
              for (int64_t c = 0; c < g.in_channels; ++c) {
                T total{0};
                for (int64_t o = 0; o < g.out_channels; ++o) total += upstream[o] * taps[c * g.out_channels + o];
                pixel[c] += total;
              }
            }
          }
        }
  });
}

void conv2d_backward_filter_reference(const Tensor& x, const Tensor& dy, const Tensor& dkernel, const ConvGeometry& g) {
  dispatch_floating(x.dtype(), "conv2d_backprop_filter", [&]<typename T>() {
    const T* in = x.data<T>().data();
    const T* grad = dy.data<T>().data();
    T* out = dkernel.mutable_data<T>();
    std::fill_n(out, dkernel.numel(), T{0});
    for (int64_t n = 0; n < g.batch; ++n)
      for (int64_t oh = 0; oh < g.out_height; ++oh)
        for (int64_t ow = 0; ow < g.out_width; ++ow) {
          const T* upstream = grad + ((n * g.out_height + oh) * g.out_width + ow) * g.out_channels;
          for (int64_t kh = 0; kh < g.kernel_height; ++kh) {
            const int64_t ih = oh * g.stride_h + kh * g.dilation_h - g.pad_top;
            if (ih < 0 || ih >= g.in_height) continue;
            for (int64_t kw = 0; kw < g.kernel_width; ++kw) {
              const int64_t iw = ow * g.stride_w + kw * g.dilation_w - g.pad_left;
              if (iw < 0 || iw >= g.in_width) continue;
              const T* pixel = in + ((n * g.in_height + ih) * g.in_width + iw) * g.in_channels;
              T* taps = out + (kh * g.kernel_width + kw) * g.in_channels * g.out_channels;
              for (int64_t c = 0; c < g.in_channels; ++c)
                for (int64_t o = 0; o < g.out_channels; ++o) taps[c * g.out_channels + o] += pixel[c] * upstream[o];
            }
          }
        }
  });
}

// ---- Pooling: each output pixel (n, oh, ow) of channel c looks at one window of the input ----

namespace {
// Calls visit(output offset, window's input pixel offsets) for every output pixel; offsets are
// of channel 0, so a channel c adds c.
template <typename Visit>
void for_each_window(const ConvGeometry& g, Visit visit) {
  std::vector<int64_t> pixels;
  pixels.reserve(static_cast<size_t>(g.kernel_height * g.kernel_width));
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t oh = 0; oh < g.out_height; ++oh)
      for (int64_t ow = 0; ow < g.out_width; ++ow) {
        pixels.clear();
        for (int64_t kh = 0; kh < g.kernel_height; ++kh) {
          const int64_t ih = oh * g.stride_h + kh * g.dilation_h - g.pad_top;
          if (ih < 0 || ih >= g.in_height) continue;
          for (int64_t kw = 0; kw < g.kernel_width; ++kw) {
            const int64_t iw = ow * g.stride_w + kw * g.dilation_w - g.pad_left;
            if (iw >= 0 && iw < g.in_width)
              pixels.push_back(((n * g.in_height + ih) * g.in_width + iw) * g.in_channels);
          }
        }
        visit(((n * g.out_height + oh) * g.out_width + ow) * g.out_channels, pixels);
      }
}

// The offset (channel c added) of the first maximum of x in a window, or -1 for an empty window.
template <typename T>
int64_t window_argmax(const T* x, const std::vector<int64_t>& pixels, int64_t c) {
  int64_t best = -1;
  for (int64_t p : pixels) {
    if (best < 0 || x[p + c] > x[best]) best = p + c;
  }
  return best;
}
}  // namespace

void max_pool_forward_reference(const Tensor& x, const Tensor& y, const ConvGeometry& g) {
  dispatch_floating(x.dtype(), "max_pool2d", [&]<typename T>() {
    const T* in = x.data<T>().data();
    T* out = y.mutable_data<T>();
    for_each_window(g, [&](int64_t o, const std::vector<int64_t>& pixels) {
      for (int64_t c = 0; c < g.in_channels; ++c) {
        const int64_t best = window_argmax(in, pixels, c);
        out[o + c] = best < 0 ? T{0} : in[best];
      }
    });
  });
}

void max_pool_backward_reference(const Tensor& dy, const Tensor& x, const Tensor& dx, const ConvGeometry& g) {
  dispatch_floating(x.dtype(), "max_pool2d_backprop", [&]<typename T>() {
    const T* in = x.data<T>().data();
    const T* grad = dy.data<T>().data();
    T* out = dx.mutable_data<T>();
    std::fill_n(out, dx.numel(), T{0});
    for_each_window(g, [&](int64_t o, const std::vector<int64_t>& pixels) {
      for (int64_t c = 0; c < g.in_channels; ++c) {
        const int64_t best = window_argmax(in, pixels, c);
        if (best >= 0) out[best] += grad[o + c];
      }
    });
  });
}

void max_pool_select_reference(const Tensor& gsrc, const Tensor& x, const Tensor& out, const ConvGeometry& g) {
  dispatch_floating(x.dtype(), "max_pool2d_select", [&]<typename T>() {
    const T* in = x.data<T>().data();
    const T* from = gsrc.data<T>().data();
    T* to = out.mutable_data<T>();
    for_each_window(g, [&](int64_t o, const std::vector<int64_t>& pixels) {
      for (int64_t c = 0; c < g.in_channels; ++c) {
        const int64_t best = window_argmax(in, pixels, c);
        to[o + c] = best < 0 ? T{0} : from[best];
      }
    });
  });
}

void avg_pool_forward_reference(const Tensor& x, const Tensor& y, const ConvGeometry& g) {
  dispatch_floating(x.dtype(), "avg_pool2d", [&]<typename T>() {
    const T* in = x.data<T>().data();
    T* out = y.mutable_data<T>();
    for_each_window(g, [&](int64_t o, const std::vector<int64_t>& pixels) {
      for (int64_t c = 0; c < g.in_channels; ++c) {
        T total{0};
        for (int64_t p : pixels) total += in[p + c];
        out[o + c] = pixels.empty() ? T{0} : total / static_cast<T>(pixels.size());
      }
    });
  });
}

void avg_pool_backward_reference(const Tensor& dy, const Tensor& dx, const ConvGeometry& g) {
  dispatch_floating(dy.dtype(), "avg_pool2d_backprop", [&]<typename T>() {
    const T* grad = dy.data<T>().data();
    T* out = dx.mutable_data<T>();
    std::fill_n(out, dx.numel(), T{0});
    for_each_window(g, [&](int64_t o, const std::vector<int64_t>& pixels) {
      if (pixels.empty()) return;
      const T share = T{1} / static_cast<T>(pixels.size());
      for (int64_t p : pixels)
        for (int64_t c = 0; c < g.in_channels; ++c) out[p + c] += grad[o + c] * share;
    });
  });
}

// ---- Pooling, fast: the references' arithmetic in the references' order, with each window's
// bounds computed rather than listed, and images split between threads: an image's outputs (and in
// the backward pass its input gradient) are written by one thread only, so any thread count gives
// the same bits as the references ----

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

// The offset (channel c added) of the first maximum of `image` in a non-empty window.
template <typename T>
int64_t first_max(const T* image, const Window& window, int64_t c) {
  int64_t best = window.pixels[0] + c;
  for (int64_t k = 1; k < window.count; ++k) {
    const int64_t p = window.pixels[static_cast<size_t>(k)] + c;
    if (image[p] > image[best]) best = p;
  }
  return best;
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

void avg_pool_forward(const Tensor& x, const Tensor& y, const ConvGeometry& g) {
  if (!fast_pool_geometry(g)) return avg_pool_forward_reference(x, y, g);
  dispatch_floating(x.dtype(), "avg_pool2d", [&]<typename T>() {
    const T* in = x.data<T>().data();
    T* out = y.mutable_data<T>();
    for_each_pool_window(
        g, [](int64_t, int64_t) {},
        [&](int64_t image, int64_t o, const Window& window) {
          const T* pixels = in + image;
          for (int64_t c = 0; c < g.in_channels; ++c) {
            T total{0};
            for (int64_t k = 0; k < window.count; ++k) total += pixels[window.pixels[static_cast<size_t>(k)] + c];
            out[o + c] = window.count == 0 ? T{0} : total / static_cast<T>(window.count);
          }
        });
  });
}

void avg_pool_backward(const Tensor& dy, const Tensor& dx, const ConvGeometry& g) {
  if (!fast_pool_geometry(g)) return avg_pool_backward_reference(dy, dx, g);
  // Windows that tile the input (stride = window, no padding, as LeNet's 2x2) give each pixel at
  // most one share: it is written once, as 0 + share (the reference's sum, -0 included), and only
  // the pixels no window covers are zeroed.
  const bool tiles = g.stride_h == g.kernel_height && g.stride_w == g.kernel_width && g.pad_top == 0 &&
                     g.pad_left == 0 && g.pad_bottom == 0 && g.pad_right == 0;
  dispatch_floating(dy.dtype(), "avg_pool2d_backprop", [&]<typename T>() {
    const int64_t channels = g.in_channels;
    const int64_t covered_rows = g.out_height * g.stride_h, covered_width = g.out_width * g.stride_w * channels;
    const int64_t row = g.in_width * channels;
    const T* grad = dy.data<T>().data();
    T* out = dx.mutable_data<T>();
    const auto zero = [&](int64_t image, int64_t size) {
      T* pixels = out + image;
      if (!tiles) {
        std::fill_n(pixels, size, T{0});
        return;
      }
      for (int64_t ih = 0; ih < covered_rows; ++ih) {
        std::fill(pixels + ih * row + covered_width, pixels + (ih + 1) * row, T{0});
      }
      std::fill(pixels + covered_rows * row, pixels + size, T{0});
    };
    for_each_pool_window(g, zero, [&](int64_t image, int64_t o, const Window& window) {
      if (window.count == 0) return;
      const T share = T{1} / static_cast<T>(window.count);
      const T* from = grad + o;
      for (int64_t k = 0; k < window.count; ++k) {
        T* pixel = out + image + window.pixels[static_cast<size_t>(k)];
        if (tiles) {
          for (int64_t c = 0; c < channels; ++c) pixel[c] = T{0} + from[c] * share;
        } else {
          for (int64_t c = 0; c < channels; ++c) pixel[c] += from[c] * share;
        }
      }
    });
  });
}

// ---- Sigmoid ----

namespace {

// e^t for t in [-104, 0], as arithmetic the compiler vectorizes, where std::exp is a call per
// element: t = n ln 2 + r with |r| <= ln 2 / 2, e^r by Cephes' expf polynomial, 2^n built from
// exponent bits in two halves so that n down to -150 stays a normal float.
// NOTE: within 2 ulp of std::exp (measured); tests/autograd/test_kernels_fast.cpp checks it.
inline float exp_nonpositive(float t) {
  const auto n = static_cast<int32_t>(t * 1.44269504088896341f - 0.5f);  // rounds t / ln 2 to nearest: t <= 0
  const auto fn = static_cast<float>(n);
  float r = t - fn * 0.693359375f;  // ln 2 in two parts: fn * 0.693359375 is exact
  r = r - fn * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.0f;
  const int32_t half = n / 2;  // n and n - half are both >= -75
  return er * std::bit_cast<float>((half + 127) << 23) * std::bit_cast<float>((n - half + 127) << 23);
}

// Elementwise kernels split their work into blocks of this many elements between threads.
constexpr int64_t kElementwiseBlock = int64_t{1} << 14;

// f(begin, end) over [0, n) in blocks of kElementwiseBlock, the blocks shared out by parallel_for.
template <typename F>
void for_blocks(int64_t n, F&& f) {
  parallel_for((n + kElementwiseBlock - 1) / kElementwiseBlock, n, [&](int64_t b) {
    const int64_t begin = b * kElementwiseBlock;
    f(begin, std::min(n, begin + kElementwiseBlock));
  });
}

// sigmoid of `count` floats. Every choice is made on the bits (the magnitude's clamp, the sign,
// NaN), where comparing floats would stop the compiler from vectorizing: non-negative floats order
// as their bit patterns. Built twice, for AVX2 (8 lanes) and for any x86-64 (4); neither may fuse
// a multiply and an add (AVX2 alone has no FMA), so both give the same bits.
__attribute__((target_clones("avx2", "default"))) void sigmoid_block(const float* in, float* out, int64_t count) {
  constexpr int32_t kInfinity = 0x7f800000, kOne = 0x3f800000;
  const int32_t clamp = std::bit_cast<int32_t>(104.0f);  // e^-104 is below float's smallest subnormal
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) {
    const auto bits = std::bit_cast<int32_t>(in[i]);
    const int32_t magnitude = bits & 0x7fffffff;
    const float e = exp_nonpositive(-std::bit_cast<float>(magnitude < clamp ? magnitude : clamp));  // e^-|v|
    // The reference's 1 / (1 + e^-v) for v >= 0 and e^v / (1 + e^v) below, as one division.
    const float s = std::bit_cast<float>(bits < 0 ? std::bit_cast<int32_t>(e) : kOne) / (1.0f + e);
    const int32_t nan = -static_cast<int32_t>(magnitude > kInfinity);  // all ones where v is NaN: it stays NaN
    out[i] = std::bit_cast<float>((bits & nan) | (std::bit_cast<int32_t>(s) & ~nan));
  }
}

}  // namespace

void sigmoid_forward_reference(const Tensor& x, const Tensor& y) {
  dispatch_floating(x.dtype(), "sigmoid", [&]<typename T>() {
    const T* in = x.data<T>().data();
    T* out = y.mutable_data<T>();
    // Stable on both sides: e^x / (1 + e^x) for x < 0, 1 / (1 + e^-x) otherwise.
    for (int64_t i = 0; i < x.numel(); ++i) {
      const T v = in[i];
      if (v >= 0) {
        out[i] = T{1} / (T{1} + std::exp(-v));
      } else {
        const T e = std::exp(v);
        out[i] = e / (T{1} + e);
      }
    }
  });
}

void sigmoid_forward(const Tensor& x, const Tensor& y) {
  const int64_t n = x.numel();
  if (x.dtype() != DType::float32) {
    return sigmoid_forward_reference(x, y);
  }
  const float* in = x.data<float>().data();
  float* out = y.mutable_data<float>();
  for_blocks(n, [&](int64_t begin, int64_t end) { sigmoid_block(in + begin, out + begin, end - begin); });
}

void sigmoid_backward(const Tensor& dy, const Tensor& y, const Tensor& dx) {
  dispatch_floating(y.dtype(), "sigmoid_backprop", [&]<typename T>() {
    const T* grad = dy.data<T>().data();
    const T* out = y.data<T>().data();
    T* result = dx.mutable_data<T>();
    for_blocks(y.numel(), [&](int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) result[i] = grad[i] * (out[i] * (T{1} - out[i]));
    });
  });
}

// ---- ReLU's gradient ----

void relu_backward(const Tensor& dy, const Tensor& x, const Tensor& dx) {
  dispatch_floating(x.dtype(), "relu_backprop", [&]<typename T>() {
    const T* grad = dy.data<T>().data();
    const T* in = x.data<T>().data();
    T* result = dx.mutable_data<T>();
    // Multiplied by the 0/1 mask rather than selected, as dy * greater(x, 0) is: -0 and NaN in dy
    // keep their bits. (The mask as its own variable is what lets GCC vectorize the loop.)
    for_blocks(x.numel(), [&](int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) {
        const T mask = in[i] > T{0} ? T{1} : T{0};
        result[i] = grad[i] * mask;
      }
    });
  });
}

namespace {
// N adjacent outputs of one row, held in registers while every tap adds to them (the kernel
// gradient's shape, a 1x2 output under a 6x7 kernel, otherwise runs one long chain of loads and
// stores through memory). Each output adds its taps in row-major order, as the reference does.
template <int N, typename T>
void correlate_outputs(const T* in, int64_t width, const T* k, int64_t kh, int64_t kw, T* out) {
  std::array<T, N> sums{};
  for (int64_t a = 0; a < kh; ++a)
    for (int64_t b = 0; b < kw; ++b) {
      const T tap = k[a * kw + b];
      const T* from = in + a * width + b;
      for (int j = 0; j < N; ++j) sums[j] += from[j] * tap;
    }
  std::copy(sums.begin(), sums.end(), out);
}
}  // namespace

void corr2d_small(const Tensor& x, const Tensor& kernel, const Tensor& y) {
  dispatch_floating(x.dtype(), "corr2d", [&]<typename T>() {
    constexpr int kBlock = 8;
    const int64_t width = x.shape()[1], kh = kernel.shape()[0], kw = kernel.shape()[1];
    const int64_t out_h = y.shape()[0], out_w = y.shape()[1];
    const T* in = x.data<T>().data();
    const T* k = kernel.data<T>().data();
    T* out = y.mutable_data<T>();
    for (int64_t i = 0; i < out_h; ++i) {
      int64_t j = 0;
      for (; j + kBlock <= out_w; j += kBlock) {
        correlate_outputs<kBlock>(in + i * width + j, width, k, kh, kw, out + i * out_w + j);
      }
      if (j < out_w) {  // the row's last 1 to kBlock - 1 outputs
        with_count<kBlock - 1>(out_w - j, [&]<int N>() {
          correlate_outputs<N>(in + i * width + j, width, k, kh, kw, out + i * out_w + j);
        });
      }
    }
  });
}

}  // namespace tapegrad::kernels
