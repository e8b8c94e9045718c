// The elementwise ops of autograd/ops/elementwise.cpp: the four arithmetic ops (with broadcasts and
// constants), neg, abs, square, pow, exp, log, sin, cos, and the fused gradients of abs and pow.

#include "tests/autograd/gradcheck/registry.hpp"

#include <tapegrad/tapegrad.hpp>

#include <fmt/format.h>

namespace tapegrad::testing {

void add_elementwise_cases(Registry& r) {
  const Domain any = Domain::any, positive = Domain::positive, away = Domain::away_from_zero;

  // Binary elementwise ops: equal shapes, broadcasts, scalars, large and small magnitudes.
  r.binary(
      "add", [](const Inputs& x) { return add(x[0], x[1]); }, any);
  r.binary(
      "sub", [](const Inputs& x) { return sub(x[0], x[1]); }, any);
  r.binary(
      "mul", [](const Inputs& x) { return mul(x[0], x[1]); }, any);
  r.binary(
      "div", [](const Inputs& x) { return div(x[0], x[1]); }, away);
  r.add("add", "tensor + double", {{{3}}}, [](const Inputs& x) { return x[0] + 2.5; });
  r.add("sub", "double - tensor", {{{3}}}, [](const Inputs& x) { return 2.5 - x[0]; });
  r.add("mul", "tensor used twice: x * x", {{{2, 2}}}, [](const Inputs& x) { return x[0] * x[0]; });
  r.add("div", "double / tensor", {{{3}, away}}, [](const Inputs& x) { return 1.0 / x[0]; });
  r.add("div", "tensor / itself", {{{3}, away}}, [](const Inputs& x) { return x[0] / x[0]; });

  // Unary elementwise ops.
  r.unary(
      "neg", [](const Inputs& x) { return neg(x[0]); }, any, 1e3, 1e-3);
  r.unary(
      "abs", [](const Inputs& x) { return abs(x[0]); }, away, 1e3, 1e-3);
  r.unary(
      "square", [](const Inputs& x) { return square(x[0]); }, any, 1e3, 1e-3);
  r.unary(
      "exp", [](const Inputs& x) { return exp(x[0]); }, any, 5, 1e-3);
  r.unary(
      "log", [](const Inputs& x) { return log(x[0]); }, positive, 1e3, 1e-3);
  r.unary(
      "pow", [](const Inputs& x) { return pow(x[0], 3); }, positive, 1e2, 1e-2);
  r.add("pow", "x^0.5", {{{3, 4}, positive}}, [](const Inputs& x) { return pow(x[0], 0.5); });
  r.add("pow", "x^-1.5", {{{3, 4}, positive}}, [](const Inputs& x) { return pow(x[0], -1.5); });
  r.add("pow", "x^2 of any sign", {{{3, 4}}}, [](const Inputs& x) { return pow(x[0], 2); });
  r.add("pow", "x^1", {{{3}, positive}}, [](const Inputs& x) { return pow(x[0], 1); });
  r.add("pow", "x^0 (gradient 0)", {{{3}, positive}}, [](const Inputs& x) { return pow(x[0], 0) + x[0]; });
  r.add("abs_backprop", "gradient and input of 3x4", {{{3, 4}}, {{3, 4}, away}},
        [](const Inputs& x) { return abs_backprop(x[0], x[1]); });
  for (const double p : {3.0, 2.0, 1.0, 0.5, -1.5, 0.0}) {
    r.add("pow_backprop", fmt::format("x^{}: gradient and input of 3x4", p), {{{3, 4}}, {{3, 4}, positive}},
          [p](const Inputs& x) { return pow_backprop(x[0], x[1], p); });
  }
  r.add("pow_backprop", "x^2 of any sign", {{{3, 4}}, {{3, 4}}},
        [](const Inputs& x) { return pow_backprop(x[0], x[1], 2); });
  r.unary(
      "sin", [](const Inputs& x) { return sin(x[0]); }, any, 1e2, 1e-3);
  // NOTE: not at 1e-3: there cos is 1 - 5e-7 while its gradient is 1e-3, so the central
  // difference (step 1e-9) loses the gradient's digits to the rounding of cos itself.
  r.unary(
      "cos", [](const Inputs& x) { return cos(x[0]); }, any, 1e2, 1e-1);
}

}  // namespace tapegrad::testing
