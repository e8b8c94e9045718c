// Reference kernels: the arithmetic of the ops as plain loops over raw buffers, written as plainly as
// the formulas, on one thread. Some are the only kernel of their op (strided copies, reductions,
// gather); the others are the yardsticks that the fast kernels in fast_*.cpp are tested against
// (conv2d_*_reference, max_pool_*_reference, avg_pool_*_reference, sigmoid_forward_reference,
// reduce_sum_reference, batch_norm_*_reference, dropout_forward_reference).

#include "autograd/kernels/gemm.hpp"
#include "autograd/kernels/kernels.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
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

Tensor reduce_sum_reference(const Tensor& x, const std::array<bool, Shape::kMaxRank>& reduce) {
  return dispatch_floating(x.dtype(), "sum", [&]<typename T>() {
    std::vector<double> acc;
    const Shape shape = reduce_into<T>(x, reduce, acc, 0.0, [](double a, T v) { return a + static_cast<double>(v); });
    return tensor_from<T>(acc, shape, x.dtype());
  });
}

Tensor reduce_sum_int64(const Tensor& x, const std::array<bool, Shape::kMaxRank>& reduce, const char* op) {
  if (x.dtype() != DType::int64) fail("{}: expected an int64 tensor, got {}", op, dtype_name(x.dtype()));
  std::vector<int64_t> acc;
  const Shape shape = reduce_into<int64_t>(x, reduce, acc, int64_t{0}, [op](int64_t a, int64_t v) {
    int64_t total = 0;
    if (__builtin_add_overflow(a, v, &total)) fail("{}: the int64 sum overflows (at {} + {})", op, a, v);
    return total;
  });
  return tensor_from<int64_t>(acc, shape, DType::int64);
}

Tensor reduce_max(const Tensor& x, const std::array<bool, Shape::kMaxRank>& reduce) {
  if (x.dtype() == DType::int64) {
    std::vector<int64_t> acc;
    const Shape shape = reduce_into<int64_t>(x, reduce, acc, std::numeric_limits<int64_t>::min(),
                                             [](int64_t a, int64_t v) { return v > a ? v : a; });
    return tensor_from<int64_t>(acc, shape, DType::int64);
  }
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
            const std::vector<int64_t>& a_offsets, const std::vector<int64_t>& b_offsets, bool transpose_a,
            bool transpose_b) {
  dispatch_floating(a.dtype(), "matmul", [&]<typename T>() {
    T* out = c.mutable_data<T>();
    for (int64_t i = 0; i < batch; ++i) {
      gemm<T>(transpose_a, transpose_b, m, n, k, a.data<T>().data() + a_offsets[static_cast<size_t>(i)],
              transpose_a ? m : k, b.data<T>().data() + b_offsets[static_cast<size_t>(i)], transpose_b ? k : n,
              out + i * m * n, n, false);
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
          if (beats(in[(o * dim + j) * inner + i], in[(o * dim + best) * inner + i])) best = j;
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

// The offset (channel c added) of the first maximum of x in a window (its first NaN, if any), or -1
// for an empty window.
template <typename T>
int64_t window_argmax(const T* x, const std::vector<int64_t>& pixels, int64_t c) {
  int64_t best = -1;
  for (int64_t p : pixels) {
    if (best < 0 || beats(x[p + c], x[best])) best = p + c;
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

void avg_pool_forward_reference(const Tensor& x, const Tensor& y, const ConvGeometry& g, bool count_include_pad) {
  dispatch_floating(x.dtype(), "avg_pool2d", [&]<typename T>() {
    const T* in = x.data<T>().data();
    T* out = y.mutable_data<T>();
    for_each_window(g, [&](int64_t o, const std::vector<int64_t>& pixels) {
      const auto count = count_include_pad ? g.kernel_height * g.kernel_width : static_cast<int64_t>(pixels.size());
      for (int64_t c = 0; c < g.in_channels; ++c) {
        T total{0};
        for (int64_t p : pixels) total += in[p + c];
        out[o + c] = pixels.empty() ? T{0} : total / static_cast<T>(count);
      }
    });
  });
}

void avg_pool_backward_reference(const Tensor& dy, const Tensor& dx, const ConvGeometry& g, bool count_include_pad) {
  dispatch_floating(dy.dtype(), "avg_pool2d_backprop", [&]<typename T>() {
    const T* grad = dy.data<T>().data();
    T* out = dx.mutable_data<T>();
    std::fill_n(out, dx.numel(), T{0});
    for_each_window(g, [&](int64_t o, const std::vector<int64_t>& pixels) {
      if (pixels.empty()) return;
      const auto count = count_include_pad ? g.kernel_height * g.kernel_width : static_cast<int64_t>(pixels.size());
      const T share = T{1} / static_cast<T>(count);
      for (int64_t p : pixels)
        for (int64_t c = 0; c < g.in_channels; ++c) out[p + c] += grad[o + c] * share;
    });
  });
}

// ---- Sigmoid ----

void sigmoid_forward_reference(const Tensor& x, const Tensor& y) {
  dispatch_floating(x.dtype(), "sigmoid", [&]<typename T>() {
    const T* in = x.data<T>().data();
    T* out = y.mutable_data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) out[i] = sigmoid_reference_value(in[i]);
  });
}

// ---- Batch normalization ----

void batch_norm_training_forward_reference(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y,
                                           const Tensor& mean, const Tensor& variance, const BatchNormGeometry& g) {
  dispatch_floating(x.dtype(), "batch_norm_training", [&]<typename T>() {
    const T* in = x.data<T>().data();
    const T* scale = gamma.data<T>().data();
    const T* offset = beta.data<T>().data();
    T* out = y.mutable_data<T>();
    T* mu = mean.mutable_data<T>();
    T* var = variance.mutable_data<T>();
    for (int64_t c = 0; c < g.channels; ++c) {
      double sum = 0;
      for (int64_t r = 0; r < g.rows; ++r) sum += static_cast<double>(in[r * g.channels + c]);
      const double m = sum / static_cast<double>(g.rows);
      double squares = 0;
      for (int64_t r = 0; r < g.rows; ++r) {
        const double d = static_cast<double>(in[r * g.channels + c]) - m;
        squares += d * d;
      }
      const double v = squares / static_cast<double>(g.rows);  // biased, as Keras
      const double rstd = 1.0 / std::sqrt(v + g.epsilon);
      for (int64_t r = 0; r < g.rows; ++r) {
        const int64_t i = r * g.channels + c;
        out[i] = static_cast<T>((static_cast<double>(in[i]) - m) * rstd * static_cast<double>(scale[c]) +
                                static_cast<double>(offset[c]));
      }
      mu[c] = static_cast<T>(m);
      var[c] = static_cast<T>(v);
    }
  });
}

void batch_norm_training_backward_reference(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                            const Tensor& variance, const Tensor& dx, const Tensor& dgamma,
                                            const Tensor& dbeta, const BatchNormGeometry& g) {
  dispatch_floating(x.dtype(), "batch_norm_training", [&]<typename T>() {
    const T* grad = dy.data<T>().data();
    const T* in = x.data<T>().data();
    const T* scale = gamma.data<T>().data();
    const T* mu = mean.data<T>().data();
    const T* var = variance.data<T>().data();
    const auto n = static_cast<double>(g.rows);
    for (int64_t c = 0; c < g.channels; ++c) {
      const double rstd = 1.0 / std::sqrt(static_cast<double>(var[c]) + g.epsilon);
      double sum_dy = 0, sum_dy_xhat = 0;
      for (int64_t r = 0; r < g.rows; ++r) {
        const int64_t i = r * g.channels + c;
        sum_dy += static_cast<double>(grad[i]);
        sum_dy_xhat += static_cast<double>(grad[i]) * (static_cast<double>(in[i]) - static_cast<double>(mu[c])) * rstd;
      }
      if (dbeta.defined()) dbeta.mutable_data<T>()[c] = static_cast<T>(sum_dy);
      if (dgamma.defined()) dgamma.mutable_data<T>()[c] = static_cast<T>(sum_dy_xhat);
      if (!dx.defined()) continue;
      T* out = dx.mutable_data<T>();
      for (int64_t r = 0; r < g.rows; ++r) {
        const int64_t i = r * g.channels + c;
        const double xhat = (static_cast<double>(in[i]) - static_cast<double>(mu[c])) * rstd;
        out[i] = static_cast<T>(static_cast<double>(scale[c]) * rstd *
                                (static_cast<double>(grad[i]) - sum_dy / n - xhat * sum_dy_xhat / n));
      }
    }
  });
}

void batch_norm_forward_reference(const Tensor& x, const Tensor& mean, const Tensor& variance, const Tensor& gamma,
                                  const Tensor& beta, const Tensor& y, const BatchNormGeometry& g) {
  dispatch_floating(x.dtype(), "batch_norm", [&]<typename T>() {
    const T* in = x.data<T>().data();
    const T* mu = mean.data<T>().data();
    const T* var = variance.data<T>().data();
    const T* scale = gamma.data<T>().data();
    const T* offset = beta.data<T>().data();
    T* out = y.mutable_data<T>();
    for (int64_t r = 0; r < g.rows; ++r) {
      for (int64_t c = 0; c < g.channels; ++c) {
        const int64_t i = r * g.channels + c;
        const double rstd = 1.0 / std::sqrt(static_cast<double>(var[c]) + g.epsilon);
        out[i] = static_cast<T>((static_cast<double>(in[i]) - static_cast<double>(mu[c])) * rstd *
                                    static_cast<double>(scale[c]) +
                                static_cast<double>(offset[c]));
      }
    }
  });
}

// ---- Dropout ----

void dropout_forward_reference(const Tensor& x, double rate, Generator& generator, const Tensor& y,
                               const Tensor& mask) {
  dispatch_floating(x.dtype(), "dropout", [&]<typename T>() {
    const T* in = x.data<T>().data();
    T* out = y.mutable_data<T>();
    T* kept = mask.mutable_data<T>();
    const auto threshold = static_cast<uint64_t>(std::ceil(rate * 4294967296.0));
    const T scale = static_cast<T>(1.0 / (1.0 - rate));
    uint64_t bits = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      if (i % 2 == 0) bits = generator.next_u64();
      const uint64_t word = i % 2 == 0 ? (bits & 0xffffffffU) : (bits >> 32);
      kept[i] = word >= threshold ? scale : T{0};
      out[i] = in[i] * kept[i];
    }
  });
}

}  // namespace tapegrad::kernels
