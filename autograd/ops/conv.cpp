// Convolutions: the chapter's corr2d, and batched conv2d with its two gradient ops (each of which
// is differentiable again, so tapes nest through convolutions too).

#include <tapegrad/autograd/ops.hpp>
#include "autograd/detail/checked.hpp"
#include "autograd/kernels/kernels.hpp"
#include "autograd/ops/conv_geometry.hpp"
#include "autograd/ops/op_registry.hpp"
#include "autograd/ops/record.hpp"

#include <algorithm>
#include <tuple>

namespace tapegrad {

namespace {
// The attributes of conv2d and its two gradient ops: the forward's geometry with its padding made
// explicit, so that each backward convolves exactly as the forward did.
struct ConvAttrs {
  Size2 strides, dilation_rate;    // (height, width)
  std::array<int64_t, 4> padding;  // top, bottom, left, right
  explicit ConvAttrs(const kernels::ConvGeometry& geom)
      : strides{geom.stride_h, geom.stride_w},
        dilation_rate{geom.dilation_h, geom.dilation_w},
        padding{geom.pad_top, geom.pad_bottom, geom.pad_left, geom.pad_right} {}
  Conv2DOptions options() const {
    return {strides, Padding::explicit_sides(padding[0], padding[1], padding[2], padding[3]), dilation_rate};
  }
  std::string print() const {
    return fmt::format("strides=[{}, {}], padding=[[{}, {}], [{}, {}]], dilation_rate=[{}, {}]", strides[0], strides[1],
                       padding[0], padding[1], padding[2], padding[3], dilation_rate[0], dilation_rate[1]);
  }
};
}  // namespace

namespace detail {

void check_pair(const Tensor& a, const Tensor& b, const char* op, const char* a_name, const char* b_name) {
  check_defined(op, {a, b});
  if (a.dtype() != b.dtype()) {
    fail("{}: {} is {} {} but {} is {} {}; expected one dtype", op, a_name, a.shape(), dtype_name(a.dtype()), b_name,
         b.shape(), dtype_name(b.dtype()));
  }
  if (!is_floating(a.dtype())) fail("{}: expected float32 or float64 tensors, got {}", op, dtype_name(a.dtype()));
}

kernels::ConvGeometry geometry(const Shape& input, const Shape& kernel, const Conv2DOptions& options, const char* op) {
  if (input.rank() != 4) fail("{}: input is {}, expected rank 4 (batch, height, width, channels)", op, input);
  if (kernel.rank() != 4)
    fail("{}: kernel is {}, expected rank 4 (height, width, in channels, out channels)", op, kernel);
  if (input[3] != kernel[2]) {
    fail("{}: input {} has {} channels but kernel {} expects {}", op, input, input[3], kernel, kernel[2]);
  }
  if (kernel.numel() == 0) fail("{}: kernel {} is empty", op, kernel);
  const auto [sh, sw] = options.strides;
  const auto [dh, dw] = options.dilation_rate;
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1) {
    fail("{}: strides {}x{} and dilation_rate {}x{}; expected each at least 1", op, sh, sw, dh, dw);
  }
  const CheckedInt extent_h = (CheckedInt(kernel[0]) - 1) * dh + 1, extent_w = (CheckedInt(kernel[1]) - 1) * dw + 1;
  if (extent_h.overflow || extent_w.overflow) {
    fail("{}: kernel {}x{} dilated by {}x{} spans more pixels than an int64 counts", op, kernel[0], kernel[1], dh, dw);
  }
  int64_t top = 0, bottom = 0, left = 0, right = 0;
  switch (options.padding.kind) {
    case Padding::Kind::valid: break;
    case Padding::Kind::same: {
      // TensorFlow's rule: output ceil(in / stride), the odd pixel of padding at the bottom/right.
      const CheckedInt total_h = (ceil_div(input[1], sh) - 1) * sh + extent_h - input[1];
      const CheckedInt total_w = (ceil_div(input[2], sw) - 1) * sw + extent_w - input[2];
      if (total_h.overflow || total_w.overflow) {
        fail("{}: \"same\" padding of input {} for kernel {}x{} (dilated {}x{}) with strides {}x{} is more pixels "
             "than an int64 counts",
             op, input, kernel[0], kernel[1], extent_h.value, extent_w.value, sh, sw);
      }
      const int64_t pad_h = std::max<int64_t>(total_h.value, 0), pad_w = std::max<int64_t>(total_w.value, 0);
      top = pad_h / 2, bottom = pad_h - top, left = pad_w / 2, right = pad_w - left;
      break;
    }
    case Padding::Kind::explicit_:
      std::tie(top, bottom, left, right) = std::tuple(options.padding.sides[0], options.padding.sides[1],
                                                      options.padding.sides[2], options.padding.sides[3]);
      if (top < 0 || bottom < 0 || left < 0 || right < 0) {
        fail("{}: padding {}, {}, {}, {}; expected non-negative sizes", op, top, bottom, left, right);
      }
      break;
  }
  const CheckedInt padded_h = CheckedInt(input[1]) + top + bottom, padded_w = CheckedInt(input[2]) + left + right;
  if (padded_h.overflow || padded_w.overflow) {
    fail("{}: input {}x{} padded by {}, {}, {}, {} (top, bottom, left, right) is more pixels than an int64 counts", op,
         input[1], input[2], top, bottom, left, right);
  }
  if (extent_h.value > padded_h.value || extent_w.value > padded_w.value) {
    fail("{}: kernel {}x{} (dilated {}x{}) is larger than the padded input {}x{}", op, kernel[0], kernel[1],
         extent_h.value, extent_w.value, padded_h.value, padded_w.value);
  }
  const int64_t out_h = (padded_h.value - extent_h.value) / sh + 1, out_w = (padded_w.value - extent_w.value) / sw + 1;
  // The kernels index the padded input and the output (batch x height x width x channels): both fit.
  checked_shape({input[0], padded_h.value, padded_w.value, input[3]}, op, "padded input");
  checked_shape({input[0], out_h, out_w, kernel[3]}, op);
  return {input[0], input[1], input[2], input[3], kernel[0], kernel[1], kernel[3], out_h, out_w,
          sh,       sw,       dh,       dw,       top,       left,      bottom,    right};
}

Shape output_shape(const kernels::ConvGeometry& geom) {
  return {geom.batch, geom.out_height, geom.out_width, geom.out_channels};
}

void check_upstream(const Tensor& dy, const kernels::ConvGeometry& geom, const char* op) {
  if (dy.shape() != output_shape(geom))
    fail("{}: gradient is {}, expected the output shape {}", op, dy.shape(), output_shape(geom));
}

}  // namespace detail

using detail::check_pair;
using detail::check_upstream;
using detail::geometry;
using detail::output_shape;

constexpr const char* kConv2D = "conv2d";
Tensor conv2d(const Tensor& x, const Tensor& kernel, const Conv2DOptions& options) {
  check_pair(x, kernel, kConv2D, "input", "kernel");
  const auto geom = geometry(x.shape(), kernel.shape(), options, kConv2D);
  Tensor y = Tensor::empty(output_shape(geom), x.dtype());
  kernels::conv2d_forward(x, kernel, y, geom);
  return record(
      kConv2D, {x, kernel}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        const Conv2DOptions options = args.attrs<ConvAttrs>().options();
        return {
            args.needs(0) ? conv2d_backprop_input(args.grad, args.input(1), args.input(0).shape(), options) : Tensor{},
            args.needs(1) ? conv2d_backprop_filter(args.input(0), args.grad, args.input(1).shape(), options)
                          : Tensor{}};
      },
      ConvAttrs(geom));
}

namespace {
// conv2d's attributes and the activation.
struct ConvActivationAttrs {
  ConvAttrs conv;
  Activation activation;
  std::string print() const { return fmt::format("{}, activation={}", conv.print(), activation_name(activation)); }
};
}  // namespace

constexpr const char* kConv2DBiasActivation = "conv2d_bias_activation";

namespace {
// conv2d_bias_activation's gradients when no tape records its backward: the activation's gradient and
// the bias's in one pass (kernels::activation_backward_with_bias), then the convolution's.
Grads conv2d_bias_activation_gradients(const BackwardArgs& args, Activation activation, const Conv2DOptions& options) {
  const Tensor& x = args.input(0);
  const Tensor& kernel = args.input(1);
  const Tensor& y = args.output;
  Tensor dbias = Tensor::empty(Shape{y.shape()[-1]}, y.dtype());
  const Tensor dz = activation == Activation::linear ? args.grad : Tensor::empty(y.shape(), y.dtype());
  kernels::activation_backward_with_bias(args.grad, y, activation, dz, dbias);
  return {args.needs(0) ? conv2d_backprop_input(dz, kernel, x.shape(), options) : Tensor{},
          args.needs(1) ? conv2d_backprop_filter(x, dz, kernel.shape(), options) : Tensor{},
          args.needs(2) ? std::move(dbias) : Tensor{}};
}
}  // namespace

Tensor conv2d_bias_activation(const Tensor& x, const Tensor& kernel, const Tensor& bias, Activation activation,
                              const Conv2DOptions& options) {
  detail::check_defined(kConv2DBiasActivation, {x, kernel, bias});
  check_pair(x, kernel, kConv2DBiasActivation, "input", "kernel");
  check_pair(x, bias, kConv2DBiasActivation, "input", "bias");
  activation_name(activation, kConv2DBiasActivation);  // a value outside the enum is an error
  const auto geom = geometry(x.shape(), kernel.shape(), options, kConv2DBiasActivation);
  if (bias.shape() != Shape{geom.out_channels}) {
    fail("{}: bias is {}, expected ({}) for the kernel's {} output channels", kConv2DBiasActivation, bias.shape(),
         geom.out_channels, geom.out_channels);
  }
  Tensor y = Tensor::empty(output_shape(geom), x.dtype());
  kernels::conv2d_forward(x, kernel, y, geom, {.bias = &bias, .activation = activation});
  return record(
      kConv2DBiasActivation, {x, kernel, bias}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        const auto& attrs = args.attrs<ConvActivationAttrs>();
        const Conv2DOptions options = attrs.conv.options();
        if (!any_tape_tracks({args.grad, args.output, args.input(0), args.input(1)})) {
          return conv2d_bias_activation_gradients(args, attrs.activation, options);
        }
        // NOTE: an outer tape records this backward (a gradient of a gradient): the same gradients as
        // differentiable ops.
        // The gradient before the activation; relu's and sigmoid's own gradients read only the output.
        const Tensor dz = attrs.activation == Activation::relu      ? relu_backprop(args.grad, args.output)
                          : attrs.activation == Activation::sigmoid ? sigmoid_backprop(args.grad, args.output)
                                                                    : args.grad;
        return {args.needs(0) ? conv2d_backprop_input(dz, args.input(1), args.input(0).shape(), options) : Tensor{},
                args.needs(1) ? conv2d_backprop_filter(args.input(0), dz, args.input(1).shape(), options) : Tensor{},
                args.needs(2) ? sum_to(dz, args.input(2).shape()) : Tensor{}};
      },
      ConvActivationAttrs{ConvAttrs(geom), activation});
}

constexpr const char* kConv2DBackpropInput = "conv2d_backprop_input";
Tensor conv2d_backprop_input(const Tensor& dy, const Tensor& kernel, const Shape& input_shape,
                             const Conv2DOptions& options) {
  check_pair(dy, kernel, kConv2DBackpropInput, "gradient", "kernel");
  const auto geom = geometry(input_shape, kernel.shape(), options, kConv2DBackpropInput);
  check_upstream(dy, geom, kConv2DBackpropInput);
  Tensor dx = Tensor::empty(input_shape, dy.dtype());
  kernels::conv2d_backward_input(dy, kernel, dx, geom);
  return record(
      kConv2DBackpropInput, {dy, kernel}, std::move(dx),
      [](const BackwardArgs& args) -> Grads {
        const Conv2DOptions options = args.attrs<ConvAttrs>().options();
        return {args.needs(0) ? conv2d(args.grad, args.input(1), options) : Tensor{},
                args.needs(1) ? conv2d_backprop_filter(args.grad, args.input(0), args.input(1).shape(), options)
                              : Tensor{}};
      },
      ConvAttrs(geom));
}

constexpr const char* kConv2DBackpropFilter = "conv2d_backprop_filter";
Tensor conv2d_backprop_filter(const Tensor& x, const Tensor& dy, const Shape& kernel_shape,
                              const Conv2DOptions& options) {
  check_pair(x, dy, kConv2DBackpropFilter, "input", "gradient");
  const auto geom = geometry(x.shape(), kernel_shape, options, kConv2DBackpropFilter);
  check_upstream(dy, geom, kConv2DBackpropFilter);
  Tensor dkernel = Tensor::empty(kernel_shape, x.dtype());
  kernels::conv2d_backward_filter(x, dy, dkernel, geom);
  return record(
      kConv2DBackpropFilter, {x, dy}, std::move(dkernel),
      [](const BackwardArgs& args) -> Grads {
        const Conv2DOptions options = args.attrs<ConvAttrs>().options();
        return {
            args.needs(0) ? conv2d_backprop_input(args.input(1), args.grad, args.input(0).shape(), options) : Tensor{},
            args.needs(1) ? conv2d(args.input(0), args.grad, options) : Tensor{}};
      },
      ConvAttrs(geom));
}

constexpr const char* kCorr2D = "corr2d";
constexpr int64_t kSmallCorrelation = 4096;
Tensor corr2d(const Tensor& x, const Tensor& kernel) {
  check_pair(x, kernel, kCorr2D, "input", "kernel");
  if (x.rank() != 2 || kernel.rank() != 2) {
    fail("corr2d: input {} and kernel {}; expected two matrices (rank 2)", x.shape(), kernel.shape());
  }
  const int64_t h = kernel.shape()[0], w = kernel.shape()[1];
  if (h == 0 || w == 0) fail("corr2d: kernel {} is empty", kernel.shape());
  if (h > x.shape()[0] || w > x.shape()[1])
    fail("corr2d: kernel {} is larger than input {}", kernel.shape(), x.shape());
  Tensor y = Tensor::empty(Shape{x.shape()[0] - h + 1, x.shape()[1] - w + 1}, x.dtype());
  // The book's images are tiny (6x8 with a 1x2 kernel: 84 multiply-adds): below kSmallCorrelation
  // multiply-adds plain loops finish before the fast kernel has set up columns, panels and threads.
  if (y.numel() * h * w < kSmallCorrelation) {
    kernels::corr2d_small(x, kernel, y);
  } else {
    // An HxW matrix is laid out exactly as a 1xHxWx1 NHWC image, and an hxw kernel as hxwx1x1 HWIO.
    const auto geom = geometry(Shape{1, x.shape()[0], x.shape()[1], 1}, Shape{h, w, 1, 1}, {}, kCorr2D);
    kernels::conv2d_forward(x, kernel, y, geom);
  }
  return record(kCorr2D, {x, kernel}, std::move(y), [](const BackwardArgs& args) -> Grads {
    const Tensor& k = args.input(1);
    const int64_t kh = k.shape()[0], kw = k.shape()[1];
    return {args.needs(0) ? corr2d(pad(args.grad, {kh - 1, kw - 1}, {kh - 1, kw - 1}), flip(k, {0, 1})) : Tensor{},
            args.needs(1) ? corr2d(args.input(0), args.grad) : Tensor{}};
  });
}

// The ops defined above, for differentiable_ops().
std::vector<const char*> detail::conv_ops() {
  return {kConv2D, kConv2DBiasActivation, kConv2DBackpropInput, kConv2DBackpropFilter, kCorr2D};
}

}  // namespace tapegrad
