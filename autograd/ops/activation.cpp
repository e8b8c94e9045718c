// Activations, comparisons and elementwise selection.

#include <tapegrad/autograd/ops.hpp>
#include "autograd/detail/checked.hpp"
#include "autograd/kernels/kernels.hpp"
#include "autograd/ops/op_registry.hpp"
#include "autograd/ops/record.hpp"

#include <cmath>

namespace tapegrad {

using detail::check_backprop_inputs;
// ---- Comparisons: masks of 0 and 1 in the inputs' dtype (int64 labels too), never recorded ----

Tensor equal(const Tensor& a, const Tensor& b) {
  return kernels::zip<true>(a, b, "equal", [](auto u, auto v) { return u == v; });
}
Tensor not_equal(const Tensor& a, const Tensor& b) {
  return kernels::zip<true>(a, b, "not_equal", [](auto u, auto v) { return u != v; });
}
Tensor less(const Tensor& a, const Tensor& b) {
  return kernels::zip<true>(a, b, "less", [](auto u, auto v) { return u < v; });
}
Tensor less_equal(const Tensor& a, const Tensor& b) {
  return kernels::zip<true>(a, b, "less_equal", [](auto u, auto v) { return u <= v; });
}
Tensor greater(const Tensor& a, const Tensor& b) {
  return kernels::zip<true>(a, b, "greater", [](auto u, auto v) { return u > v; });
}
Tensor greater_equal(const Tensor& a, const Tensor& b) {
  return kernels::zip<true>(a, b, "greater_equal", [](auto u, auto v) { return u >= v; });
}

Tensor stop_gradient(const Tensor& x) {
  detail::check_defined("stop_gradient", {x});
  Tensor copy = x.to(x.dtype());  // a new tensor, which no tape tracks
  return copy;
}

// ---- Activations ----

constexpr const char* kRelu = "relu";
Tensor relu(const Tensor& x) {
  // NOTE: a NaN stays NaN, as PyTorch's relu (v > 0 would make it 0).
  Tensor y = kernels::map(x, kRelu, [](auto v) { return kernels::relu_value(v); });
  // NOTE: the gradient at x = 0 is 0, as in TensorFlow. y > 0 exactly where x > 0, so the
  // backward needs only y.
  return record(
      kRelu, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads { return {relu_backprop(args.grad, args.output)}; }, {}, InputUse::shapes);
}

constexpr const char* kReluBackprop = "relu_backprop";
Tensor relu_backprop(const Tensor& dy, const Tensor& x) {
  check_backprop_inputs(dy, x, kReluBackprop, "input");
  Tensor dx = Tensor::empty(x.shape(), x.dtype());
  kernels::relu_backward(dy, x, dx);
  // Piecewise constant in x: no gradient flows to x.
  return record(kReluBackprop, {dy, x}, std::move(dx), [](const BackwardArgs& args) -> Grads {
    return {relu_backprop(args.grad, args.input(1)), Tensor{}};
  });
}

constexpr const char* kSigmoid = "sigmoid";
Tensor sigmoid(const Tensor& x) {
  detail::check_defined(kSigmoid, {x});
  if (!is_floating(x.dtype())) fail("sigmoid: expected a float32 or float64 tensor, got {}", dtype_name(x.dtype()));
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  kernels::sigmoid_forward(x, y);
  return record(
      kSigmoid, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads { return {sigmoid_backprop(args.grad, args.output)}; }, {},
      InputUse::shapes);
}

constexpr const char* kSigmoidBackprop = "sigmoid_backprop";
Tensor sigmoid_backprop(const Tensor& dy, const Tensor& y) {
  check_backprop_inputs(dy, y, kSigmoidBackprop, "output");
  Tensor dx = Tensor::empty(y.shape(), y.dtype());
  kernels::sigmoid_backward(dy, y, dx);
  return record(kSigmoidBackprop, {dy, y}, std::move(dx), [](const BackwardArgs& args) -> Grads {
    const Tensor& dy = args.input(0);
    const Tensor& y = args.input(1);
    return {args.needs(0) ? sigmoid_backprop(args.grad, y) : Tensor{},
            args.needs(1) ? args.grad * dy * (1.0 - 2.0 * y) : Tensor{}};
  });
}

const char* activation_name(Activation activation, const char* op) {
  switch (activation) {
    case Activation::linear: return "linear";
    case Activation::relu: return "relu";
    case Activation::sigmoid: return "sigmoid";
  }
  fail("{}: activation {} is not an Activation; expected linear, relu or sigmoid", op, static_cast<int>(activation));
}

constexpr const char* kApplyActivation = "apply_activation";
Tensor apply_activation(const Tensor& x, Activation activation) {
  detail::check_defined(kApplyActivation, {x});
  activation_name(activation, kApplyActivation);  // a value outside the enum is an error
  if (!is_floating(x.dtype())) {
    fail("{}: expected a float32 or float64 tensor, got {}", kApplyActivation, dtype_name(x.dtype()));
  }
  switch (activation) {
    case Activation::relu: return relu(x);
    case Activation::sigmoid: return sigmoid(x);
    default: return x;
  }
}

constexpr const char* kTanh = "tanh";
Tensor tanh(const Tensor& x) {
  Tensor y = kernels::map(x, kTanh, [](auto v) { return std::tanh(v); });
  return record(
      kTanh, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads { return {args.grad * (1.0 - square(args.output))}; }, {},
      InputUse::shapes);
}

constexpr const char* kSqrt = "sqrt";
Tensor sqrt(const Tensor& x) {
  Tensor y = kernels::map(x, kSqrt, [](auto v) { return std::sqrt(v); });
  return record(
      kSqrt, {x}, std::move(y), [](const BackwardArgs& args) -> Grads { return {args.grad / (args.output * 2.0)}; }, {},
      InputUse::shapes);
}

constexpr const char* kClip = "clip";
namespace {
// The attributes of clip: its bounds.
struct ClipAttrs {
  double low, high;
  std::string print() const { return fmt::format("low={}, high={}", low, high); }
};
}  // namespace
Tensor clip(const Tensor& x, double low, double high) {
  detail::check_defined(kClip, {x});
  if (!(low <= high)) fail("clip: bounds [{}, {}] for shape {}; expected low <= high", low, high, x.shape());
  Tensor y = kernels::map(x, kClip, [low, high](auto v) {
    using T = decltype(v);
    return std::min(std::max(v, static_cast<T>(low)), static_cast<T>(high));
  });
  // NOTE: the gradient is 1 on the bounds themselves (low <= x <= high), as in TensorFlow.
  return record(
      kClip, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        const Tensor& in = args.input(0);
        const ClipAttrs& bounds = args.attrs<ClipAttrs>();
        const Tensor inside = greater_equal(in, Tensor::scalar(bounds.low, in.dtype())) *
                              less_equal(in, Tensor::scalar(bounds.high, in.dtype()));
        return {args.grad * inside};
      },
      ClipAttrs{low, high});
}

// ---- Selection ----

constexpr const char* kMaximum = "maximum";
Tensor maximum(const Tensor& a, const Tensor& b) {
  // NOTE: a NaN in either wins, as NumPy's maximum.
  Tensor y = kernels::zip(a, b, kMaximum, [](auto u, auto v) { return u >= v || u != u ? u : v; });
  // NOTE: where a == b the whole gradient goes to a, as in TensorFlow.
  return record(kMaximum, {a, b}, std::move(y), [](const BackwardArgs& args) -> Grads {
    const Tensor a_wins = greater_equal(args.input(0), args.input(1));
    return {args.needs(0) ? args.grad * a_wins : Tensor{}, args.needs(1) ? args.grad * (1.0 - a_wins) : Tensor{}};
  });
}

constexpr const char* kMinimum = "minimum";
Tensor minimum(const Tensor& a, const Tensor& b) {
  // NOTE: a NaN in either wins, as NumPy's minimum.
  Tensor y = kernels::zip(a, b, kMinimum, [](auto u, auto v) { return u <= v || u != u ? u : v; });
  // NOTE: where a == b the whole gradient goes to a, as in TensorFlow.
  return record(kMinimum, {a, b}, std::move(y), [](const BackwardArgs& args) -> Grads {
    const Tensor a_wins = less_equal(args.input(0), args.input(1));
    return {args.needs(0) ? args.grad * a_wins : Tensor{}, args.needs(1) ? args.grad * (1.0 - a_wins) : Tensor{}};
  });
}

constexpr const char* kWhere = "where";
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  detail::check_defined(kWhere, {cond, a, b});
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), kWhere), b.shape(), kWhere);
  if (a.dtype() != b.dtype()) {
    fail("where: a is {} {} but b is {} {}; expected one dtype", a.shape(), dtype_name(a.dtype()), b.shape(),
         dtype_name(b.dtype()));
  }
  const Tensor mask = broadcast_to(kernels::map(cond.to(a.dtype()), kWhere, [](auto v) { return v != 0; }), shape);
  Tensor y;
  {
    StopRecording forward_only;  // broadcasting copies; the op itself is recorded once below
    y = kernels::select(mask, broadcast_to(a, shape), broadcast_to(b, shape));
  }
  return record(kWhere, {mask, a, b}, std::move(y), [](const BackwardArgs& args) -> Grads {
    const Tensor& m = args.input(0);
    return {Tensor{}, args.needs(1) ? args.grad * m : Tensor{}, args.needs(2) ? args.grad * (1.0 - m) : Tensor{}};
  });
}

// The ops defined above, for differentiable_ops().
std::vector<const char*> detail::activation_ops() {
  return {kRelu, kReluBackprop, kSigmoid, kSigmoidBackprop, kTanh, kSqrt, kClip, kMaximum, kMinimum, kWhere};
}

}  // namespace tapegrad
