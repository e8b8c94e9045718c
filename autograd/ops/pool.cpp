// Pooling: max and average over windows of NHWC images, each channel on its own.

#include <tapegrad/autograd/ops.hpp>
#include "autograd/kernels/kernels.hpp"
#include "autograd/ops/conv_geometry.hpp"
#include "autograd/ops/op_registry.hpp"
#include "autograd/ops/record.hpp"

namespace tapegrad {

using detail::register_op;

namespace {
// A pooling window is a convolution window with one output per channel and no dilation.
kernels::ConvGeometry pool_geometry(const Shape& input, const Pool2DOptions& options, const char* op) {
  if (input.rank() != 4) fail("{}: input is {}, expected rank 4 (batch, height, width, channels)", op, input);
  const auto [wh, ww] = options.window;
  if (wh < 1 || ww < 1) fail("{}: window {}x{}; expected at least 1x1", op, wh, ww);
  const Conv2DOptions conv{options.strides.value_or(options.window), {1, 1}, options.padding};
  return detail::geometry(input, Shape{wh, ww, input[3], input[3]}, conv, op);
}

std::vector<double> pool_attrs(const Pool2DOptions& options, const kernels::ConvGeometry& g) {
  return {double(options.window[0]), double(options.window[1]), double(g.stride_h), double(g.stride_w),
          double(g.pad_top),         double(g.pad_bottom),      double(g.pad_left), double(g.pad_right)};
}

Pool2DOptions pool_options(std::span<const double> a) {
  auto i = [&](size_t k) { return static_cast<int64_t>(a[k]); };
  return {{i(0), i(1)}, std::array<int64_t, 2>{i(2), i(3)}, Padding::explicit_sides(i(4), i(5), i(6), i(7))};
}

void check_float(const Tensor& x, const char* op) {
  if (!is_floating(x.dtype())) fail("{}: expected a float32 or float64 tensor, got {}", op, dtype_name(x.dtype()));
}
}  // namespace

const char* const kMaxPool2D = register_op("max_pool2d");
Tensor max_pool2d(const Tensor& x, const Pool2DOptions& options) {
  check_float(x, kMaxPool2D);
  const auto g = pool_geometry(x.shape(), options, kMaxPool2D);
  Tensor y = Tensor::empty(detail::output_shape(g), x.dtype());
  kernels::max_pool_forward(x, y, g);
  return record(
      kMaxPool2D, {x}, std::move(y),
      [](const BackwardArgs& b) -> Grads { return {max_pool2d_backprop(b.grad, b.input(0), pool_options(b.attrs))}; },
      pool_attrs(options, g));
}

const char* const kMaxPool2DBackprop = register_op("max_pool2d_backprop");
Tensor max_pool2d_backprop(const Tensor& dy, const Tensor& x, const Pool2DOptions& options) {
  detail::check_pair(dy, x, kMaxPool2DBackprop, "gradient", "input");
  const auto g = pool_geometry(x.shape(), options, kMaxPool2DBackprop);
  detail::check_upstream(dy, g, kMaxPool2DBackprop);
  Tensor dx = Tensor::empty(x.shape(), x.dtype());
  kernels::max_pool_backward(dy, x, dx, g);
  // Piecewise constant in x: no gradient flows to x.
  return record(
      kMaxPool2DBackprop, {dy, x}, std::move(dx),
      [](const BackwardArgs& b) -> Grads {
        return {max_pool2d_select(b.grad, b.input(1), pool_options(b.attrs)), Tensor{}};
      },
      pool_attrs(options, g));
}

const char* const kMaxPool2DSelect = register_op("max_pool2d_select");
Tensor max_pool2d_select(const Tensor& g, const Tensor& x, const Pool2DOptions& options) {
  detail::check_pair(g, x, kMaxPool2DSelect, "values", "input");
  if (g.shape() != x.shape())
    fail("max_pool2d_select: values {} and input {}; expected one shape", g.shape(), x.shape());
  const auto geometry = pool_geometry(x.shape(), options, kMaxPool2DSelect);
  Tensor out = Tensor::empty(detail::output_shape(geometry), x.dtype());
  kernels::max_pool_select(g, x, out, geometry);
  return record(
      kMaxPool2DSelect, {g, x}, std::move(out),
      [](const BackwardArgs& b) -> Grads {
        return {max_pool2d_backprop(b.grad, b.input(1), pool_options(b.attrs)), Tensor{}};
      },
      pool_attrs(options, geometry));
}

const char* const kAvgPool2D = register_op("avg_pool2d");
Tensor avg_pool2d(const Tensor& x, const Pool2DOptions& options) {
  check_float(x, kAvgPool2D);
  const auto g = pool_geometry(x.shape(), options, kAvgPool2D);
  Tensor y = Tensor::empty(detail::output_shape(g), x.dtype());
  kernels::avg_pool_forward(x, y, g);
  return record(
      kAvgPool2D, {x}, std::move(y),
      [](const BackwardArgs& b) -> Grads {
        return {avg_pool2d_backprop(b.grad, b.input_shape(0), pool_options(b.attrs))};
      },
      pool_attrs(options, g), InputUse::shapes);
}

const char* const kAvgPool2DBackprop = register_op("avg_pool2d_backprop");
Tensor avg_pool2d_backprop(const Tensor& dy, const Shape& input_shape, const Pool2DOptions& options) {
  check_float(dy, kAvgPool2DBackprop);
  const auto g = pool_geometry(input_shape, options, kAvgPool2DBackprop);
  detail::check_upstream(dy, g, kAvgPool2DBackprop);
  Tensor dx = Tensor::empty(input_shape, dy.dtype());
  kernels::avg_pool_backward(dy, dx, g);
  return record(
      kAvgPool2DBackprop, {dy}, std::move(dx),
      [](const BackwardArgs& b) -> Grads { return {avg_pool2d(b.grad, pool_options(b.attrs))}; },
      pool_attrs(options, g), InputUse::shapes);
}

}  // namespace tapegrad
