#pragma once

// The kernels: the arithmetic of the ops over raw buffers, called by the op definitions
// (autograd/ops/*.cpp). Reference kernels (reference.cpp, and the templates below) are the formulas
// as plain loops; fast kernels (fast_*.cpp: convolution on im2col and gemm or direct on AVX-512,
// pooling, activations, corr2d, sums) take their place where a benchmark showed it pays, and are
// tested against them. `f_reference` is the yardstick of a fast kernel `f`.

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/random.hpp>
#include <tapegrad/autograd/tensor.hpp>

#include "autograd/detail/checked.hpp"

#include <array>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace tapegrad::kernels {

/// True when v ranks above `best` for a maximum as NumPy and PyTorch rank values: a greater
/// number, or a NaN over a number (so the first NaN wins, and a NaN is never masked).
template <typename T>
bool beats(T v, T best) {
  return v > best || (std::isnan(v) && !std::isnan(best));
}

/// y[i] = f(x[i]) for a float tensor; `op` names the caller in errors.
template <typename F>
Tensor map(const Tensor& x, const char* op, F f) {
  detail::check_defined(op, {x});
  return dispatch_floating(x.dtype(), op, [&]<typename T>() {
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    const T* in = x.data<T>().data();
    T* out = y.mutable_data<T>();
    const int64_t n = x.numel();
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(f(in[i]));
    return y;
  });
}

/// relu(v) as relu's op computes it: a NaN stays NaN, as PyTorch's relu (v > 0 would make it 0).
template <typename T>
T relu_value(T v) {
  return !(v <= 0) ? v : T{0};
}

/// sigmoid(v) as the reference kernel computes it, stable on both sides: e^v / (1 + e^v) for v < 0,
/// 1 / (1 + e^-v) otherwise.
template <typename T>
T sigmoid_reference_value(T v) {
  if (v >= 0) return T{1} / (T{1} + std::exp(-v));
  const T e = std::exp(v);
  return e / (T{1} + e);
}

/// An affine walk over a box: element (i0, i1, ...) sits at offset + sum(i_k * strides[k]).
struct StridedView {
  int64_t offset = 0;
  std::array<int64_t, Shape::kMaxRank> strides{};
};

/// The plain row-major walk of a contiguous tensor of `shape`, from `offset`.
StridedView dense_view(const Shape& shape, int64_t offset = 0);

/// The strides that read a tensor of `shape` as if broadcast to `to` (0 on broadcast axes).
StridedView broadcast_view(const Shape& shape, const Shape& to);

/// For each index of the box `extent`: dst[dst_view(index)] = src[src_view(index)].
/// Transpose, slice, flip, pad and broadcast are all this one loop with different views.
void strided_copy(const Tensor& src, const StridedView& src_view, const Tensor& dst, const StridedView& dst_view,
                  const Shape& extent);

/// When `shape` broadcast to `to` is its trailing axes repeated along the leading ones (a bias of
/// (C) or (1, C) against (N, H, W, C)), the number of elements it has; else 0.
inline int64_t suffix_repeat(const Shape& shape, const Shape& to) {
  const int shift = to.rank() - shape.rank();
  int k = 0;
  while (k < shape.rank() && shape.dims()[k] == 1) ++k;  // leading ones broadcast too
  for (int j = k; j < shape.rank(); ++j) {
    if (shape.dims()[j] != to.dims()[j + shift]) return 0;
  }
  return shape.numel() > 0 && shape.numel() < to.numel() ? shape.numel() : 0;
}

/// Rows shorter than this are repeated up to it before a loop runs over them (see repeated_row).
inline constexpr int64_t kRepeatedRow = 64;

/// out[i] = row[i % inner] for i < width: `row` (of `inner` elements) repeated.
template <typename T>
void repeat_row(const T* row, int64_t inner, int64_t width, T* out) {
  for (int64_t i = 0; i < width; ++i) out[i] = row[i % inner];
}

/// `row` (of `inner` elements) as a longer row of whole copies, at least kRepeatedRow long when it
/// is shorter, in `buffer`: a loop over a bias of 6 channels then runs over 66 elements at a time,
/// which the compiler vectorizes. Returns the row to use and its length.
template <typename T>
std::pair<const T*, int64_t> repeated_row(const T* row, int64_t inner, std::array<T, 2 * kRepeatedRow>& buffer) {
  if (inner >= kRepeatedRow) return {row, inner};
  const int64_t width = (kRepeatedRow + inner - 1) / inner * inner;  // < 2 * kRepeatedRow
  repeat_row(row, inner, width, buffer.data());
  return {buffer.data(), width};
}

/// out[i] = f(a[i], b[i]) with NumPy broadcasting, for float tensors (int64 too when `kAnyDtype`,
/// as comparisons allow); `op` names the caller in errors.
template <bool kAnyDtype = false, typename F>
Tensor zip(const Tensor& a, const Tensor& b, const char* op, F f) {
  detail::check_defined(op, {a, b});
  if (a.dtype() != b.dtype()) {
    fail("{}: dtypes differ ({} {} and {} {}); expected one dtype (convert with .to())", op, a.shape(),
         dtype_name(a.dtype()), b.shape(), dtype_name(b.dtype()));
  }
  // Most operands share a shape: then no broadcast shape is worked out (nor copied).
  const bool same_shape = a.shape() == b.shape();
  const Shape broadcast = same_shape ? Shape{} : broadcast_shapes(a.shape(), b.shape(), op);
  const Shape& shape = same_shape ? a.shape() : broadcast;
  const auto kernel = [&]<typename T>() {
    Tensor out = Tensor::empty(shape, a.dtype());
    const T* pa = a.data<T>().data();
    const T* pb = b.data<T>().data();
    T* po = out.mutable_data<T>();
    const int64_t n = shape.numel();
    if (a.shape() == shape && b.shape() == shape) {
      for (int64_t i = 0; i < n; ++i) po[i] = static_cast<T>(f(pa[i], pb[i]));
    } else if (b.numel() == 1 && a.shape() == shape) {
      const T vb = pb[0];
      for (int64_t i = 0; i < n; ++i) po[i] = static_cast<T>(f(pa[i], vb));
    } else if (a.numel() == 1 && b.shape() == shape) {
      const T va = pa[0];
      for (int64_t i = 0; i < n; ++i) po[i] = static_cast<T>(f(va, pb[i]));
    } else if (const int64_t inner = suffix_repeat(b.shape(), shape); inner > 0 && a.shape() == shape) {
      // b repeats along the leading axes (a bias): rows of a against the one row of b, repeated.
      std::array<T, 2 * kRepeatedRow> buffer;
      const auto [row, width] = repeated_row(pb, inner, buffer);
      int64_t o = 0;
      for (; o + width <= n; o += width)
        for (int64_t i = 0; i < width; ++i) po[o + i] = static_cast<T>(f(pa[o + i], row[i]));
      for (; o < n; o += inner)
        for (int64_t i = 0; i < inner; ++i) po[o + i] = static_cast<T>(f(pa[o + i], pb[i]));
    } else if (const int64_t inner_a = suffix_repeat(a.shape(), shape); inner_a > 0 && b.shape() == shape) {
      std::array<T, 2 * kRepeatedRow> buffer;
      const auto [row, width] = repeated_row(pa, inner_a, buffer);
      int64_t o = 0;
      for (; o + width <= n; o += width)
        for (int64_t i = 0; i < width; ++i) po[o + i] = static_cast<T>(f(row[i], pb[o + i]));
      for (; o < n; o += inner_a)
        for (int64_t i = 0; i < inner_a; ++i) po[o + i] = static_cast<T>(f(pa[i], pb[o + i]));
    } else if (n > 0) {
      // General broadcast: an odometer over the outer axes, a strided inner loop.
      const StridedView va = broadcast_view(a.shape(), shape), vb = broadcast_view(b.shape(), shape);
      const int rank = shape.rank();
      const int64_t inner = shape.dims()[rank - 1];
      const int64_t sa = va.strides[rank - 1], sb = vb.strides[rank - 1];
      std::array<int64_t, Shape::kMaxRank> index{};
      for (int64_t o = 0; o < n; o += inner) {
        int64_t oa = 0, ob = 0;
        for (int k = 0; k < rank - 1; ++k) {
          oa += index[k] * va.strides[k];
          ob += index[k] * vb.strides[k];
        }
        for (int64_t i = 0; i < inner; ++i) po[o + i] = static_cast<T>(f(pa[oa + i * sa], pb[ob + i * sb]));
        for (int k = rank - 2; k >= 0; --k) {
          if (++index[k] < shape.dims()[k]) break;
          index[k] = 0;
        }
      }
    }
    return out;
  };
  if constexpr (kAnyDtype) return dispatch(a.dtype(), kernel);
  else return dispatch_floating(a.dtype(), op, kernel);
}

/// out[i] = mask[i] != 0 ? a[i] : b[i]; all three of one shape and dtype.
Tensor select(const Tensor& mask, const Tensor& a, const Tensor& b);

/// Sums x over the axes where reduce[axis] is true; the result keeps those axes with size 1.
/// NOTE: accumulates in double, in a fixed order, whatever the dtype.
Tensor reduce_sum(const Tensor& x, const std::array<bool, Shape::kMaxRank>& reduce);
/// The exact int64 sums of an int64 x over the `reduce` axes; an overflow is an error of `op`.
Tensor reduce_sum_int64(const Tensor& x, const std::array<bool, Shape::kMaxRank>& reduce, const char* op);
/// The reference of reduce_sum (which takes a faster loop when the reduced axes are all leading or
/// all trailing): an odometer over every element, each added to its slot in row-major order.
Tensor reduce_sum_reference(const Tensor& x, const std::array<bool, Shape::kMaxRank>& reduce);

/// The largest element over the axes where reduce[axis] is true; those axes keep size 1.
Tensor reduce_max(const Tensor& x, const std::array<bool, Shape::kMaxRank>& reduce);

/// C[i] = op(A[i]) op(B[i]) for each batch i, op(X) = X, or X^T where transpose_a (transpose_b) says:
/// row-major matrices, A[i] at a_offsets[i] of a (m x k, or k x m transposed), B[i] at b_offsets[i] of
/// b (k x n, or n x k transposed), C[i] m x n, one after another in c. Runs on gemm (gemm.hpp), which
/// reads a transposed operand in place.
void matmul(const Tensor& a, const Tensor& b, const Tensor& c, int64_t batch, int64_t m, int64_t k, int64_t n,
            const std::vector<int64_t>& a_offsets, const std::vector<int64_t>& b_offsets, bool transpose_a = false,
            bool transpose_b = false);

/// For x viewed as (outer, dim, inner): y[o, j, :] = x[o, indices[j], :]; indices are checked.
void gather(const Tensor& x, const Tensor& indices, const Tensor& y, int64_t outer, int64_t dim, int64_t inner);
/// For y viewed as (outer, dim, inner), zeroed first: y[o, indices[j], :] += dy[o, j, :].
void scatter_add(const Tensor& dy, const Tensor& indices, const Tensor& y, int64_t outer, int64_t dim, int64_t inner);
/// For x viewed as (outer, dim, inner): out[o, i] = the first j with the largest x[o, j, i].
void argmax(const Tensor& x, const Tensor& out, int64_t outer, int64_t dim, int64_t inner);

/// The sizes and strides of one 2-D convolution, resolved from shapes and options.
struct ConvGeometry {
  int64_t batch, in_height, in_width, in_channels;
  int64_t kernel_height, kernel_width, out_channels;
  int64_t out_height, out_width;
  int64_t stride_h, stride_w, dilation_h, dilation_w;
  int64_t pad_top, pad_left, pad_bottom, pad_right;
};

/// What conv2d_forward applies to each piece of its output while it is in cache: a bias per channel,
/// then an activation (conv2d_bias_activation). None by default.
struct BiasActivation {
  const Tensor* bias = nullptr;  ///< (channels), or none
  Activation activation = Activation::linear;
};

/// y[p, c] = activation(y[p, c] + bias[c]) in place, for the pixels [first, end) of y seen as pixels x
/// channels: the bits of add and then relu or sigmoid as their ops compute them.
void bias_activation(const Tensor& y, const BiasActivation& epilogue, int64_t first, int64_t end);

/// y (NHWC) = cross-correlation of x (NHWC) with kernel (HWIO): the image unrolled into columns
/// (im2col), times the kernel as a (kh*kw*in) x out matrix, on gemm; in float32 on AVX-512 direct where
/// the geometry allows (stride 1, strides 2 across with output channels in vectors, 1x1 kernels with
/// strides: fast_conv.cpp, fast_conv_direct_avx512.cpp).
/// `epilogue` is applied to y's pixels: on the direct path to each piece as it is made, else after the product.
void conv2d_forward(const Tensor& x, const Tensor& kernel, const Tensor& y, const ConvGeometry& g,
                    const BiasActivation& epilogue = {});
/// dx (NHWC) from dy (NHWC) and kernel (HWIO): dy times the kernel transposed, folded back (col2im); direct
/// in float32 on AVX-512 with stride 1 or a 1x1 kernel.
void conv2d_backward_input(const Tensor& dy, const Tensor& kernel, const Tensor& dx, const ConvGeometry& g);
/// dkernel (HWIO) from x (NHWC) and dy (NHWC): the columns transposed times dy; direct in float32 on AVX-512
/// with stride 1, a 1x1 kernel, or output channels in vectors.
void conv2d_backward_filter(const Tensor& x, const Tensor& dy, const Tensor& dkernel, const ConvGeometry& g);

/// The reference of conv2d_forward: the formula as loops, the yardstick the fast kernel is tested against.
void conv2d_forward_reference(const Tensor& x, const Tensor& kernel, const Tensor& y, const ConvGeometry& g);
/// The reference of conv2d_backward_input.
void conv2d_backward_input_reference(const Tensor& dy, const Tensor& kernel, const Tensor& dx, const ConvGeometry& g);
/// The reference of conv2d_backward_filter.
void conv2d_backward_filter_reference(const Tensor& x, const Tensor& dy, const Tensor& dkernel, const ConvGeometry& g);

/// y (h x w) = the book's corr2d of the matrix x with the matrix kernel (kh x kw), valid padding:
/// y[i, j] = sum over a, b of x[i + a, j + b] * kernel[a, b]. Plain loops, for small images: the
/// book's 6x8 image and 1x2 kernel are 84 multiply-adds, fewer than conv2d_forward spends setting up.
void corr2d_small(const Tensor& x, const Tensor& kernel, const Tensor& y);

/// y = window maxima of x (NHWC, in_channels == out_channels); windows wholly in padding (which the
/// ops reject) would give 0.
/// Images run on separate threads; the same bits as the reference.
void max_pool_forward(const Tensor& x, const Tensor& y, const ConvGeometry& g);
/// dx (zeroed first) += dy at each window's first maximum of x.
void max_pool_backward(const Tensor& dy, const Tensor& x, const Tensor& dx, const ConvGeometry& g);
/// out = gsrc at each window's first maximum of x.
void max_pool_select(const Tensor& gsrc, const Tensor& x, const Tensor& out, const ConvGeometry& g);
/// y = window means of x: the sum over the pixels inside the input, divided by their count, or by
/// the whole window's (kernel_height * kernel_width) with `count_include_pad`.
void avg_pool_forward(const Tensor& x, const Tensor& y, const ConvGeometry& g, bool count_include_pad);
/// dx (zeroed first) += dy / count spread over each window's pixels inside the input (count as in
/// avg_pool_forward).
void avg_pool_backward(const Tensor& dy, const Tensor& dx, const ConvGeometry& g, bool count_include_pad);

/// The reference of max_pool_forward: every window's pixels listed, one channel at a time.
void max_pool_forward_reference(const Tensor& x, const Tensor& y, const ConvGeometry& g);
/// The reference of max_pool_backward.
void max_pool_backward_reference(const Tensor& dy, const Tensor& x, const Tensor& dx, const ConvGeometry& g);
/// The reference of max_pool_select.
void max_pool_select_reference(const Tensor& gsrc, const Tensor& x, const Tensor& out, const ConvGeometry& g);
/// The reference of avg_pool_forward.
void avg_pool_forward_reference(const Tensor& x, const Tensor& y, const ConvGeometry& g, bool count_include_pad);
/// The reference of avg_pool_backward.
void avg_pool_backward_reference(const Tensor& dy, const Tensor& dx, const ConvGeometry& g, bool count_include_pad);

/// y = 1 / (1 + e^-x), elementwise, on every thread for large tensors; float32 through a
/// vectorized e^x within 2 ulp of std::exp, float64 as the reference.
void sigmoid_forward(const Tensor& x, const Tensor& y);
/// The reference of sigmoid_forward: std::exp, stable on both sides.
void sigmoid_forward_reference(const Tensor& x, const Tensor& y);
/// dx = dy * (y * (1 - y)) for y = sigmoid(x), elementwise, in one pass.
void sigmoid_backward(const Tensor& dy, const Tensor& y, const Tensor& dx);
/// dx = dy * (x > 0 ? 1 : 0), elementwise, in one pass: the bits of dy * greater(x, 0).
void relu_backward(const Tensor& dy, const Tensor& x, const Tensor& dx);

/// The backward of an activation and a bias before it (conv2d_bias_activation's), in one pass: dz = dy
/// times the activation's gradient read from its output y (sigmoid: y (1 - y); relu: y > 0; linear: 1,
/// and dz is not written), with the bits of sigmoid_backward and relu_backward; and dbias (channels,
/// y's last axis) = dz summed over y's images (its first axis) and pixels, each image's sum in double
/// in a fixed order and then the images' sums in order: the same bits for any thread count.
void activation_backward_with_bias(const Tensor& dy, const Tensor& y, Activation activation, const Tensor& dz,
                                   const Tensor& dbias);

/// The sizes of a batch normalization: x viewed as (rows, channels), channels its last axis.
struct BatchNormGeometry {
  int64_t rows, channels;
  double epsilon;
};

/// Batch normalization in training: per channel, mean and biased variance over the rows, then
/// y = (x - mean) / sqrt(variance + epsilon) * gamma + beta. Rows in fixed blocks on every thread,
/// their sums added in block order: the same bits for any thread count.
void batch_norm_training_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y,
                                 const Tensor& mean, const Tensor& variance, const BatchNormGeometry& g);
/// Its gradients, from dy, x and the forward's mean and variance: dbeta = sum(dy), dgamma =
/// sum(dy xhat), dx = gamma rstd (dy - mean(dy) - xhat mean(dy xhat)); an undefined output is skipped.
void batch_norm_training_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                  const Tensor& variance, const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta,
                                  const BatchNormGeometry& g);
/// Batch normalization with given statistics: y = (x - mean) / sqrt(variance + epsilon) * gamma + beta.
void batch_norm_forward(const Tensor& x, const Tensor& mean, const Tensor& variance, const Tensor& gamma,
                        const Tensor& beta, const Tensor& y, const BatchNormGeometry& g);
/// The reference of batch_norm_training_forward: the formula as loops, two passes in double.
void batch_norm_training_forward_reference(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y,
                                           const Tensor& mean, const Tensor& variance, const BatchNormGeometry& g);
/// The reference of batch_norm_training_backward.
void batch_norm_training_backward_reference(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                            const Tensor& variance, const Tensor& dx, const Tensor& dgamma,
                                            const Tensor& dbeta, const BatchNormGeometry& g);
/// The reference of batch_norm_forward.
void batch_norm_forward_reference(const Tensor& x, const Tensor& mean, const Tensor& variance, const Tensor& gamma,
                                  const Tensor& beta, const Tensor& y, const BatchNormGeometry& g);

/// Inverted dropout: element i is kept when the i-th 32-bit word of `generator` (the low half of each
/// next_u64, then the high half) is at least rate * 2^32; mask[i] = 1 / (1 - rate) where kept, else 0;
/// y = x * mask.
void dropout_forward(const Tensor& x, double rate, Generator& generator, const Tensor& y, const Tensor& mask);
/// The reference of dropout_forward: one next_u64 per two elements, one element at a time.
void dropout_forward_reference(const Tensor& x, double rate, Generator& generator, const Tensor& y, const Tensor& mask);

}  // namespace tapegrad::kernels
