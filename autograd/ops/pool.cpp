// Pooling: max and average over windows of NHWC images, each channel on its own.

#include <tapegrad/autograd/ops.hpp>
#include "autograd/detail/checked.hpp"
#include "autograd/kernels/kernels.hpp"
#include "autograd/ops/conv_geometry.hpp"
#include "autograd/ops/op_registry.hpp"
#include "autograd/ops/record.hpp"

#include <algorithm>

namespace tapegrad {

namespace {
// A pooling window is a convolution window with one output per channel and no dilation.
kernels::ConvGeometry pool_geometry(const Shape& input, const Pool2DOptions& options, const char* op) {
  if (input.rank() != 4) fail("{}: input is {}, expected rank 4 (batch, height, width, channels)", op, input);
  const auto [wh, ww] = options.pool_size;
  if (wh < 1 || ww < 1) fail("{}: pool_size {}x{}; expected at least 1x1", op, wh, ww);
  if (options.padding.kind == Padding::Kind::explicit_) {
    // PyTorch's rule: a side's padding at most half the window, so that every window overlaps the
    // input ("same" pads less than that already).
    const auto [top, bottom, left, right] = options.padding.sides;
    if (std::max(top, bottom) > wh / 2 || std::max(left, right) > ww / 2) {
      fail("{}: padding (top {}, bottom {}, left {}, right {}) with pool_size {}x{}: a window could lie wholly in "
           "the padding; expected at most half the pool size on each side ({} above and below, {} left and right)",
           op, top, bottom, left, right, wh, ww, wh / 2, ww / 2);
    }
  }
  const Conv2DOptions conv{options.strides.value_or(options.pool_size), options.padding, 1};
  return detail::geometry(input, detail::checked_shape({wh, ww, input[3], input[3]}, op, "window"), conv, op);
}

void check_no_count_include_pad(const Pool2DOptions& options, const char* op) {
  if (options.count_include_pad)
    fail("{}: count_include_pad applies to avg_pool2d only; a maximum counts no pixels", op);
}

// The attributes of the pooling ops: the forward's windows with their padding made explicit, so
// that each backward pools exactly as the forward did.
struct PoolAttrs {
  Size2 pool_size, strides;        // (height, width)
  std::array<int64_t, 4> padding;  // top, bottom, left, right
  bool count_include_pad;
  PoolAttrs(const Pool2DOptions& options, const kernels::ConvGeometry& geom)
      : pool_size(options.pool_size),
        strides{geom.stride_h, geom.stride_w},
        padding{geom.pad_top, geom.pad_bottom, geom.pad_left, geom.pad_right},
        count_include_pad(options.count_include_pad) {}
  Pool2DOptions options() const {
    return {pool_size, strides, Padding::explicit_sides(padding[0], padding[1], padding[2], padding[3]),
            count_include_pad};
  }
  std::string print() const {
    return fmt::format("pool_size=[{}, {}], strides=[{}, {}], padding=[[{}, {}], [{}, {}]]{}", pool_size[0],
                       pool_size[1], strides[0], strides[1], padding[0], padding[1], padding[2], padding[3],
                       count_include_pad ? ", count_include_pad=true" : "");
  }
};

void check_float(const Tensor& x, const char* op) {
  detail::check_defined(op, {x});
  if (!is_floating(x.dtype())) fail("{}: expected a float32 or float64 tensor, got {}", op, dtype_name(x.dtype()));
}
}  // namespace

constexpr const char* kMaxPool2D = "max_pool2d";
Tensor max_pool2d(const Tensor& x, const Pool2DOptions& options) {
  check_float(x, kMaxPool2D);
  check_no_count_include_pad(options, kMaxPool2D);
  const auto geom = pool_geometry(x.shape(), options, kMaxPool2D);
  Tensor y = Tensor::empty(detail::output_shape(geom), x.dtype());
  kernels::max_pool_forward(x, y, geom);
  return record(
      kMaxPool2D, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        return {max_pool2d_backprop(args.grad, args.input(0), args.attrs<PoolAttrs>().options())};
      },
      PoolAttrs(options, geom));
}

constexpr const char* kMaxPool2DBackprop = "max_pool2d_backprop";
Tensor max_pool2d_backprop(const Tensor& dy, const Tensor& x, const Pool2DOptions& options) {
  detail::check_pair(dy, x, kMaxPool2DBackprop, "gradient", "input");
  check_no_count_include_pad(options, kMaxPool2DBackprop);
  const auto geom = pool_geometry(x.shape(), options, kMaxPool2DBackprop);
  detail::check_upstream(dy, geom, kMaxPool2DBackprop);
  Tensor dx = Tensor::empty(x.shape(), x.dtype());
  kernels::max_pool_backward(dy, x, dx, geom);
  // Piecewise constant in x: no gradient flows to x.
  return record(
      kMaxPool2DBackprop, {dy, x}, std::move(dx),
      [](const BackwardArgs& args) -> Grads {
        return {max_pool2d_select(args.grad, args.input(1), args.attrs<PoolAttrs>().options()), Tensor{}};
      },
      PoolAttrs(options, geom));
}

constexpr const char* kMaxPool2DSelect = "max_pool2d_select";
Tensor max_pool2d_select(const Tensor& values, const Tensor& x, const Pool2DOptions& options) {
  detail::check_pair(values, x, kMaxPool2DSelect, "values", "input");
  check_no_count_include_pad(options, kMaxPool2DSelect);
  if (values.shape() != x.shape())
    fail("max_pool2d_select: values {} and input {}; expected one shape", values.shape(), x.shape());
  const auto geom = pool_geometry(x.shape(), options, kMaxPool2DSelect);
  Tensor out = Tensor::empty(detail::output_shape(geom), x.dtype());
  kernels::max_pool_select(values, x, out, geom);
  return record(
      kMaxPool2DSelect, {values, x}, std::move(out),
      [](const BackwardArgs& args) -> Grads {
        return {max_pool2d_backprop(args.grad, args.input(1), args.attrs<PoolAttrs>().options()), Tensor{}};
      },
      PoolAttrs(options, geom));
}

constexpr const char* kAvgPool2D = "avg_pool2d";
Tensor avg_pool2d(const Tensor& x, const Pool2DOptions& options) {
  check_float(x, kAvgPool2D);
  const auto geom = pool_geometry(x.shape(), options, kAvgPool2D);
  Tensor y = Tensor::empty(detail::output_shape(geom), x.dtype());
  kernels::avg_pool_forward(x, y, geom, options.count_include_pad);
  return record(
      kAvgPool2D, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        return {avg_pool2d_backprop(args.grad, args.input_shape(0), args.attrs<PoolAttrs>().options())};
      },
      PoolAttrs(options, geom), InputUse::shapes);
}

constexpr const char* kAvgPool2DBackprop = "avg_pool2d_backprop";
Tensor avg_pool2d_backprop(const Tensor& dy, const Shape& input_shape, const Pool2DOptions& options) {
  check_float(dy, kAvgPool2DBackprop);
  const auto geom = pool_geometry(input_shape, options, kAvgPool2DBackprop);
  detail::check_upstream(dy, geom, kAvgPool2DBackprop);
  Tensor dx = Tensor::empty(input_shape, dy.dtype());
  kernels::avg_pool_backward(dy, dx, geom, options.count_include_pad);
  return record(
      kAvgPool2DBackprop, {dy}, std::move(dx),
      [](const BackwardArgs& args) -> Grads { return {avg_pool2d(args.grad, args.attrs<PoolAttrs>().options())}; },
      PoolAttrs(options, geom), InputUse::shapes);
}

// The ops defined above, for differentiable_ops().
std::vector<const char*> detail::pool_ops() {
  return {kMaxPool2D, kMaxPool2DBackprop, kMaxPool2DSelect, kAvgPool2D, kAvgPool2DBackprop};
}

}  // namespace tapegrad
