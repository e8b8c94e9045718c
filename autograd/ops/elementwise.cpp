// Elementwise ops: forward kernel call and gradient side by side.

#include <tapegrad/autograd/ops.hpp>
#include "autograd/detail/checked.hpp"
#include "autograd/kernels/kernels.hpp"
#include "autograd/ops/op_registry.hpp"
#include "autograd/ops/record.hpp"

#include <cmath>

namespace tapegrad {

using detail::check_backprop_inputs;
// ---- Binary arithmetic ----

// The arithmetic of the four, shared by tensor-tensor and tensor-constant forms.
constexpr auto kPlus = [](auto u, auto v) { return u + v; };
constexpr auto kMinus = [](auto u, auto v) { return u - v; };
constexpr auto kTimes = [](auto u, auto v) { return u * v; };
constexpr auto kOver = [](auto u, auto v) { return u / v; };

constexpr const char* kAdd = "add";
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = kernels::zip(a, b, kAdd, kPlus);
  return record(
      kAdd, {a, b}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        return {args.grad_if_needed(0), args.grad_if_needed(1)};
      },
      {}, InputUse::shapes);
}

constexpr const char* kSub = "sub";
Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = kernels::zip(a, b, kSub, kMinus);
  return record(
      kSub, {a, b}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        return {args.grad_if_needed(0), args.needs(1) ? -args.grad : Tensor{}};
      },
      {}, InputUse::shapes);
}

constexpr const char* kMul = "mul";
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = kernels::zip(a, b, kMul, kTimes);
  return record(kMul, {a, b}, std::move(y), [](const BackwardArgs& args) -> Grads {
    return {args.needs(0) ? args.grad * args.input(1) : Tensor{}, args.needs(1) ? args.grad * args.input(0) : Tensor{}};
  });
}

constexpr const char* kDiv = "div";
Tensor div(const Tensor& a, const Tensor& b) {
  Tensor y = kernels::zip(a, b, kDiv, kOver);
  return record(kDiv, {a, b}, std::move(y), [](const BackwardArgs& args) -> Grads {
    return {args.needs(0) ? args.grad / args.input(1) : Tensor{},
            args.needs(1) ? -(args.grad * args.input(0)) / square(args.input(1)) : Tensor{}};
  });
}

constexpr const char* kNeg = "neg";
Tensor neg(const Tensor& x) {
  Tensor y = kernels::map(x, kNeg, [](auto v) { return -v; });
  return record(
      kNeg, {x}, std::move(y), [](const BackwardArgs& args) -> Grads { return {-args.grad}; }, {}, InputUse::shapes);
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
namespace {
// x op c (or c op x) for a constant c: the op on a scalar tensor of c, except that when no tape
// tracks x nothing is recorded, and the kernel takes c as a value. Same arithmetic, same bits, one
// tensor fewer (a backward's `grad * 2.0` and an update's `lr * grad` are such ops).
template <bool kConstantFirst, typename F>
Tensor with_constant(Tensor (*op)(const Tensor&, const Tensor&), const char* name, F f, const Tensor& x, double c) {
  detail::check_defined(name, {x});
  if (any_tape_tracks(x)) {
    const Tensor constant = Tensor::scalar(c, x.dtype());
    return kConstantFirst ? op(constant, x) : op(x, constant);
  }
  return kernels::map(x, name, [f, c](auto v) {
    const auto value = static_cast<decltype(v)>(c);
    if constexpr (kConstantFirst) return f(value, v);
    else return f(v, value);
  });
}
}  // namespace

Tensor operator+(const Tensor& a, double b) { return with_constant<false>(add, kAdd, kPlus, a, b); }
Tensor operator-(const Tensor& a, double b) { return with_constant<false>(sub, kSub, kMinus, a, b); }
Tensor operator*(const Tensor& a, double b) { return with_constant<false>(mul, kMul, kTimes, a, b); }
Tensor operator/(const Tensor& a, double b) { return with_constant<false>(div, kDiv, kOver, a, b); }
Tensor operator+(double a, const Tensor& b) { return with_constant<true>(add, kAdd, kPlus, b, a); }
Tensor operator-(double a, const Tensor& b) { return with_constant<true>(sub, kSub, kMinus, b, a); }
Tensor operator*(double a, const Tensor& b) { return with_constant<true>(mul, kMul, kTimes, b, a); }
Tensor operator/(double a, const Tensor& b) { return with_constant<true>(div, kDiv, kOver, b, a); }

// ---- Unary functions ----

constexpr auto kSign = [](auto v) { return static_cast<decltype(v)>((v > 0) - (v < 0)); };
Tensor sign(const Tensor& x) { return kernels::map(x, "sign", kSign); }

constexpr const char* kAbs = "abs";
Tensor abs(const Tensor& x) {
  Tensor y = kernels::map(x, kAbs, [](auto v) { return std::abs(v); });
  // NOTE: sign(0) = 0, so the gradient at the kink x = 0 is 0, as in TensorFlow.
  return record(kAbs, {x}, std::move(y),
                [](const BackwardArgs& args) -> Grads { return {abs_backprop(args.grad, args.input(0))}; });
}

constexpr const char* kAbsBackprop = "abs_backprop";
Tensor abs_backprop(const Tensor& dy, const Tensor& x) {
  check_backprop_inputs(dy, x, kAbsBackprop, "input");
  Tensor dx = kernels::zip(dy, x, kAbsBackprop, [](auto d, auto v) { return d * kSign(v); });
  // Piecewise constant in x: no gradient flows to x.
  return record(kAbsBackprop, {dy, x}, std::move(dx), [](const BackwardArgs& args) -> Grads {
    return {args.needs(0) ? abs_backprop(args.grad, args.input(1)) : Tensor{}, Tensor{}};
  });
}

constexpr const char* kSquare = "square";
Tensor square(const Tensor& x) {
  Tensor y = kernels::map(x, kSquare, [](auto v) { return v * v; });
  return record(kSquare, {x}, std::move(y),
                [](const BackwardArgs& args) -> Grads { return {args.grad * (args.input(0) * 2.0)}; });
}

constexpr const char* kPow = "pow";
namespace {
// The attributes of pow and pow_backprop.
struct PowAttrs {
  double exponent;
  std::string print() const { return fmt::format("exponent={}", exponent); }
};

// Calls `f` with the elementwise function v -> v^exponent.
// NOTE: x^2 and x^1 (a squared error and its gradient) are exact as v * v and v, and many times
// cheaper than std::pow.
template <typename F>
Tensor with_power(double exponent, F f) {
  if (exponent == 2.0) return f([](auto v) { return v * v; });
  if (exponent == 1.0) return f([](auto v) { return v; });
  return f([exponent](auto v) { return std::pow(v, static_cast<decltype(v)>(exponent)); });
}
}  // namespace
Tensor pow(const Tensor& x, double exponent) {
  Tensor y = with_power(exponent, [&](auto raise) { return kernels::map(x, kPow, raise); });
  return record(
      kPow, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        return {pow_backprop(args.grad, args.input(0), args.attrs<PowAttrs>().exponent)};
      },
      PowAttrs{exponent});
}

constexpr const char* kPowBackprop = "pow_backprop";
Tensor pow_backprop(const Tensor& dy, const Tensor& x, double exponent) {
  check_backprop_inputs(dy, x, kPowBackprop, "input");
  const double p = exponent;
  // dy * (x^(p-1) * p) in the composite ops' order, so with their bits; 0 for p = 0 even where x^-1 is inf.
  Tensor dx = p == 0.0 ? zeros_like(x) : with_power(p - 1.0, [&](auto raise) {
    return kernels::zip(dy, x, kPowBackprop,
                        [raise, p](auto d, auto v) { return d * (raise(v) * static_cast<decltype(v)>(p)); });
  });
  return record(
      kPowBackprop, {dy, x}, std::move(dx),
      [](const BackwardArgs& args) -> Grads {
        const double p = args.attrs<PowAttrs>().exponent;
        const Tensor &dy = args.input(0), &x = args.input(1);
        return {args.needs(0) ? pow_backprop(args.grad, x, p) : Tensor{},
                args.needs(1) && p != 0.0 ? pow_backprop(args.grad * dy * p, x, p - 1.0) : Tensor{}};
      },
      PowAttrs{exponent});
}

constexpr const char* kExp = "exp";
Tensor exp(const Tensor& x) {
  Tensor y = kernels::map(x, kExp, [](auto v) { return std::exp(v); });
  return record(
      kExp, {x}, std::move(y), [](const BackwardArgs& args) -> Grads { return {args.grad * args.output}; }, {},
      InputUse::shapes);
}

constexpr const char* kLog = "log";
Tensor log(const Tensor& x) {
  Tensor y = kernels::map(x, kLog, [](auto v) { return std::log(v); });
  return record(kLog, {x}, std::move(y), [](const BackwardArgs& args) -> Grads { return {args.grad / args.input(0)}; });
}

constexpr const char* kSin = "sin";
Tensor sin(const Tensor& x) {
  Tensor y = kernels::map(x, kSin, [](auto v) { return std::sin(v); });
  return record(kSin, {x}, std::move(y),
                [](const BackwardArgs& args) -> Grads { return {args.grad * cos(args.input(0))}; });
}

constexpr const char* kCos = "cos";
Tensor cos(const Tensor& x) {
  Tensor y = kernels::map(x, kCos, [](auto v) { return std::cos(v); });
  return record(kCos, {x}, std::move(y),
                [](const BackwardArgs& args) -> Grads { return {-(args.grad * sin(args.input(0)))}; });
}

// The ops defined above, for differentiable_ops().
std::vector<const char*> detail::elementwise_ops() {
  return {kAdd, kSub, kMul, kDiv, kNeg, kAbs, kAbsBackprop, kSquare, kPow, kPowBackprop, kExp, kLog, kSin, kCos};
}

}  // namespace tapegrad
