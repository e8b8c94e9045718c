// The ops: one registry of gradient checks (every registered op must have entries), exact small
// cases from the book, and forward values against plain formulas.

#include <tapegrad/tapegrad.hpp>
#include "autograd/ops/record.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

using namespace tapegrad;

namespace {

using Inputs = std::vector<Tensor>;
using OpFunction = std::function<Tensor(const Inputs&)>;

// Where an input's random values come from.
enum class Domain {
  any,             // normal
  positive,        // uniform in [0.5, 2): for log, pow, sqrt
  away_from_zero,  // +-uniform in [0.5, 2): for abs, and denominators
};

struct Input {
  Shape shape;
  Domain domain = Domain::any;
};

// One entry of the gradient-check registry: which op, what it builds, from which inputs.
struct OpCase {
  std::string op;     // the name the op registers
  std::string label;  // what this entry covers
  std::vector<Input> inputs;
  OpFunction function;
  double scale = 1.0;  // the inputs' magnitude
};

Conv2DOptions conv_options(std::array<int64_t, 2> strides, std::array<int64_t, 2> dilations, Padding padding) {
  Conv2DOptions options;
  options.strides = strides;
  options.dilations = dilations;
  options.padding = padding;
  return options;
}

// The output shape of conv2d(x, kernel, options), computed by running it once.
Shape conv_output_shape(const Shape& x, const Shape& kernel, const Conv2DOptions& options) {
  return conv2d(zeros(x, DType::float64), zeros(kernel, DType::float64), options).shape();
}

std::vector<OpCase> make_registry() {
  std::vector<OpCase> cases;
  auto add_case = [&](std::string op, std::string label, std::vector<Input> inputs, OpFunction f, double scale = 1.0) {
    cases.push_back({std::move(op), std::move(label), std::move(inputs), std::move(f), scale});
  };
  const Domain any = Domain::any, positive = Domain::positive, away = Domain::away_from_zero;

  // Binary elementwise ops: equal shapes, broadcasts, scalars, large and small magnitudes.
  auto binary = [&](const char* op, OpFunction f, Domain second) {
    add_case(op, "3x4 with 3x4", {{{3, 4}}, {{3, 4}, second}}, f);
    add_case(op, "3x1 with 1x4", {{{3, 1}}, {{1, 4}, second}}, f);
    add_case(op, "2x3x4 with 4", {{{2, 3, 4}}, {{4}, second}}, f);
    add_case(op, "4 with 2x3x4", {{{4}}, {{2, 3, 4}, second}}, f);
    add_case(op, "2x1x3 with 4x1", {{{2, 1, 3}}, {{4, 1}, second}}, f);
    add_case(op, "scalar with 2x3", {{{}}, {{2, 3}, second}}, f);
    add_case(op, "2x3 with scalar", {{{2, 3}}, {{}, second}}, f);
    add_case(op, "5 with 5, magnitude 1e3", {{{5}}, {{5}, second}}, f, 1e3);
    add_case(op, "5 with 5, magnitude 1e-3", {{{5}}, {{5}, second}}, f, 1e-3);
  };
  binary(
      "add", [](const Inputs& x) { return add(x[0], x[1]); }, any);
  binary(
      "sub", [](const Inputs& x) { return sub(x[0], x[1]); }, any);
  binary(
      "mul", [](const Inputs& x) { return mul(x[0], x[1]); }, any);
  binary(
      "div", [](const Inputs& x) { return div(x[0], x[1]); }, away);
  add_case("add", "tensor + double", {{{3}}}, [](const Inputs& x) { return x[0] + 2.5; });
  add_case("sub", "double - tensor", {{{3}}}, [](const Inputs& x) { return 2.5 - x[0]; });
  add_case("mul", "tensor used twice: x * x", {{{2, 2}}}, [](const Inputs& x) { return x[0] * x[0]; });
  add_case("div", "double / tensor", {{{3}, away}}, [](const Inputs& x) { return 1.0 / x[0]; });
  add_case("div", "tensor / itself", {{{3}, away}}, [](const Inputs& x) { return x[0] / x[0]; });

  // Unary elementwise ops.
  auto unary = [&](const char* op, OpFunction f, Domain domain, double large, double small) {
    add_case(op, "3x4", {{{3, 4}, domain}}, f);
    add_case(op, "scalar", {{{}, domain}}, f);
    add_case(op, "2x1x3", {{{2, 1, 3}, domain}}, f);
    add_case(op, fmt::format("5, magnitude {}", large), {{{5}, domain}}, f, large);
    add_case(op, fmt::format("5, magnitude {}", small), {{{5}, domain}}, f, small);
  };
  unary(
      "neg", [](const Inputs& x) { return neg(x[0]); }, any, 1e3, 1e-3);
  unary(
      "abs", [](const Inputs& x) { return abs(x[0]); }, away, 1e3, 1e-3);
  unary(
      "square", [](const Inputs& x) { return square(x[0]); }, any, 1e3, 1e-3);
  unary(
      "exp", [](const Inputs& x) { return exp(x[0]); }, any, 5, 1e-3);
  unary(
      "log", [](const Inputs& x) { return log(x[0]); }, positive, 1e3, 1e-3);
  unary(
      "pow", [](const Inputs& x) { return pow(x[0], 3); }, positive, 1e2, 1e-2);
  add_case("pow", "x^0.5", {{{3, 4}, positive}}, [](const Inputs& x) { return pow(x[0], 0.5); });
  add_case("pow", "x^-1.5", {{{3, 4}, positive}}, [](const Inputs& x) { return pow(x[0], -1.5); });
  add_case("pow", "x^2 of any sign", {{{3, 4}}}, [](const Inputs& x) { return pow(x[0], 2); });
  add_case("pow", "x^1", {{{3}, positive}}, [](const Inputs& x) { return pow(x[0], 1); });
  add_case("pow", "x^0 (gradient 0)", {{{3}, positive}}, [](const Inputs& x) { return pow(x[0], 0) + x[0]; });
  add_case("abs_backprop", "gradient and input of 3x4", {{{3, 4}}, {{3, 4}, away}},
           [](const Inputs& x) { return abs_backprop(x[0], x[1]); });
  for (const double p : {3.0, 2.0, 1.0, 0.5, -1.5, 0.0}) {
    add_case("pow_backprop", fmt::format("x^{}: gradient and input of 3x4", p), {{{3, 4}}, {{3, 4}, positive}},
             [p](const Inputs& x) { return pow_backprop(x[0], x[1], p); });
  }
  add_case("pow_backprop", "x^2 of any sign", {{{3, 4}}, {{3, 4}}},
           [](const Inputs& x) { return pow_backprop(x[0], x[1], 2); });

  // Reductions.
  add_case("sum", "all of 3x4", {{{3, 4}}}, [](const Inputs& x) { return sum(x[0]); });
  add_case("sum", "axis 0 of 3x4", {{{3, 4}}}, [](const Inputs& x) { return sum(x[0], 0); });
  add_case("sum", "axis -1 of 2x3x4, keepdims", {{{2, 3, 4}}}, [](const Inputs& x) { return sum(x[0], -1, true); });
  add_case("sum", "axes 0 and 2 of 2x3x4", {{{2, 3, 4}}}, [](const Inputs& x) { return sum(x[0], {0, 2}); });
  add_case("sum", "a scalar", {{{}}}, [](const Inputs& x) { return sum(x[0]); });
  add_case("sum", "mean over axis 1, keepdims", {{{3, 5}}}, [](const Inputs& x) { return mean(x[0], 1, true); });
  add_case(
      "sum", "magnitude 1e3", {{{4, 3}}}, [](const Inputs& x) { return sum(x[0], 1); }, 1e3);
  add_case(
      "sum", "magnitude 1e-3", {{{4, 3}}}, [](const Inputs& x) { return sum(x[0], 0); }, 1e-3);

  // Shape ops.
  add_case("reshape", "2x6 to 3x4", {{{2, 6}}}, [](const Inputs& x) { return reshape(x[0], {3, 4}); });
  add_case("reshape", "2x3x4 to 24", {{{2, 3, 4}}}, [](const Inputs& x) { return reshape(x[0], {24}); });
  add_case("reshape", "1 to scalar", {{{1}}}, [](const Inputs& x) { return reshape(x[0], {}); });
  add_case("transpose", "3x4", {{{3, 4}}}, [](const Inputs& x) { return transpose(x[0]); });
  add_case("transpose", "2x3x4 by 2,0,1", {{{2, 3, 4}}}, [](const Inputs& x) { return transpose(x[0], {2, 0, 1}); });
  add_case("transpose", "1x5", {{{1, 5}}}, [](const Inputs& x) { return transpose(x[0]); });
  add_case("broadcast_to", "3x1 to 2x3x4", {{{3, 1}}}, [](const Inputs& x) { return broadcast_to(x[0], {2, 3, 4}); });
  add_case("broadcast_to", "scalar to 2x2", {{{}}}, [](const Inputs& x) { return broadcast_to(x[0], {2, 2}); });
  add_case("broadcast_to", "4 to 3x4", {{{4}}}, [](const Inputs& x) { return broadcast_to(x[0], {3, 4}); });
  add_case("sum_to", "2x3x4 to 3x1", {{{2, 3, 4}}}, [](const Inputs& x) { return sum_to(x[0], {3, 1}); });
  add_case("sum_to", "3x4 to scalar", {{{3, 4}}}, [](const Inputs& x) { return sum_to(x[0], {}); });
  add_case("sum_to", "3x4 to 4", {{{3, 4}}}, [](const Inputs& x) { return sum_to(x[0], {4}); });
  add_case("slice", "rows 1..3, every other column", {{{5, 6}}}, [](const Inputs& x) {
    return slice(x[0], {{1, 4}, {0, 6, 2}});
  });
  add_case("slice", "negative begin", {{{7}}}, [](const Inputs& x) { return slice(x[0], {{-3}}); });
  add_case("slice", "step 3 on the middle axis", {{{2, 7, 3}}}, [](const Inputs& x) {
    return slice(x[0], {{}, {1, INT64_MAX, 3}});
  });
  add_case("slice", "rows and cols", {{{4, 5}}}, [](const Inputs& x) { return cols(rows(x[0], 1, 3), 2, 5); });
  add_case("unslice", "2x3 into 5x6", {{{2, 3}}}, [](const Inputs& x) {
    return unslice(x[0], {5, 6}, {{1, 5, 2}, {0, 6, 2}});
  });
  add_case("unslice", "3 into 7 from the back", {{{3}}}, [](const Inputs& x) { return unslice(x[0], {7}, {{-3}}); });
  add_case("pad", "3x4, uneven", {{{3, 4}}}, [](const Inputs& x) { return pad(x[0], {1, 0}, {2, 3}); });
  add_case("pad", "2x2x2 on one axis", {{{2, 2, 2}}}, [](const Inputs& x) { return pad(x[0], {0, 0, 2}, {0, 0, 1}); });
  add_case("flip", "3x4 on axis 0", {{{3, 4}}}, [](const Inputs& x) { return flip(x[0], {0}); });
  add_case("flip", "3x4 on both axes", {{{3, 4}}}, [](const Inputs& x) { return flip(x[0], {0, 1}); });
  add_case("flip", "2x3x4 on axis -1", {{{2, 3, 4}}}, [](const Inputs& x) { return flip(x[0], {-1}); });

  // The chapter's cross-correlation.
  add_case("corr2d", "3x3 with 2x2", {{{3, 3}}, {{2, 2}}}, [](const Inputs& x) { return corr2d(x[0], x[1]); });
  add_case("corr2d", "6x8 with 1x2", {{{6, 8}}, {{1, 2}}}, [](const Inputs& x) { return corr2d(x[0], x[1]); });
  add_case("corr2d", "5x4 with 3x3", {{{5, 4}}, {{3, 3}}}, [](const Inputs& x) { return corr2d(x[0], x[1]); });
  add_case("corr2d", "kernel as large as the input", {{{4, 3}}, {{4, 3}}},
           [](const Inputs& x) { return corr2d(x[0], x[1]); });
  add_case("corr2d", "1x5 with 1x1", {{{1, 5}}, {{1, 1}}}, [](const Inputs& x) { return corr2d(x[0], x[1]); });
  add_case(
      "corr2d", "magnitude 1e3", {{{4, 4}}, {{2, 3}}}, [](const Inputs& x) { return corr2d(x[0], x[1]); }, 1e3);
  add_case(
      "corr2d", "magnitude 1e-3", {{{4, 4}}, {{2, 3}}}, [](const Inputs& x) { return corr2d(x[0], x[1]); }, 1e-3);

  // Batched convolution and its two gradient ops, over strides, dilations and paddings.
  struct ConvShape {
    std::string label;
    Shape x, kernel;
    Conv2DOptions options;
  };
  const std::vector<ConvShape> conv_shapes{
      {"1 channel, valid", {1, 5, 5, 1}, {3, 3, 1, 1}, {}},
      {"batch 2, 3 in, 4 out channels", {2, 6, 5, 3}, {3, 2, 3, 4}, {}},
      {"stride 2", {2, 7, 7, 2}, {3, 3, 2, 2}, conv_options({2, 2}, {1, 1}, Padding::valid())},
      {"strides 3 and 2, uneven fit", {1, 8, 7, 1}, {2, 2, 1, 2}, conv_options({3, 2}, {1, 1}, Padding::valid())},
      {"dilation 2", {1, 7, 6, 2}, {2, 2, 2, 3}, conv_options({1, 1}, {2, 2}, Padding::valid())},
      {"'same', stride 1", {2, 5, 4, 2}, {3, 2, 2, 2}, conv_options({1, 1}, {1, 1}, Padding::same())},
      {"'same', stride 2, odd padding", {1, 6, 6, 1}, {3, 3, 1, 2}, conv_options({2, 2}, {1, 1}, Padding::same())},
      {"explicit padding 1, 0, 2, 1",
       {1, 4, 5, 2},
       {3, 3, 2, 1},
       conv_options({1, 1}, {1, 1}, Padding::explicit_sides(1, 0, 2, 1))},
      {"stride 2, dilation 2, 'same'", {2, 7, 6, 1}, {2, 3, 1, 2}, conv_options({2, 2}, {2, 2}, Padding::same())},
      {"1x1 kernel, 3 to 2 channels", {2, 3, 3, 3}, {1, 1, 3, 2}, {}},
  };
  for (const ConvShape& c : conv_shapes) {
    const Conv2DOptions options = c.options;
    const Shape x_shape = c.x, kernel_shape = c.kernel;
    const Shape y_shape = conv_output_shape(x_shape, kernel_shape, options);
    add_case("conv2d", c.label, {{x_shape}, {kernel_shape}},
             [options](const Inputs& x) { return conv2d(x[0], x[1], options); });
    add_case("conv2d_backprop_input", c.label, {{y_shape}, {kernel_shape}},
             [options, x_shape](const Inputs& x) { return conv2d_backprop_input(x[0], x[1], x_shape, options); });
    add_case("conv2d_backprop_filter", c.label, {{x_shape}, {y_shape}}, [options, kernel_shape](const Inputs& x) {
      return conv2d_backprop_filter(x[0], x[1], kernel_shape, options);
    });
  }
  add_case(
      "conv2d", "magnitude 1e3", {{{1, 4, 4, 2}}, {{2, 2, 2, 2}}}, [](const Inputs& x) { return conv2d(x[0], x[1]); },
      1e3);
  add_case(
      "conv2d", "magnitude 1e-3", {{{1, 4, 4, 2}}, {{2, 2, 2, 2}}}, [](const Inputs& x) { return conv2d(x[0], x[1]); },
      1e-3);

  // Activations (inputs kept away from the kinks, whose values the kink tests pin).
  unary(
      "relu", [](const Inputs& x) { return relu(x[0]); }, away, 1e3, 1e-3);
  {
    Generator relu_generator(12);
    const Tensor fixed_x = random_normal({3, 4}, relu_generator, 0, 1, DType::float64);
    add_case("relu_backprop", "gradient of 3x4 at a fixed input", {{{3, 4}}},
             [fixed_x](const Inputs& x) { return relu_backprop(x[0], fixed_x); });
  }
  unary(
      "sigmoid", [](const Inputs& x) { return sigmoid(x[0]); }, any, 5, 1e-3);
  add_case("sigmoid", "large negative and positive inputs", {{{4}}},
           [](const Inputs& x) { return sigmoid(x[0] * 30.0); });
  add_case("sigmoid_backprop", "gradient and output of 3x4", {{{3, 4}}, {{3, 4}}},
           [](const Inputs& x) { return sigmoid_backprop(x[0], sigmoid(x[1])); });
  unary(
      "tanh", [](const Inputs& x) { return tanh(x[0]); }, any, 3, 1e-3);
  unary(
      "sqrt", [](const Inputs& x) { return sqrt(x[0]); }, positive, 1e3, 1e-2);
  unary(
      "sin", [](const Inputs& x) { return sin(x[0]); }, any, 1e2, 1e-3);
  // NOTE: not at 1e-3: there cos is 1 - 5e-7 while its gradient is 1e-3, so the central
  // difference (step 1e-9) loses the gradient's digits to the rounding of cos itself.
  unary(
      "cos", [](const Inputs& x) { return cos(x[0]); }, any, 1e2, 1e-1);
  add_case("clip", "3x4 within [-0.5, 0.5]", {{{3, 4}}}, [](const Inputs& x) { return clip(x[0], -0.5, 0.5); });
  add_case("clip", "2x1x3, one bound open", {{{2, 1, 3}}}, [](const Inputs& x) { return clip(x[0], -INFINITY, 0.3); });
  add_case(
      "clip", "magnitude 1e3", {{{5}}}, [](const Inputs& x) { return clip(x[0], -700, 700); }, 1e3);
  binary(
      "maximum", [](const Inputs& x) { return maximum(x[0], x[1]); }, any);
  binary(
      "minimum", [](const Inputs& x) { return minimum(x[0], x[1]); }, any);
  const Tensor mask34 = Tensor({1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0}, {3, 4}, DType::float64);
  add_case("where", "3x4 mask, 3x4 and 3x4", {{{3, 4}}, {{3, 4}}},
           [mask34](const Inputs& x) { return where(mask34, x[0], x[1]); });
  add_case("where", "3x4 mask, 3x1 and 4 (broadcast)", {{{3, 1}}, {{4}}},
           [mask34](const Inputs& x) { return where(mask34, x[0], x[1]); });
  add_case("where", "mask from a comparison", {{{2, 3}}, {{2, 3}}},
           [](const Inputs& x) { return where(greater(x[0], x[1]), x[0] * x[1], x[1]); });

  // Matrix products.
  auto matmul_case = [&](std::string label, Shape a, Shape b) {
    add_case("matmul", std::move(label), {{a}, {b}}, [](const Inputs& x) { return matmul(x[0], x[1]); });
  };
  matmul_case("3x4 @ 4x5", {3, 4}, {4, 5});
  matmul_case("matrix @ vector", {3, 4}, {4});
  matmul_case("vector @ matrix", {4}, {4, 2});
  matmul_case("vector @ vector", {5}, {5});
  matmul_case("batched 2x3x4 @ 2x4x2", {2, 3, 4}, {2, 4, 2});
  matmul_case("batch broadcast 2x1x3x4 @ 3x4x5", {2, 1, 3, 4}, {3, 4, 5});
  matmul_case("batched @ matrix", {2, 3, 4}, {4, 3});
  add_case(
      "matmul", "magnitude 1e2", {{{2, 3}}, {{3, 2}}}, [](const Inputs& x) { return matmul(x[0], x[1]); }, 1e2);
  add_case(
      "matmul", "magnitude 1e-3", {{{2, 3}}, {{3, 2}}}, [](const Inputs& x) { return matmul(x[0], x[1]); }, 1e-3);

  // Reductions with a maximum, and the softmax family.
  add_case("reduce_max", "all of 3x4", {{{3, 4}}}, [](const Inputs& x) { return reduce_max(x[0]); });
  add_case("reduce_max", "axis 1 of 2x3x4", {{{2, 3, 4}}}, [](const Inputs& x) { return reduce_max(x[0], {1}); });
  add_case("reduce_max", "axes 0, 2 of 2x3x4, keepdims", {{{2, 3, 4}}}, [](const Inputs& x) {
    return reduce_max(x[0], {0, 2}, true);
  });
  add_case(
      "reduce_max", "magnitude 1e3", {{{4, 3}}}, [](const Inputs& x) { return reduce_max(x[0], {0}); }, 1e3);
  add_case("logsumexp", "all of 3x4", {{{3, 4}}}, [](const Inputs& x) { return logsumexp(x[0]); });
  add_case("logsumexp", "axis -1 of 2x3x4, keepdims", {{{2, 3, 4}}},
           [](const Inputs& x) { return logsumexp(x[0], {-1}, true); });
  add_case(
      "logsumexp", "magnitude 1e2 (no overflow)", {{{3, 4}}}, [](const Inputs& x) { return logsumexp(x[0], {1}); },
      1e2);
  add_case("softmax", "3x4 over the last axis", {{{3, 4}}}, [](const Inputs& x) { return softmax(x[0]); });
  add_case("softmax", "2x3x4 over axis 1", {{{2, 3, 4}}}, [](const Inputs& x) { return softmax(x[0], 1); });
  add_case("softmax", "a 5-vector", {{{5}}}, [](const Inputs& x) { return softmax(x[0]); });
  add_case(
      "softmax", "magnitude 10", {{{2, 4}}}, [](const Inputs& x) { return softmax(x[0]); }, 10);
  add_case("log_softmax", "3x4", {{{3, 4}}}, [](const Inputs& x) { return log_softmax(x[0]); });
  add_case("log_softmax", "2x3x4 over axis 0", {{{2, 3, 4}}}, [](const Inputs& x) { return log_softmax(x[0], 0); });
  add_case(
      "log_softmax", "magnitude 1e2", {{{2, 5}}}, [](const Inputs& x) { return log_softmax(x[0]); }, 1e2);
  add_case("log_softmax", "cross-entropy with int64 labels", {{{3, 4}}}, [](const Inputs& x) {
    return softmax_cross_entropy(x[0], Tensor({1, 0, 3}, {3}, DType::int64));
  });
  add_case("log_softmax", "cross-entropy with probabilities, summed", {{{3, 4}}, {{3, 4}}},
           [](const Inputs& x) { return softmax_cross_entropy(x[0], softmax(x[1]), Reduction::sum); });

  // Joining and indexing.
  add_case("concat", "3x4 and 3x2 on axis 1", {{{3, 4}}, {{3, 2}}}, [](const Inputs& x) {
    return concat({x[0], x[1]}, 1);
  });
  add_case("concat", "three along axis 0", {{{1, 3}}, {{2, 3}}, {{3, 3}}}, [](const Inputs& x) {
    return concat({x[0], x[1], x[2]}, 0);
  });
  add_case("concat", "stack of two on a new last axis", {{{2, 3}}, {{2, 3}}}, [](const Inputs& x) {
    return stack({x[0], x[1]}, -1);
  });
  const Tensor indices = Tensor({2, 0, 2, 1}, {2, 2}, DType::int64);
  add_case("gather", "axis 1 of 3x4x2 by 2x2 indices (repeats)", {{{3, 4, 2}}},
           [indices](const Inputs& x) { return gather(x[0], indices, 1); });
  add_case("gather", "rows of 5x3", {{{5, 3}}}, [](const Inputs& x) {
    return gather(x[0], Tensor({4, 0, 4}, {3}, DType::int64), 0);
  });
  add_case("scatter_add", "into axis 1 of 3x4x2", {{{3, 2, 2, 2}}}, [indices](const Inputs& x) {
    return scatter_add(x[0], indices, 1, {3, 4, 2});
  });

  // Pooling and its gradient ops.
  Generator pool_generator(11);
  struct PoolShape {
    std::string label;
    Shape x;
    Pool2DOptions options;
  };
  const std::vector<PoolShape> pool_shapes{
      {"2x2 windows", {2, 4, 6, 3}, {}},
      {"3x2 windows, stride 2x1, 'same'", {1, 5, 4, 2}, {{3, 2}, std::array<int64_t, 2>{2, 1}, Padding::same()}},
      {"3x3, stride 2, explicit padding 1", {1, 5, 5, 1}, {{3, 3}, std::array<int64_t, 2>{2, 2}, Padding::uniform(1)}},
  };
  for (const PoolShape& c : pool_shapes) {
    const Pool2DOptions options = c.options;
    const Shape x_shape = c.x;
    const Tensor fixed_x = random_normal(x_shape, pool_generator, 0, 1, DType::float64);
    const Shape y_shape = max_pool2d(fixed_x, options).shape();
    add_case("max_pool2d", c.label, {{x_shape}}, [options](const Inputs& x) { return max_pool2d(x[0], options); });
    add_case("avg_pool2d", c.label, {{x_shape}}, [options](const Inputs& x) { return avg_pool2d(x[0], options); });
    add_case("max_pool2d_backprop", c.label, {{y_shape}},
             [options, fixed_x](const Inputs& x) { return max_pool2d_backprop(x[0], fixed_x, options); });
    add_case("max_pool2d_select", c.label, {{x_shape}},
             [options, fixed_x](const Inputs& x) { return max_pool2d_select(x[0], fixed_x, options); });
    add_case("avg_pool2d_backprop", c.label, {{y_shape}},
             [options, x_shape](const Inputs& x) { return avg_pool2d_backprop(x[0], x_shape, options); });
  }
  return cases;
}

const std::vector<OpCase>& registry() {
  static const std::vector<OpCase> cases = make_registry();
  return cases;
}

// The inputs of an entry: float64, seeded, scaled, drawn from each input's domain.
Inputs make_inputs(const OpCase& c, uint64_t seed) {
  Generator generator(seed);
  Inputs inputs;
  for (const Input& input : c.inputs) {
    std::vector<double> values(static_cast<size_t>(input.shape.numel()));
    for (double& v : values) {
      switch (input.domain) {
        case Domain::any: v = generator.normal(); break;
        case Domain::positive: v = 0.5 + 1.5 * generator.uniform(); break;
        case Domain::away_from_zero:
          v = (0.5 + 1.5 * generator.uniform()) * (generator.uniform() < 0.5 ? -1.0 : 1.0);
          break;
      }
      v *= c.scale;
    }
    inputs.emplace_back(values, input.shape, DType::float64);
  }
  return inputs;
}

// Tolerances that follow the inputs' magnitude: the step scales with it, and so does the floor.
GradcheckOptions options_for(const OpCase& c) {
  GradcheckOptions options;
  options.epsilon = 1e-6 * c.scale;
  options.atol = 1e-6 * std::min(1.0, c.scale);
  options.rtol = 1e-5;
  return options;
}

// The reference: y[n,i,j,o] = sum_abc x[n, i*s + a*d - pad, j*s + b*d - pad, c] k[a,b,c,o], as loops.
std::vector<double> reference_conv2d(const Tensor& x, const Tensor& k, std::array<int64_t, 2> s,
                                     std::array<int64_t, 2> d, int64_t pad_top, int64_t pad_left, const Shape& out) {
  std::vector<double> y(static_cast<size_t>(out.numel()), 0.0);
  const Shape& xs = x.shape();
  const Shape& ks = k.shape();
  size_t p = 0;
  for (int64_t n = 0; n < out[0]; ++n)
    for (int64_t i = 0; i < out[1]; ++i)
      for (int64_t j = 0; j < out[2]; ++j)
        for (int64_t o = 0; o < out[3]; ++o, ++p)
          for (int64_t a = 0; a < ks[0]; ++a)
            for (int64_t b = 0; b < ks[1]; ++b)
              for (int64_t c = 0; c < ks[2]; ++c) {
                const int64_t h = i * s[0] + a * d[0] - pad_top, w = j * s[1] + b * d[1] - pad_left;
                if (h < 0 || h >= xs[1] || w < 0 || w >= xs[2]) continue;
                y[p] += x.at({n, h, w, c}) * k.at({a, b, c, o});
              }
  return y;
}

double dot(const Tensor& a, const Tensor& b) {
  const std::vector<double> u = a.to_vector(), v = b.to_vector();
  REQUIRE(u.size() == v.size());
  double total = 0;
  for (size_t i = 0; i < u.size(); ++i) total += u[i] * v[i];
  return total;
}

void check_close(const Tensor& actual, const std::vector<double>& expected, double tolerance = 1e-12) {
  const std::vector<double> values = actual.to_vector();
  REQUIRE(values.size() == expected.size());
  for (size_t i = 0; i < values.size(); ++i) {
    INFO("element ", i);
    CHECK(values[i] == doctest::Approx(expected[i]).epsilon(tolerance));
  }
}

}  // namespace

TEST_CASE("op registry: every registered op has gradient checks, and every entry names a registered op") {
  const std::vector<std::string>& registered = differentiable_ops();
  std::set<std::string> covered;
  for (const OpCase& c : registry()) covered.insert(c.op);
  for (const std::string& name : registered) {
    INFO("registered op '", name, "' has no entry in the gradcheck registry of tests/autograd/test_ops.cpp");
    CHECK(covered.contains(name));
  }
  const std::set<std::string> names(registered.begin(), registered.end());
  for (const std::string& op : covered) {
    INFO("the gradcheck registry names '", op, "', which no op registers");
    CHECK(names.contains(op));
  }
  CHECK_MESSAGE(names.size() == registered.size(), "an op name is registered twice");
}

TEST_CASE("op registry: gradcheck of every entry (float64 central differences)") {
  uint64_t seed = 1000;
  for (const OpCase& c : registry()) {
    const Inputs inputs = make_inputs(c, seed++);
    INFO(c.op, ", ", c.label);
    {
      // The entry must really run its op on the tape (not a shortcut that returns its input).
      GradientTape tape;
      for (const Tensor& x : inputs) tape.watch(x);
      const Tensor y = c.function(inputs);
      CHECK(y.dtype() == DType::float64);
      const bool recorded = std::ranges::any_of(tape.entries(), [&](const TapeEntry& e) { return e.op == c.op; });
      CHECK_MESSAGE(recorded, "the entry's function records no '", c.op, "' entry");
    }
    const GradcheckResult result = gradcheck(c.function, inputs, options_for(c));
    INFO(result.summary());
    CHECK(result.passed);
  }
}

TEST_CASE("gradcheck catches a wrong gradient") {
  // y = x^2 with a backward that says 3x: gradcheck must fail and point at it.
  const auto bad_square = [](const Inputs& x) {
    const Tensor y = square(x[0]).to(DType::float64);  // a fresh tensor the tape does not know
    return record("bad_square", {x[0]}, y, [](const BackwardArgs& g) -> Grads { return {g.grad * g.input(0) * 3.0}; });
  };
  const GradcheckResult result = gradcheck(bad_square, {Tensor({1, -2, 3}, {3}, DType::float64)});
  CHECK_FALSE(result.passed);
  CHECK(result.input == 0);
  CHECK(result.error > 0.1);
  CHECK(result.summary().find("FAILED") != std::string::npos);

  const auto good_square = [](const Inputs& x) { return square(x[0]); };
  const GradcheckResult good = gradcheck(good_square, {Tensor({1, -2, 3}, {3}, DType::float64)});
  CHECK(good.passed);
  CHECK(good.summary().find("passed") != std::string::npos);
  CHECK(good.numeric == doctest::Approx(good.analytic).epsilon(1e-6));
}

TEST_CASE("corr2d: the book's cases") {
  SUBCASE("3x3 with 2x2 gives [[19, 25], [37, 43]]") {
    const Tensor X({0, 1, 2, 3, 4, 5, 6, 7, 8}, {3, 3});
    const Tensor K({0, 1, 2, 3}, {2, 2});
    const Tensor Y = corr2d(X, K);
    CHECK(Y.shape() == Shape{2, 2});
    CHECK(Y.to_vector() == std::vector<double>{19, 25, 37, 43});
    CHECK(corr2d(X.to(DType::float64), K.to(DType::float64)).to_vector() == std::vector<double>{19, 25, 37, 43});
  }
  SUBCASE("edge detection: every row [0, 1, 0, 0, 0, -1, 0]") {
    const Tensor X = ones({6, 8}).with({all, {2, 6}}, 0);
    const Tensor K({1, -1}, {1, 2});
    const Tensor Y = corr2d(X, K);
    REQUIRE(Y.shape() == Shape{6, 7});
    for (int64_t r = 0; r < 6; ++r) {
      INFO("row ", r);
      CHECK(slice(Y, {{r, r + 1}}).to_vector() == std::vector<double>{0, 1, 0, 0, 0, -1, 0});
    }
    const Tensor on_transposed = corr2d(transpose(X), K);
    CHECK(on_transposed.shape() == Shape{8, 5});
    CHECK(on_transposed.to_vector() == std::vector<double>(40, 0.0));
    // The transposed kernel finds the horizontal edges of the transposed image.
    const Tensor horizontal = corr2d(transpose(X), transpose(K));
    CHECK(horizontal.shape() == Shape{7, 6});
    CHECK(horizontal.to_vector() == transpose(Y).to_vector());
  }
  SUBCASE("gradients by hand: dK = corr2d(X, dY), dX = full convolution of dY with K") {
    const Tensor X({0, 1, 2, 3, 4, 5, 6, 7, 8}, {3, 3});
    const Tensor K({0, 1, 2, 3}, {2, 2});
    GradientTape tape;
    tape.watch(X);
    tape.watch(K);
    const auto grads = tape.gradient(corr2d(X, K), {X, K});
    CHECK(grads[1].to_vector() == std::vector<double>{8, 12, 20, 24});  // sums of each 2x2 window position
    CHECK(grads[0].to_vector() == std::vector<double>{0, 1, 1, 2, 6, 4, 2, 5, 3});
  }
  SUBCASE("agrees with conv2d on a 1xHxWx1 image") {
    Generator generator(3);
    const Tensor X = random_normal({5, 7}, generator, 0, 1, DType::float64);
    const Tensor K = random_normal({2, 3}, generator, 0, 1, DType::float64);
    const Tensor Y = corr2d(X, K);
    const Tensor Z = conv2d(reshape(X, {1, 5, 7, 1}), reshape(K, {2, 3, 1, 1}));
    CHECK(Z.shape() == Shape{1, 4, 5, 1});
    check_close(Y, Z.to_vector());
  }
}

TEST_CASE("conv2d: the book's cases") {
  SUBCASE("two input channels give [[56, 72], [104, 120]]") {
    // X as (channels, height, width) -> NHWC; K as (in channels, height, width) -> HWIO.
    const Tensor channels = reshape(Tensor({0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {18}), {1, 2, 3, 3});
    const Tensor X = transpose(channels, {0, 2, 3, 1});
    const Tensor K = transpose(Tensor({0, 1, 2, 3, 1, 2, 3, 4}, {2, 2, 2, 1}), {1, 2, 0, 3});
    CHECK(X.shape() == Shape{1, 3, 3, 2});
    CHECK(X.at({0, 1, 2, 1}) == 6);  // channel 1, row 1, column 2
    CHECK(K.shape() == Shape{2, 2, 2, 1});
    const Tensor Y = conv2d(X, K);
    CHECK(Y.shape() == Shape{1, 2, 2, 1});
    CHECK(Y.to_vector() == std::vector<double>{56, 72, 104, 120});
  }
  SUBCASE("several output channels: kernels K, K + 1, K + 2") {
    const Tensor channels = reshape(Tensor({0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {18}), {1, 2, 3, 3});
    const Tensor X = transpose(channels, {0, 2, 3, 1});
    const Tensor K = transpose(Tensor({0, 1, 2, 3, 1, 2, 3, 4}, {2, 2, 2, 1}), {1, 2, 0, 3});
    const Tensor K3 = broadcast_to(K, {2, 2, 2, 3}) + Tensor({0, 1, 2}, {3});
    CHECK(K3.shape() == Shape{2, 2, 2, 3});
    const Tensor Y = conv2d(X, K3);
    CHECK(Y.shape() == Shape{1, 2, 2, 3});
    // Output channel o adds o * (the sum of each 2x2x2 window: 20, 28, 44, 52) to [[56, 72], [104, 120]].
    CHECK(Y.to_vector() == std::vector<double>{56, 56 + 20, 56 + 40, 72, 72 + 28, 72 + 56, 104, 104 + 44, 104 + 88, 120,
                                               120 + 52, 120 + 104});
  }
  SUBCASE("a 1x1 convolution is a matrix multiplication") {
    Generator generator(8);
    const Tensor x = random_normal({2, 3, 4, 3}, generator, 0, 1, DType::float64);
    const Tensor k = random_normal({1, 1, 3, 2}, generator, 0, 1, DType::float64);
    const Tensor y = conv2d(x, k);
    REQUIRE(y.shape() == Shape{2, 3, 4, 2});
    // Every pixel is a row of x (3 channels) times the 3x2 matrix k.
    const std::vector<double> xv = x.to_vector(), kv = k.to_vector();
    std::vector<double> expected;
    for (size_t pixel = 0; pixel < 2 * 3 * 4; ++pixel)
      for (size_t o = 0; o < 2; ++o) {
        double total = 0;
        for (size_t c = 0; c < 3; ++c) total += xv[pixel * 3 + c] * kv[c * 2 + o];
        expected.push_back(total);
      }
    check_close(y, expected);
  }
  SUBCASE("output shapes of the book's padding and stride examples on an 8x8 input") {
    const Tensor x = ones({1, 8, 8, 1});
    CHECK(conv2d(x, ones({3, 3, 1, 1}), conv_options({1, 1}, {1, 1}, Padding::uniform(1))).shape() ==
          Shape{1, 8, 8, 1});
    CHECK(conv2d(x, ones({5, 3, 1, 1}), conv_options({1, 1}, {1, 1}, Padding::explicit_sides(2, 2, 1, 1))).shape() ==
          Shape{1, 8, 8, 1});
    CHECK(conv2d(x, ones({3, 3, 1, 1}), conv_options({2, 2}, {1, 1}, Padding::uniform(1))).shape() ==
          Shape{1, 4, 4, 1});
    CHECK(conv2d(x, ones({3, 5, 1, 1}), conv_options({3, 4}, {1, 1}, Padding::explicit_sides(0, 0, 1, 1))).shape() ==
          Shape{1, 2, 2, 1});
    CHECK(conv2d(x, ones({3, 3, 1, 1}), conv_options({1, 1}, {1, 1}, Padding::same())).shape() == Shape{1, 8, 8, 1});
    CHECK(conv2d(x, ones({3, 3, 1, 1}), conv_options({3, 3}, {1, 1}, Padding::same())).shape() == Shape{1, 3, 3, 1});
    CHECK(conv2d(x, ones({3, 3, 1, 1}), conv_options({1, 1}, {3, 3}, Padding::valid())).shape() == Shape{1, 2, 2, 1});
  }
  SUBCASE("'same' puts the odd pixel of padding at the bottom and right, as TensorFlow") {
    const Tensor x = reshape(arange(16), {1, 4, 4, 1});
    const Tensor y = conv2d(x, ones({2, 2, 1, 1}), conv_options({1, 1}, {1, 1}, Padding::same()));
    REQUIRE(y.shape() == Shape{1, 4, 4, 1});
    CHECK(y.at({0, 0, 0, 0}) == 0 + 1 + 4 + 5);
    CHECK(y.at({0, 3, 3, 0}) == 15);
    CHECK(y.at({0, 3, 0, 0}) == 12 + 13);
  }
  SUBCASE("against a reference loop: strides, dilations, paddings, batches, channels") {
    struct Case {
      Shape x, k;
      std::array<int64_t, 2> s, d;
      std::array<int64_t, 4> pads;  // top, bottom, left, right
    };
    const std::vector<Case> cases{
        {{1, 5, 5, 1}, {3, 3, 1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}},
        {{2, 6, 5, 3}, {3, 2, 3, 4}, {1, 1}, {1, 1}, {0, 0, 0, 0}},
        {{2, 7, 7, 2}, {3, 3, 2, 2}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
        {{1, 9, 8, 2}, {2, 3, 2, 3}, {1, 2}, {2, 2}, {0, 0, 0, 0}},
        {{1, 5, 6, 1}, {3, 3, 1, 2}, {2, 1}, {1, 2}, {1, 2, 0, 3}},
        {{3, 4, 4, 2}, {4, 4, 2, 1}, {1, 1}, {1, 1}, {2, 1, 1, 2}},
    };
    Generator generator(21);
    for (const Case& c : cases) {
      INFO("x ", c.x, " kernel ", c.k, " strides ", c.s[0], ",", c.s[1], " dilations ", c.d[0], ",", c.d[1]);
      const Tensor x = random_normal(c.x, generator, 0, 1, DType::float64);
      const Tensor k = random_normal(c.k, generator, 0, 1, DType::float64);
      const Conv2DOptions options =
          conv_options(c.s, c.d, Padding::explicit_sides(c.pads[0], c.pads[1], c.pads[2], c.pads[3]));
      const Tensor y = conv2d(x, k, options);
      const int64_t extent_h = (c.k[0] - 1) * c.d[0] + 1, extent_w = (c.k[1] - 1) * c.d[1] + 1;
      const Shape expected_shape{c.x[0], (c.x[1] + c.pads[0] + c.pads[1] - extent_h) / c.s[0] + 1,
                                 (c.x[2] + c.pads[2] + c.pads[3] - extent_w) / c.s[1] + 1, c.k[3]};
      CHECK(y.shape() == expected_shape);
      check_close(y, reference_conv2d(x, k, c.s, c.d, c.pads[0], c.pads[2], expected_shape));
      // float32 agrees with float64.
      const Tensor y32 = conv2d(x.to(DType::float32), k.to(DType::float32), options);
      check_close(y32, y.to_vector(), 1e-4);
      // The gradient ops are the adjoints of conv2d: <conv2d(x, k), g> = <x, dx(g, k)> = <k, dk(x, g)>.
      const Tensor g = random_normal(y.shape(), generator, 0, 1, DType::float64);
      const double forward = dot(y, g);
      CHECK(dot(x, conv2d_backprop_input(g, k, x.shape(), options)) == doctest::Approx(forward).epsilon(1e-12));
      CHECK(dot(k, conv2d_backprop_filter(x, g, k.shape(), options)) == doctest::Approx(forward).epsilon(1e-12));
    }
  }
}

TEST_CASE("elementwise ops: forward values against std:: functions") {
  Generator generator(31);
  const Tensor x = random_normal({4, 5}, generator, 0, 2, DType::float64);
  const Tensor y = random_uniform({4, 5}, generator, 0.5, 3, DType::float64);
  const std::vector<double> xv = x.to_vector(), yv = y.to_vector();
  const auto check_map = [&](const char* name, const Tensor& out, auto formula) {
    INFO(name);
    REQUIRE(out.shape() == x.shape());
    for (size_t i = 0; i < xv.size(); ++i) CHECK(out.flat(static_cast<int64_t>(i)) == formula(xv[i], yv[i]));
  };
  check_map("add", x + y, [](double a, double b) { return a + b; });
  check_map("sub", x - y, [](double a, double b) { return a - b; });
  check_map("mul", x * y, [](double a, double b) { return a * b; });
  check_map("div", x / y, [](double a, double b) { return a / b; });
  check_map("neg", -x, [](double a, double) { return -a; });
  check_map("abs", abs(x), [](double a, double) { return std::abs(a); });
  check_map("square", square(x), [](double a, double) { return a * a; });
  check_map("pow", pow(y, 2.5), [](double, double b) { return std::pow(b, 2.5); });
  check_map("exp", exp(x), [](double a, double) { return std::exp(a); });
  check_map("log", log(y), [](double, double b) { return std::log(b); });
  check_map("sign", sign(x), [](double a, double) { return a > 0 ? 1.0 : (a < 0 ? -1.0 : 0.0); });
  check_map("x + 1.5", x + 1.5, [](double a, double) { return a + 1.5; });
  check_map("2 - x", 2.0 - x, [](double a, double) { return 2.0 - a; });
  check_map("x * 3", x * 3.0, [](double a, double) { return a * 3.0; });
  check_map("1 / y", 1.0 / y, [](double, double b) { return 1.0 / b; });

  SUBCASE("float32 computes in float") {
    const Tensor x32 = x.to(DType::float32);
    const Tensor e = exp(x32);
    CHECK(e.dtype() == DType::float32);
    for (int64_t i = 0; i < e.numel(); ++i)
      CHECK(e.flat(i) == static_cast<double>(std::exp(static_cast<float>(x32.flat(i)))));
  }
  SUBCASE("abs and sign at 0") {
    CHECK(abs(Tensor({0, -0.0}, {2})).to_vector() == std::vector<double>{0, 0});
    CHECK(sign(Tensor({0, -3, 2}, {3})).to_vector() == std::vector<double>{0, -1, 1});
    const Tensor z = Tensor({0, 2}, {2});
    GradientTape tape;
    tape.watch(z);
    CHECK(tape.gradient(abs(z), z).to_vector() == std::vector<double>{0, 1});  // NOTE: 0 at the kink
  }
}

// The bits of each element; with `nan_as_one`, every NaN counts as one value (which of two NaN
// operands a product returns depends on the operand order the compiler picks).
namespace {
std::vector<uint64_t> element_bits(const Tensor& t, bool nan_as_one = false) {
  std::vector<uint64_t> out;
  for (double v : t.to_vector()) out.push_back(nan_as_one && std::isnan(v) ? ~uint64_t{0} : std::bit_cast<uint64_t>(v));
  return out;
}
}  // namespace

TEST_CASE("tensor-constant arithmetic: the bits of the scalar-tensor op, recorded only when tracked") {
  const std::vector<double> values{0.0, -0.0, 1.0, -1.5, 1e-30, 3e38, INFINITY, -INFINITY, NAN};
  const std::vector<double> constants{2.0, -0.0, 0.1, 1e300, INFINITY, NAN};
  // Each form once, for c a double and for c the scalar tensor of c (the reference).
  const auto forms = std::make_tuple(std::pair{"x + c", [](const Tensor& x, const auto& c) { return x + c; }},
                                     std::pair{"x - c", [](const Tensor& x, const auto& c) { return x - c; }},
                                     std::pair{"x * c", [](const Tensor& x, const auto& c) { return x * c; }},
                                     std::pair{"x / c", [](const Tensor& x, const auto& c) { return x / c; }},
                                     std::pair{"c + x", [](const Tensor& x, const auto& c) { return c + x; }},
                                     std::pair{"c - x", [](const Tensor& x, const auto& c) { return c - x; }},
                                     std::pair{"c * x", [](const Tensor& x, const auto& c) { return c * x; }},
                                     std::pair{"c / x", [](const Tensor& x, const auto& c) { return c / x; }});
  for (const DType dtype : {DType::float32, DType::float64}) {
    const Tensor x(values, {3, 3}, dtype);
    const auto check_form = [&](const char* name, const auto& form) {
      for (double c : constants) {
        CAPTURE(name);
        CAPTURE(c);
        CAPTURE(dtype_name(dtype));
        const std::vector<uint64_t> expected = element_bits(form(x, Tensor::scalar(c, dtype)));
        CHECK(element_bits(form(x, c)) == expected);  // no tape
        GradientTape tape;
        const Tensor untracked = form(x, c);  // a tape records, but not x
        CHECK(tape.entries().empty());
        CHECK(element_bits(untracked) == expected);
        tape.watch(x);
        const Tensor tracked = form(x, c);
        REQUIRE(tape.entries().size() == 1);
        CHECK(element_bits(tracked) == expected);
        CHECK(tape.gradient(tracked, x).defined());
      }
    };
    std::apply([&](const auto&... form) { (check_form(form.first, form.second), ...); }, forms);
  }
  CHECK_THROWS_WITH_AS(Tensor({1, 2}, {2}, DType::int64) * 2.0, "mul: expected a float32 or float64 tensor, got int64",
                       Error);
}

TEST_CASE("abs_backprop and pow_backprop: the bits of the gradients written with ops (any NaN for a NaN)") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> special{0.0, -0.0, 1.0, -1.5, 1e-30, 3e38, inf, -inf, nan};
  std::vector<double> dys, xs;  // every pair of special values
  for (double dy : special)
    for (double x : special) {
      dys.push_back(dy);
      xs.push_back(x);
    }
  const auto bits = [](const Tensor& t) { return element_bits(t, true); };
  for (const DType dtype : {DType::float32, DType::float64}) {
    CAPTURE(dtype_name(dtype));
    const Tensor dy(dys, {static_cast<int64_t>(dys.size())}, dtype), x(xs, dy.shape(), dtype);
    CHECK(bits(abs_backprop(dy, x)) == bits(dy * sign(x)));
    for (const double p : {2.0, 3.0, 1.0, 0.5, -1.5}) {
      CAPTURE(p);
      CHECK(bits(pow_backprop(dy, x, p)) == bits(dy * (pow(x, p - 1.0) * p)));
    }
    CHECK(bits(pow_backprop(dy, x, 0.0)) == bits(zeros_like(x)));
  }
}

TEST_CASE("broadcasting: forward values") {
  const Tensor col({1, 2, 3}, {3, 1});
  const Tensor row({10, 20, 30, 40}, {1, 4});
  SUBCASE("3x1 + 1x4") {
    const Tensor y = col + row;
    CHECK(y.shape() == Shape{3, 4});
    CHECK(y.to_vector() == std::vector<double>{11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43});
  }
  SUBCASE("3x1 * 4 (a vector is a row)") {
    const Tensor y = col * Tensor({1, 2, 3, 4}, {4});
    CHECK(y.shape() == Shape{3, 4});
    CHECK(y.to_vector() == std::vector<double>{1, 2, 3, 4, 2, 4, 6, 8, 3, 6, 9, 12});
  }
  SUBCASE("2x1x3 - 4x1 gives 2x4x3") {
    const Tensor a({1, 2, 3, 4, 5, 6}, {2, 1, 3});
    const Tensor b({0, 10, 20, 30}, {4, 1});
    const Tensor y = a - b;
    CHECK(y.shape() == Shape{2, 4, 3});
    CHECK(y.at({0, 0, 0}) == 1);
    CHECK(y.at({0, 2, 1}) == 2 - 20);
    CHECK(y.at({1, 3, 2}) == 6 - 30);
    CHECK(y.at({1, 1, 0}) == 4 - 10);
  }
  SUBCASE("scalar and 1x1 with a matrix, both ways") {
    const Tensor m({1, 2, 3, 4}, {2, 2});
    CHECK((Tensor::scalar(10) / m).to_vector() == std::vector<double>{10, 5, 10.0f / 3, 2.5});
    CHECK((m / Tensor({2}, {1, 1})).to_vector() == std::vector<double>{0.5, 1, 1.5, 2});
    CHECK((Tensor({2}, {1, 1, 1}) * m).shape() == Shape{1, 2, 2});
  }
  SUBCASE("broadcast_to and sum_to") {
    const Tensor b = broadcast_to(col, {2, 3, 2});
    CHECK(b.shape() == Shape{2, 3, 2});
    CHECK(b.to_vector() == std::vector<double>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
    CHECK(sum_to(b, {3, 1}).to_vector() == std::vector<double>{4, 8, 12});
    CHECK(sum_to(b, {2}).to_vector() == std::vector<double>{12, 12});
    CHECK(sum_to(b, {}).item() == 24);
  }
}

TEST_CASE("sum and mean: axes and keepdims") {
  const Tensor x = reshape(arange(24, DType::float64), {2, 3, 4});
  SUBCASE("all") {
    CHECK(sum(x).shape() == Shape{});
    CHECK(sum(x).item() == 276);
    CHECK(mean(x).item() == 11.5);
  }
  SUBCASE("one axis") {
    const Tensor s = sum(x, 1);
    CHECK(s.shape() == Shape{2, 4});
    CHECK(s.to_vector() == std::vector<double>{12, 15, 18, 21, 48, 51, 54, 57});
    const Tensor kept = sum(x, 1, true);
    CHECK(kept.shape() == Shape{2, 1, 4});
    CHECK(kept.to_vector() == s.to_vector());
    CHECK(sum(x, -1).to_vector() == std::vector<double>{6, 22, 38, 54, 70, 86});
    CHECK(sum(x, 0).at({2, 3}) == 11 + 23);
  }
  SUBCASE("several axes") {
    const Tensor s = sum(x, std::vector<int>{0, 2});
    CHECK(s.shape() == Shape{3});
    CHECK(s.to_vector() == std::vector<double>{6 + 54, 22 + 70, 38 + 86});
    CHECK(sum(x, std::vector<int>{0, 2}, true).shape() == Shape{1, 3, 1});
  }
  SUBCASE("mean over an axis") {
    const Tensor m = mean(x, 2, true);
    CHECK(m.shape() == Shape{2, 3, 1});
    CHECK(m.to_vector() == std::vector<double>{1.5, 5.5, 9.5, 13.5, 17.5, 21.5});
  }
  SUBCASE("empty tensors sum to 0") {
    CHECK(sum(zeros({0})).item() == 0);
    CHECK(sum(zeros({2, 0}), 1).to_vector() == std::vector<double>{0, 0});
  }
}

TEST_CASE("shape ops: forward values") {
  const Tensor m = reshape(arange(6), {2, 3});
  SUBCASE("reshape keeps the row-major order") {
    CHECK(reshape(m, {3, 2}).to_vector() == std::vector<double>{0, 1, 2, 3, 4, 5});
    CHECK(reshape(m, {3, 2}).shape() == Shape{3, 2});
  }
  SUBCASE("transpose") {
    const Tensor t = transpose(m);
    CHECK(t.shape() == Shape{3, 2});
    CHECK(t.to_vector() == std::vector<double>{0, 3, 1, 4, 2, 5});
    const Tensor cube = reshape(arange(24), {2, 3, 4});
    const Tensor p = transpose(cube, {2, 0, 1});
    CHECK(p.shape() == Shape{4, 2, 3});
    CHECK(p.at({3, 1, 2}) == cube.at({1, 2, 3}));
    CHECK(p.at({1, 0, 2}) == cube.at({0, 2, 1}));
  }
  SUBCASE("slice with steps and negative begins") {
    const Tensor v = arange(10);
    CHECK(slice(v, {{-3}}).to_vector() == std::vector<double>{7, 8, 9});
    CHECK(slice(v, {{1, 8, 3}}).to_vector() == std::vector<double>{1, 4, 7});
    CHECK(slice(v, {{-4, -1}}).to_vector() == std::vector<double>{6, 7, 8});
    CHECK(slice(v, {{0, INT64_MAX, 4}}).to_vector() == std::vector<double>{0, 4, 8});
    CHECK(slice(v, {{8, 100}}).to_vector() == std::vector<double>{8, 9});
    CHECK(slice(v, {{6, 2}}).numel() == 0);
    const Tensor grid = reshape(arange(20), {4, 5});
    const Tensor s = slice(grid, {{1, 4, 2}, {-2}});
    CHECK(s.shape() == Shape{2, 2});
    CHECK(s.to_vector() == std::vector<double>{8, 9, 18, 19});
    CHECK(slice(grid, {{2, 3}}).to_vector() == std::vector<double>{10, 11, 12, 13, 14});
    CHECK(rows(grid, 1, 3).to_vector() == std::vector<double>{5, 6, 7, 8, 9, 10, 11, 12, 13, 14});
    CHECK(cols(grid, 3, 5).to_vector() == std::vector<double>{3, 4, 8, 9, 13, 14, 18, 19});
  }
  SUBCASE("unslice puts a slice back into zeros") {
    const Tensor u = unslice(Tensor({1, 2, 3, 4}, {2, 2}), {3, 4}, {{0, 3, 2}, {1, 3}});
    CHECK(u.to_vector() == std::vector<double>{0, 1, 2, 0, 0, 0, 0, 0, 0, 3, 4, 0});
  }
  SUBCASE("pad") {
    const Tensor p = pad(Tensor({1, 2, 3, 4}, {2, 2}), {1, 0}, {0, 2});
    CHECK(p.shape() == Shape{3, 4});
    CHECK(p.to_vector() == std::vector<double>{0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0});
    CHECK(pad(Tensor({5}, {1}), {2}, {1}).to_vector() == std::vector<double>{0, 0, 5, 0});
  }
  SUBCASE("flip") {
    CHECK(flip(m, {0}).to_vector() == std::vector<double>{3, 4, 5, 0, 1, 2});
    CHECK(flip(m, {1}).to_vector() == std::vector<double>{2, 1, 0, 5, 4, 3});
    CHECK(flip(m, {0, 1}).to_vector() == std::vector<double>{5, 4, 3, 2, 1, 0});
    CHECK(flip(m, {-1}).to_vector() == flip(m, {1}).to_vector());
    CHECK(flip(m, {}).to_vector() == m.to_vector());
  }
}
