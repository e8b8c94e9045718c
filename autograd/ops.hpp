#pragma once

#include <tapegrad/autograd/random.hpp>
#include <tapegrad/autograd/tensor.hpp>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <vector>

// The differentiable ops. Each is defined once (forward kernel call, shape rule, gradient written
// with these same ops) in autograd/ops_*.cpp. Binary ops broadcast as NumPy does; the gradient is
// reduced back to each input's shape in one place, the tape.

namespace tapegrad {

// ---- Elementwise arithmetic (NumPy broadcasting) ----

/// y = a + b;  dy/da = 1, dy/db = 1
Tensor add(const Tensor& a, const Tensor& b);
/// y = a - b;  dy/da = 1, dy/db = -1
Tensor sub(const Tensor& a, const Tensor& b);
/// y = a * b;  dy/da = b, dy/db = a
Tensor mul(const Tensor& a, const Tensor& b);
/// y = a / b;  dy/da = 1/b, dy/db = -a/b^2
Tensor div(const Tensor& a, const Tensor& b);
/// y = -x;  dy/dx = -1
Tensor neg(const Tensor& x);

Tensor operator+(const Tensor& a, const Tensor& b);  ///< add(a, b)
Tensor operator-(const Tensor& a, const Tensor& b);  ///< sub(a, b)
Tensor operator*(const Tensor& a, const Tensor& b);  ///< mul(a, b)
Tensor operator/(const Tensor& a, const Tensor& b);  ///< div(a, b)
Tensor operator-(const Tensor& x);                   ///< neg(x)
Tensor operator+(const Tensor& a, double b);         ///< a + scalar of a's dtype
Tensor operator-(const Tensor& a, double b);         ///< a - scalar of a's dtype
Tensor operator*(const Tensor& a, double b);         ///< a * scalar of a's dtype
Tensor operator/(const Tensor& a, double b);         ///< a / scalar of a's dtype
Tensor operator+(double a, const Tensor& b);         ///< scalar of b's dtype + b
Tensor operator-(double a, const Tensor& b);         ///< scalar of b's dtype - b
Tensor operator*(double a, const Tensor& b);         ///< scalar of b's dtype * b
Tensor operator/(double a, const Tensor& b);         ///< scalar of b's dtype / b

// ---- Elementwise functions ----

/// y = |x|;  dy/dx = sign(x)   NOTE: 0 at x = 0, as TensorFlow.
Tensor abs(const Tensor& x);
/// dx = dy sign(x): abs's gradient in one pass;  d/d(dy) = abs_backprop(g, x), no gradient for x
Tensor abs_backprop(const Tensor& dy, const Tensor& x);
/// y = x^2;  dy/dx = 2x
Tensor square(const Tensor& x);
/// y = x^p;  dy/dx = p x^(p-1)
Tensor pow(const Tensor& x, double exponent);
/// dx = dy (x^(p-1) p): pow's gradient in one pass (0 for p = 0);
/// d/d(dy) = pow_backprop(g, x, p),  d/dx = pow_backprop(g dy p, x, p - 1)
Tensor pow_backprop(const Tensor& dy, const Tensor& x, double exponent);
/// y = e^x;  dy/dx = y
Tensor exp(const Tensor& x);
/// y = ln x;  dy/dx = 1/x
Tensor log(const Tensor& x);
/// y = sin x;  dy/dx = cos x
Tensor sin(const Tensor& x);
/// y = cos x;  dy/dx = -sin x
Tensor cos(const Tensor& x);
/// y = sign(x) in {-1, 0, 1}; not differentiable (no gradient flows).
Tensor sign(const Tensor& x);

// ---- Reductions ----

/// y = sum of all elements (0-d);  dy/dx = 1 everywhere
Tensor sum(const Tensor& x);
/// y = sum over `axis` (negative counts from the back);  dy/dx = 1 broadcast back
Tensor sum(const Tensor& x, int axis, bool keepdims = false);
/// y = sum over each of `axes`;  dy/dx = 1 broadcast back
Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdims = false);
/// y = mean of all elements;  dy/dx = 1/n
Tensor mean(const Tensor& x);
/// y = mean over `axis`;  dy/dx = 1/n broadcast back
Tensor mean(const Tensor& x, int axis, bool keepdims = false);

// ---- Shape ----

/// Same elements, new shape of the same size;  dy/dx = reshape back
Tensor reshape(const Tensor& x, const Shape& shape);
/// As above, with at most one dimension -1, inferred from the element count as NumPy does
/// (`reshape(x, {-1, 784})`);  dy/dx = reshape back
Tensor reshape(const Tensor& x, std::span<const int64_t> dims);
/// As above, from a braced list: `reshape(x, {-1, 784})`.
Tensor reshape(const Tensor& x, std::initializer_list<int64_t> dims);
/// y = x^T for a matrix;  dy/dx = transpose back
Tensor transpose(const Tensor& x);
/// y[i...] = x[permuted i...], axes reordered by `permutation`;  dy/dx = inverse permutation
Tensor transpose(const Tensor& x, const std::vector<int>& permutation);
/// y = x repeated to `shape` (NumPy broadcast);  dy/dx = sum_to back
Tensor broadcast_to(const Tensor& x, const Shape& shape);
/// y = x summed over broadcast axes down to `shape`;  dy/dx = broadcast_to back
Tensor sum_to(const Tensor& x, const Shape& shape);

/// One axis of a slice: begin, end (exclusive), step > 0, as Python's x[begin:end:step] (a step past
/// the end takes the first element alone: x[0:5:huge] has 1).
struct Slice {
  int64_t begin = 0;
  int64_t end = INT64_MAX;
  int64_t step = 1;
};
/// y = x[s0, s1, ...] (missing trailing axes are taken whole);  dy/dx = dy placed back, zeros elsewhere
Tensor slice(const Tensor& x, const std::vector<Slice>& slices);
/// Rows start..stop-1 of a matrix.
Tensor rows(const Tensor& x, int64_t start, int64_t stop);
/// Columns start..stop-1 of a matrix.
Tensor cols(const Tensor& x, int64_t start, int64_t stop);
/// y = dy of a slice placed into zeros of `shape` (the slice's gradient);  dy/dx = slice back
Tensor unslice(const Tensor& x, const Shape& shape, const std::vector<Slice>& slices);
/// y = x with zeros added: before[i] and after[i] on axis i;  dy/dx = slice back
Tensor pad(const Tensor& x, const std::vector<int64_t>& before, const std::vector<int64_t>& after);
/// y = x reversed along each of `axes`;  dy/dx = flip back
Tensor flip(const Tensor& x, const std::vector<int>& axes);

// ---- Convolution ----

/// The chapter's 2-D cross-correlation: Y[i,j] = sum_ab X[i+a, j+b] K[a,b], output (H-h+1)x(W-w+1);
/// dX = corr2d(pad(dY, h-1, w-1), flip(K)),  dK = corr2d(X, dY)
Tensor corr2d(const Tensor& x, const Tensor& kernel);

/// Two sizes, (height, width), for a kernel, a pool, strides or a dilation rate: as Keras, one
/// integer stands for both (`.strides = 2`), or give each (`.strides = {2, 1}`).
struct Size2 {
  int64_t height = 1;  ///< along the height (axis 1 of NHWC)
  int64_t width = 1;   ///< along the width (axis 2 of NHWC)
  /// 1x1.
  constexpr Size2() = default;
  /// `both` x `both`.
  constexpr Size2(int64_t both) : height(both), width(both) {}  // NOLINT: implicit by design, as Keras's int
  /// `height` x `width`.
  constexpr Size2(int64_t height_, int64_t width_) : height(height_), width(width_) {}
  /// height for 0, width for 1.
  constexpr int64_t operator[](int axis) const { return axis == 0 ? height : width; }
  /// Both sizes equal.
  friend constexpr bool operator==(const Size2&, const Size2&) = default;
};

/// A Size2 that may be left unset (Keras's None): `.strides = 2`, `.strides = {2, 1}`, or nothing.
struct OptionalSize2 : std::optional<Size2> {
  using std::optional<Size2>::optional;
  /// `height` x `width`.
  constexpr OptionalSize2(int64_t height, int64_t width) : std::optional<Size2>(Size2{height, width}) {}
};

/// Padding of a convolution or a pooling: TensorFlow's "valid" and "same", or explicit zeros per
/// side (`.padding = 1` on every side, `.padding = {1, 2}` per axis: 1 above and below, 2 left and right).
struct Padding {
  /// How the padding is chosen.
  enum class Kind { valid, same, explicit_ };
  Kind kind = Kind::valid;         ///< valid, same, or explicit_ (the sides below)
  std::array<int64_t, 4> sides{};  ///< top, bottom, left, right (explicit_ only)
  /// No padding ("valid").
  constexpr Padding() = default;
  /// `pixels` zeros on every side.
  constexpr Padding(int64_t pixels)  // NOLINT: implicit by design, as PyTorch's int padding
      : kind(Kind::explicit_), sides{pixels, pixels, pixels, pixels} {}
  /// `height` zeros above and below, `width` zeros left and right.
  constexpr Padding(int64_t height, int64_t width) : kind(Kind::explicit_), sides{height, height, width, width} {}
  /// No padding: the output shrinks by the kernel's extent minus one.
  static constexpr Padding valid() { return {}; }
  /// Output size ceil(input / stride), as TensorFlow pads.
  static constexpr Padding same() { return Padding(Kind::same, {}); }
  /// Zeros on each side, in pixels.
  static constexpr Padding explicit_sides(int64_t top, int64_t bottom, int64_t left, int64_t right) {
    return Padding(Kind::explicit_, {top, bottom, left, right});
  }
  /// The same zeros on every side.
  static constexpr Padding uniform(int64_t pixels) { return Padding(pixels); }

 private:
  constexpr Padding(Kind kind_, std::array<int64_t, 4> sides_) : kind(kind_), sides(sides_) {}
};

/// Options of `conv2d` and its gradient ops, named and ordered as Keras's Conv2D.
struct Conv2DOptions {
  Size2 strides = 1;        ///< step of the kernel (height, width)
  Padding padding{};        ///< "valid" (none), "same", or explicit zeros
  Size2 dilation_rate = 1;  ///< spacing of the kernel's taps (height, width)
};

/// Batched 2-D convolution as TensorFlow computes it (a cross-correlation): x is NHWC
/// (batch, height, width, in channels), kernel is HWIO (height, width, in channels, out channels);
/// y[n,i,j,o] = sum_abc x[n, i*s+a*d-p, j*s+b*d-p, c] kernel[a,b,c,o];
/// dx = conv2d_backprop_input(dy, kernel),  dkernel = conv2d_backprop_filter(x, dy)
Tensor conv2d(const Tensor& x, const Tensor& kernel, const Conv2DOptions& options = {});
/// The activation a fused op (and a layer's `activation` option) applies, with Keras's names: linear
/// (none: the identity), relu or sigmoid.
enum class Activation { linear, relu, sigmoid };

/// "linear", "relu" or "sigmoid"; a value outside the enum is an error of `op` (a layer passes its name).
const char* activation_name(Activation activation, const char* op = "activation_name");

/// y = activation(conv2d(x, kernel, options) + bias), bias of shape (out channels). On the direct path
/// (float32, stride 1, AVX-512) each piece of the output gets its bias and activation while it is still
/// in cache; elsewhere they follow the product. The same bits as conv2d, add and the activation.
/// Gradient, with dz = relu_backprop(dy, y) or sigmoid_backprop(dy, y) (dy when linear): conv2d's of
/// dz, and dbias = sum_to(dz, bias's shape).
Tensor conv2d_bias_activation(const Tensor& x, const Tensor& kernel, const Tensor& bias, Activation activation,
                              const Conv2DOptions& options = {});
/// The gradient of conv2d with respect to its input, for an input of `input_shape`;
/// linear in both arguments: d/d(dy) = conv2d(g, kernel),  d/d(kernel) = conv2d_backprop_filter(g, dy)
Tensor conv2d_backprop_input(const Tensor& dy, const Tensor& kernel, const Shape& input_shape,
                             const Conv2DOptions& options = {});
/// The gradient of conv2d with respect to its kernel, for a kernel of `kernel_shape`;
/// d/dx = conv2d_backprop_input(dy, g),  d/d(dy) = conv2d(x, g)
Tensor conv2d_backprop_filter(const Tensor& x, const Tensor& dy, const Shape& kernel_shape,
                              const Conv2DOptions& options = {});

// ---- Pooling ----

/// Options of the pooling ops, named and ordered as Keras's MaxPool2D. Explicit padding may be at
/// most half the pool size on each side (PyTorch's rule), so that every window overlaps the input.
struct Pool2DOptions {
  Size2 pool_size = 2;      ///< the window (height, width)
  OptionalSize2 strides{};  ///< step of the window; default: pool_size, as Keras
  Padding padding{};        ///< "valid" (none), "same", or explicit zeros
  /// avg_pool2d only: divide by the whole window, padding included (PyTorch's count_include_pad=True,
  /// its default); false (the default, as Keras's AveragePooling2D) divides by the window's pixels
  /// inside the input. max_pool2d rejects true.
  bool count_include_pad = false;
};

/// y[n,i,j,c] = max over the window at (i, j) of channel c (NHWC);  dx = dy routed to each
/// window's maximum   NOTE: the first maximum in row-major window order wins ties, as TensorFlow; a NaN
/// is a window's maximum (the first NaN, which the gradient reaches), as PyTorch.
Tensor max_pool2d(const Tensor& x, const Pool2DOptions& options = {});
/// The gradient of max_pool2d: dy added at each window's maximum of x;  d/d(dy) = max_pool2d_select
Tensor max_pool2d_backprop(const Tensor& dy, const Tensor& x, const Pool2DOptions& options = {});
/// values picked at each window's maximum of x (max_pool2d_backprop's transpose);  d/d(values) = max_pool2d_backprop
Tensor max_pool2d_select(const Tensor& values, const Tensor& x, const Pool2DOptions& options = {});
/// y[n,i,j,c] = mean over the window's pixels inside the input (padding is not counted), or over
/// the whole window with count_include_pad;  dx = avg_pool2d_backprop(dy)
Tensor avg_pool2d(const Tensor& x, const Pool2DOptions& options = {});
/// The gradient of avg_pool2d for an input of `input_shape`;  d/d(dy) = avg_pool2d(g)
Tensor avg_pool2d_backprop(const Tensor& dy, const Shape& input_shape, const Pool2DOptions& options = {});

// ---- Activations and elementwise selection ----

/// y = max(x, 0);  dy/dx = 1 where x > 0   NOTE: 0 at x = 0, as TensorFlow.
Tensor relu(const Tensor& x);
/// dx = dy where x > 0, else 0: relu's gradient in one pass, from relu's input or its output (both
/// are > 0 at the same places);  d/d(dy) = relu_backprop(g, x), no gradient for x
Tensor relu_backprop(const Tensor& dy, const Tensor& x);
/// y = 1 / (1 + e^-x);  dy/dx = y (1 - y)
Tensor sigmoid(const Tensor& x);
/// dx = dy y (1 - y), sigmoid's gradient from its output y in one pass;
/// d/d(dy) = y (1 - y),  d/dy = dy (1 - 2 y)
Tensor sigmoid_backprop(const Tensor& dy, const Tensor& y);
/// x itself (linear), relu(x) or sigmoid(x) of a float tensor: what a layer's `activation` option applies.
Tensor apply_activation(const Tensor& x, Activation activation);
/// y = tanh(x);  dy/dx = 1 - y^2
Tensor tanh(const Tensor& x);
/// y = sqrt(x);  dy/dx = 1 / (2 y)
Tensor sqrt(const Tensor& x);
/// y = min(max(x, low), high);  dy/dx = 1 where low <= x <= high   NOTE: 1 at the bounds, as TensorFlow.
Tensor clip(const Tensor& x, double low, double high);
/// y = max(a, b) (broadcast);  dy/da = 1 where a >= b, else dy/db = 1   NOTE: ties go to a, as TensorFlow.
Tensor maximum(const Tensor& a, const Tensor& b);
/// y = min(a, b) (broadcast);  dy/da = 1 where a <= b, else dy/db = 1   NOTE: ties go to a, as TensorFlow.
Tensor minimum(const Tensor& a, const Tensor& b);
/// y = cond ? a : b elementwise (all three broadcast; cond is true where non-zero);
/// dy/da = cond, dy/db = !cond; no gradient for cond
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
/// y = x, with no gradient flowing back (TensorFlow's stop_gradient).
Tensor stop_gradient(const Tensor& x);

/// 1 where a == b, else 0, in a's dtype (broadcast); not differentiable.
Tensor equal(const Tensor& a, const Tensor& b);
/// 1 where a != b, else 0; not differentiable.
Tensor not_equal(const Tensor& a, const Tensor& b);
/// 1 where a < b, else 0; not differentiable.
Tensor less(const Tensor& a, const Tensor& b);
/// 1 where a <= b, else 0; not differentiable.
Tensor less_equal(const Tensor& a, const Tensor& b);
/// 1 where a > b, else 0; not differentiable.
Tensor greater(const Tensor& a, const Tensor& b);
/// 1 where a >= b, else 0; not differentiable.
Tensor greater_equal(const Tensor& a, const Tensor& b);

// ---- Linear algebra ----

/// Matrix product with NumPy's rules: 1-d operands are vectors, batch axes broadcast;
/// C = A B;  dA = dC B^T,  dB = A^T dC
Tensor matmul(const Tensor& a, const Tensor& b);

/// matmul's options, tf.linalg.matmul's transpose_a and transpose_b.
struct MatmulOptions {
  bool transpose_a = false;  ///< multiply by a with its last two axes swapped (a of rank 2 or more)
  bool transpose_b = false;  ///< multiply by b with its last two axes swapped (b of rank 2 or more)
};

/// op(a) @ op(b), op swapping an operand's last two axes where `options` says, read in place (no copy);
/// otherwise as matmul(a, b). The gradients are such products again (TensorFlow's): with transpose_b,
/// dA = dC B and dB = dC^T A; with transpose_a, dA = B dC^T and dB = A dC; with both, dA = B^T dC^T
/// and dB = dC^T A^T.
Tensor matmul(const Tensor& a, const Tensor& b, const MatmulOptions& options);

// ---- More reductions ----

/// reduce_sum: sum over `axes` (all when empty).
Tensor reduce_sum(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
/// reduce_mean: mean over `axes` (all when empty);  dy/dx = 1/n broadcast back
Tensor reduce_mean(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
/// y = max over `axes` (all when empty);  dy/dx = 1/k at each of the k maxima   NOTE: ties share, as TensorFlow;
/// a NaN propagates, as NumPy's max.
Tensor reduce_max(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
/// y = log sum exp(x) over `axes`, computed stably;  dy/dx = softmax(x)
Tensor logsumexp(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
/// y = e^x / sum e^x along `axis`, computed stably;  dx = y (dy - sum(dy y))
Tensor softmax(const Tensor& x, int axis = -1);
/// y = x - logsumexp(x) along `axis`;  dx = dy - softmax(x) sum(dy)
Tensor log_softmax(const Tensor& x, int axis = -1);
/// The index of the largest element along `axis` (the first on ties; the first NaN when there is one,
/// as NumPy), as int64; not differentiable.
Tensor argmax(const Tensor& x, int axis = -1);

// ---- Joining, indexing, reshaping ----

/// Tensors joined along `axis` (other axes equal);  each input's gradient is its slice of dy
Tensor concat(const std::vector<Tensor>& tensors, int axis = 0);
/// Tensors of one shape stacked along a new `axis`;  gradients are slices of dy
Tensor stack(const std::vector<Tensor>& tensors, int axis = 0);
/// y = x indexed by the int64 `indices` along `axis` (TensorFlow's gather);  dx = gradients added back
Tensor gather(const Tensor& x, const Tensor& indices, int axis = 0);
/// The gradient of gather: dy added into zeros of `shape` at `indices` along `axis`;  dx = gather back
Tensor scatter_add(const Tensor& dy, const Tensor& indices, int axis, const Shape& shape);
/// One-hot rows: y[..., k] = 1 where indices == k, for int64 `indices`; not differentiable.
Tensor one_hot(const Tensor& indices, int64_t depth, DType dtype = DType::float32);
/// x with a new axis of size 1 at `axis` (a reshape).
Tensor expand_dims(const Tensor& x, int axis);
/// x without the size-1 `axes` (all size-1 axes when empty) (a reshape).
Tensor squeeze(const Tensor& x, const std::vector<int>& axes = {});

// ---- Losses ----

/// How a loss reduces its per-example values.
enum class Reduction { mean, sum, none };
/// Squared error (prediction - target)^2: mean over all elements, their sum, or each (none).
Tensor mse(const Tensor& prediction, const Tensor& target, Reduction reduction = Reduction::mean);
/// Cross-entropy of softmax(logits) (classes on the last axis) against int64 class labels (one
/// fewer axis) or float class probabilities such as one-hot rows (same shape), computed stably
/// through log_softmax; per example, then reduced.
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels, Reduction reduction = Reduction::mean);

// ---- Normalization and dropout ----

/// What batch_norm_training gives: the output, and the batch's statistics per channel.
struct BatchNormTrainingResult {
  Tensor output;    ///< y, x's shape
  Tensor mean;      ///< the batch's mean per channel (channels); not differentiable
  Tensor variance;  ///< the batch's biased variance per channel (channels); not differentiable
};

/// Batch normalization in training, over every axis but the last (channels; Keras's axis=-1):
/// y = (x - mean) / sqrt(variance + epsilon) * gamma + beta, with mean and variance (biased, as
/// Keras) of x per channel, gamma and beta of shape (channels);
/// dx = gamma / sqrt(variance + epsilon) (dy - mean(dy) - xhat mean(dy xhat)),  dgamma = sum(dy xhat),
/// dbeta = sum(dy), xhat the normalized x. Differentiable to any order (the mean and variance's
/// dependence on x included); the returned mean and variance are constants (for moving averages).
BatchNormTrainingResult batch_norm_training(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                            double epsilon = 1e-3);
/// Batch normalization with given statistics (inference), per channel (the last axis):
/// y = (x - mean) / sqrt(variance + epsilon) * gamma + beta, the other four of shape (channels);
/// dx = dy gamma / sqrt(variance + epsilon), and the gradients of mean, variance, gamma, beta summed
/// over every axis but the last.
Tensor batch_norm(const Tensor& x, const Tensor& mean, const Tensor& variance, const Tensor& gamma, const Tensor& beta,
                  double epsilon = 1e-3);
/// Inverted dropout: y = x * mask / (1 - rate), mask 0 with probability `rate`, else 1, drawn from
/// `generator` (the same seed drops the same elements on every machine);  dx = dy * mask / (1 - rate).
/// rate must be in [0, 1); rate 0 returns x itself.
Tensor dropout(const Tensor& x, double rate, Generator& generator);

// ---- The op registry ----

/// The names of every differentiable op, as each op's definition registers it; the test
/// registry checks that each has a gradient check.
const std::vector<std::string>& differentiable_ops();

}  // namespace tapegrad
