#include "autograd/kernels.hpp"

#include <vector>

namespace tapegrad::kernels {

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

Tensor reduce_sum(const Tensor& x, const std::array<bool, Shape::kMaxRank>& reduce) {
  const Shape& shape = x.shape();
  Shape out_shape;
  for (int k = 0; k < shape.rank(); ++k) out_shape.push_back(reduce[k] ? 1 : shape.dims()[k]);
  // Each input element adds into out[its index with reduced axes set to 0].
  StridedView to_out;
  const auto out_strides = out_shape.strides();
  for (int k = 0; k < shape.rank(); ++k) to_out.strides[k] = reduce[k] ? 0 : out_strides[k];
  return dispatch_floating(x.dtype(), "sum", [&]<typename T>() {
    std::vector<double> acc(static_cast<size_t>(out_shape.numel()), 0.0);
    const T* in = x.data<T>().data();
    const int64_t n = x.numel();
    const int rank = shape.rank();
    if (rank == 0 || out_shape.numel() == 1) {
      double total = 0.0;
      for (int64_t i = 0; i < n; ++i) total += static_cast<double>(in[i]);
      if (!acc.empty()) acc[0] = total;
    } else if (n > 0) {
      const int64_t inner = shape.dims()[rank - 1];
      const int64_t s_inner = to_out.strides[rank - 1];
      std::array<int64_t, Shape::kMaxRank> index{};
      for (int64_t done = 0; done < n; done += inner) {
        int64_t o = 0;
        for (int k = 0; k < rank - 1; ++k) o += index[k] * to_out.strides[k];
        for (int64_t i = 0; i < inner; ++i) acc[static_cast<size_t>(o + i * s_inner)] += static_cast<double>(in[done + i]);
        for (int k = rank - 2; k >= 0; --k) {
          if (++index[k] < shape.dims()[k]) break;
          index[k] = 0;
        }
      }
    }
    Tensor out = Tensor::empty(out_shape, x.dtype());
    T* po = out.mutable_data<T>();
    for (size_t i = 0; i < acc.size(); ++i) po[i] = static_cast<T>(acc[i]);
    return out;
  });
}

// The three convolution loops share one index rule: input pixel (ih, iw) = (oh*s + kh*d - pad, ...).

void conv2d_forward(const Tensor& x, const Tensor& kernel, const Tensor& y, const ConvGeometry& g) {
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

void conv2d_backward_input(const Tensor& dy, const Tensor& kernel, const Tensor& dx, const ConvGeometry& g) {
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

void conv2d_backward_filter(const Tensor& x, const Tensor& dy, const Tensor& dkernel, const ConvGeometry& g) {
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

}  // namespace tapegrad::kernels
