// The activations and selections of autograd/ops/activation.cpp: relu, sigmoid, tanh, sqrt, clip,
// maximum, minimum, where, and the gradient ops of relu and sigmoid.

#include "tests/autograd/gradcheck/registry.hpp"

#include <tapegrad/tapegrad.hpp>

#include <cmath>
#include <cstdint>

namespace tapegrad::testing {

void add_activation_cases(Registry& r) {
  const Domain any = Domain::any, positive = Domain::positive, away = Domain::away_from_zero;

  // Activations (inputs kept away from the kinks, whose values the kink tests pin).
  r.unary(
      "relu", [](const Inputs& x) { return relu(x[0]); }, away, 1e3, 1e-3);
  {
    Generator relu_generator(12);
    const Tensor fixed_x = random_normal({3, 4}, relu_generator, 0, 1, DType::float64);
    r.add("relu_backprop", "gradient of 3x4 at a fixed input", {{{3, 4}}},
          [fixed_x](const Inputs& x) { return relu_backprop(x[0], fixed_x); });
  }
  r.unary(
      "sigmoid", [](const Inputs& x) { return sigmoid(x[0]); }, any, 5, 1e-3);
  r.add("sigmoid", "large negative and positive inputs", {{{4}}}, [](const Inputs& x) { return sigmoid(x[0] * 30.0); });
  r.add("sigmoid_backprop", "gradient and output of 3x4", {{{3, 4}}, {{3, 4}}},
        [](const Inputs& x) { return sigmoid_backprop(x[0], sigmoid(x[1])); });
  r.unary(
      "tanh", [](const Inputs& x) { return tanh(x[0]); }, any, 3, 1e-3);
  r.unary(
      "sqrt", [](const Inputs& x) { return sqrt(x[0]); }, positive, 1e3, 1e-2);
  r.add("clip", "3x4 within [-0.5, 0.5]", {{{3, 4}}}, [](const Inputs& x) { return clip(x[0], -0.5, 0.5); });
  r.add("clip", "2x1x3, one bound open", {{{2, 1, 3}}}, [](const Inputs& x) { return clip(x[0], -INFINITY, 0.3); });
  r.add(
      "clip", "magnitude 1e3", {{{5}}}, [](const Inputs& x) { return clip(x[0], -700, 700); }, 1e3);
  r.binary(
      "maximum", [](const Inputs& x) { return maximum(x[0], x[1]); }, any);
  r.binary(
      "minimum", [](const Inputs& x) { return minimum(x[0], x[1]); }, any);
  const Tensor mask34 = Tensor({1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0}, {3, 4}, DType::float64);
  r.add("where", "3x4 mask, 3x4 and 3x4", {{{3, 4}}, {{3, 4}}},
        [mask34](const Inputs& x) { return where(mask34, x[0], x[1]); });
  r.add("where", "3x4 mask, 3x1 and 4 (broadcast)", {{{3, 1}}, {{4}}},
        [mask34](const Inputs& x) { return where(mask34, x[0], x[1]); });
  r.add("where", "mask from a comparison", {{{2, 3}}, {{2, 3}}},
        [](const Inputs& x) { return where(greater(x[0], x[1]), x[0] * x[1], x[1]); });
}

}  // namespace tapegrad::testing
