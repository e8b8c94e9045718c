// Gradients where an op is not differentiable (kinks, ties, bounds) pinned to TensorFlow's choice,
// and gradients at extreme inputs, where a naive formula overflows, pinned to stay finite and right.

#include <tapegrad/tapegrad.hpp>
#include "tests/autograd/check_values.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace tapegrad;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

using testing::f64;

// Checks every element of `t` against `expected` (exactly when tolerance is 0), and that it is finite.
void check_values(const Tensor& t, const std::vector<double>& expected, double tolerance = 0) {
  testing::check_values(t, expected, tolerance);
  if (!t.defined()) return;
  for (double value : t.to_vector()) CHECK(std::isfinite(value));
}

// The gradient of sum(f(x)) at x, for x a float64 vector (or `dtype`).
template <typename F>
Tensor grad_of(F f, std::initializer_list<double> x_values, DType dtype = DType::float64) {
  const Tensor x(x_values, Shape{static_cast<int64_t>(x_values.size())}, dtype);
  GradientTape tape;
  tape.watch(x);
  return tape.gradient(f(x), x);
}

}  // namespace

TEST_CASE("kinks: relu, abs, clip") {
  SUBCASE("relu'(0) = 0 (and 1 above, 0 below), in both float types") {
    for (const DType dtype : {DType::float32, DType::float64}) {
      INFO(dtype_name(dtype));
      check_values(grad_of([](const Tensor& x) { return relu(x); }, {-1, 0, -0.0, 1e-30, 2}, dtype), {0, 0, 0, 1, 1});
    }
  }
  SUBCASE("maximum(x, 0)'(0) = 1: unlike relu, the tie goes to the first argument") {
    check_values(grad_of([](const Tensor& x) { return maximum(x, zeros_like(x)); }, {-1, 0, 2}), {0, 1, 1});
  }
  SUBCASE("abs'(0) = 0, sign elsewhere") {
    check_values(grad_of([](const Tensor& x) { return abs(x); }, {-2, 0, -0.0, 3}), {-1, 0, 0, 1});
  }
  SUBCASE("clip at exactly low and exactly high: gradient 1; outside: 0") {
    check_values(grad_of([](const Tensor& x) { return clip(x, -1, 1); }, {-2, -1, -0.5, 0, 1, 1.5}),
                 {0, 1, 1, 1, 1, 0});
  }
  SUBCASE("clip: float32 bounds that float cannot hold exactly are still compared in float") {
    // 0.1 and 0.2 round to the same floats in x and in the bounds: x on the bounds gets gradient 1.
    check_values(grad_of([](const Tensor& x) { return clip(x, 0.1, 0.2); }, {0.1, 0.2, 0.05, 0.3}, DType::float32),
                 {1, 1, 0, 0});
  }
  SUBCASE("clip with low == high: the one point is inside") {
    check_values(grad_of([](const Tensor& x) { return clip(x, 0.5, 0.5); }, {0.5, 0.25, 0.75}), {1, 0, 0});
  }
}

TEST_CASE("kinks: maximum and minimum with ties") {
  const Tensor a = f64({1, 2, 3, -1});
  const Tensor b = f64({1, 5, 3, -4});
  for (const bool use_max : {true, false}) {
    INFO((use_max ? "maximum" : "minimum"));
    GradientTape tape;
    tape.watch(a);
    tape.watch(b);
    const Tensor y = use_max ? maximum(a, b) : minimum(a, b);
    const auto grads = tape.gradient(y, {a, b});
    // Ties (elements 0 and 2): the whole gradient to a, nothing to b.
    if (use_max) {
      check_values(y, {1, 5, 3, -1});
      check_values(grads[0], {1, 0, 1, 1});
      check_values(grads[1], {0, 1, 0, 0});
    } else {
      check_values(y, {1, 2, 3, -4});
      check_values(grads[0], {1, 1, 1, 0});
      check_values(grads[1], {0, 0, 0, 1});
    }
  }
  SUBCASE("ties under broadcasting: a scalar b collects only where it strictly wins") {
    const Tensor row = f64({0, 2, 2, 3});
    const Tensor s = Tensor::scalar(2, DType::float64);
    GradientTape tape;
    tape.watch(row);
    tape.watch(s);
    const auto grads = tape.gradient(maximum(row, s), {row, s});
    check_values(grads[0], {0, 1, 1, 1});
    CHECK(grads[1].shape() == Shape{});
    check_values(grads[1], {1});  // only element 0, where 2 > 0; the two ties went to row
  }
  SUBCASE("maximum(x, x): the tie gives x the whole gradient once") {
    check_values(grad_of([](const Tensor& x) { return maximum(x, x); }, {-1, 0, 4}), {1, 1, 1});
  }
}

TEST_CASE("kinks: reduce_max shares ties equally") {
  SUBCASE("[3, 1, 3] -> [0.5, 0, 0.5]") {
    check_values(grad_of([](const Tensor& x) { return reduce_max(x); }, {3, 1, 3}), {0.5, 0, 0.5});
  }
  SUBCASE("no tie: all to the one maximum") {
    check_values(grad_of([](const Tensor& x) { return reduce_max(x); }, {3, 1, 2}), {1, 0, 0});
  }
  SUBCASE("per row, over axis 1, with an upstream gradient per row") {
    const Tensor x({3, 1, 3, 2, 2, 2, -1, 5, 0}, {3, 3}, DType::float64);
    for (const bool keepdims : {false, true}) {
      INFO("keepdims ", keepdims);
      GradientTape tape;
      tape.watch(x);
      const Tensor y = reduce_max(x, {1}, keepdims);
      CHECK(y.shape() == (keepdims ? Shape{3, 1} : Shape{3}));
      GradientOptions options;
      options.output_gradients = Tensor({2, 3, 4}, y.shape(), DType::float64);
      check_values(tape.gradient(y, x, options), {1, 0, 1, 1, 1, 1, 0, 4, 0}, 1e-15);
    }
  }
  SUBCASE("over all axes: a tie across rows shares across rows") {
    const Tensor x({7, 0, 1, 7}, {2, 2}, DType::float64);
    GradientTape tape;
    tape.watch(x);
    check_values(tape.gradient(reduce_max(x, {0, 1}), x), {0.5, 0, 0, 0.5});
  }
  SUBCASE("four-way tie, float32") {
    check_values(grad_of([](const Tensor& x) { return reduce_max(x); }, {1, 1, 1, 1}, DType::float32),
                 {0.25, 0.25, 0.25, 0.25});
  }
}

TEST_CASE("kinks: max_pool2d gives a tied window's gradient to its first maximum in row-major order") {
  const auto pool_grad = [](const Tensor& x, const Pool2DOptions& options) {
    GradientTape tape;
    tape.watch(x);
    return tape.gradient(max_pool2d(x, options), x);
  };
  SUBCASE("a 2x2 window of four equal values: the top-left pixel") {
    check_values(pool_grad(Tensor({5, 5, 5, 5}, {1, 2, 2, 1}, DType::float64), {}), {1, 0, 0, 0});
  }
  SUBCASE("a tie that does not start the window: the first of the tied pixels") {
    check_values(pool_grad(Tensor({1, 7, 7, 7}, {1, 2, 2, 1}, DType::float64), {}), {0, 1, 0, 0});
    check_values(pool_grad(Tensor({1, 2, 7, 7}, {1, 2, 2, 1}, DType::float64), {}), {0, 0, 1, 0});
  }
  SUBCASE("overlapping windows: each window's own first maximum") {
    // [[4, 4, 4], [0, 0, 0]], 2x2 windows, stride 1: window 0 picks (0,0), window 1 picks (0,1).
    Pool2DOptions options;
    options.strides = 1;
    check_values(pool_grad(Tensor({4, 4, 4, 0, 0, 0}, {1, 2, 3, 1}, DType::float64), options), {1, 1, 0, 0, 0, 0});
  }
  SUBCASE("channels are separate: a tie in one channel, none in the other") {
    // Channel 0: [9, 9, 9, 9]; channel 1: [1, 2, 8, 3].
    check_values(pool_grad(Tensor({9, 1, 9, 2, 9, 8, 9, 3}, {1, 2, 2, 2}, DType::float64), {}),
                 {1, 0, 0, 0, 0, 1, 0, 0});
  }
}

TEST_CASE("kinks: sqrt and pow at 0") {
  SUBCASE("sqrt'(0) = 1 / (2 sqrt(0)) = +inf, as TensorFlow (no clamping)") {
    const Tensor g = grad_of([](const Tensor& x) { return sqrt(x); }, {0, 4});
    REQUIRE(g.defined());
    CHECK(std::isinf(g.flat(0)));
    CHECK(g.flat(0) > 0);
    CHECK(g.flat(1) == 0.25);
  }
  SUBCASE("sqrt(x^2) at 0: inf from sqrt times 0 from square is NaN, as TensorFlow") {
    const Tensor g = grad_of([](const Tensor& x) { return sqrt(square(x)); }, {0, -3});
    REQUIRE(g.defined());
    CHECK(std::isnan(g.flat(0)));
    CHECK(g.flat(1) == -1);
  }
  SUBCASE("pow(x, 2)'(0) = 0, pow(x, 3)'(0) = 0, pow(x, 1)'(0) = 1") {
    check_values(grad_of([](const Tensor& x) { return pow(x, 2); }, {0, -1.5}), {0, -3});
    check_values(grad_of([](const Tensor& x) { return pow(x, 3); }, {0, 2}), {0, 12});
    check_values(grad_of([](const Tensor& x) { return pow(x, 1); }, {0, 2}), {1, 1});
  }
  SUBCASE("pow(x, 2)''(0) = 2 through nested tapes") {
    const Tensor x = f64({0, 5});
    GradientTape outer;
    outer.watch(x);
    Tensor first;
    {
      GradientTape inner;
      inner.watch(x);
      first = inner.gradient(pow(x, 2), x);
    }
    check_values(first, {0, 10});
    check_values(outer.gradient(first, x), {2, 2});
  }
  SUBCASE("pow(x, 0.5)'(0) = +inf, as sqrt") {
    const Tensor g = grad_of([](const Tensor& x) { return pow(x, 0.5); }, {0});
    REQUIRE(g.defined());
    CHECK(std::isinf(g.flat(0)));
    CHECK(g.flat(0) > 0);
  }
}

TEST_CASE("extreme inputs: the softmax family and sigmoid stay finite and right") {
  const double e1 = std::exp(-1.0);
  SUBCASE("sigmoid at +-1000: values 1 and 0, gradients 0, no NaN") {
    for (const DType dtype : {DType::float32, DType::float64}) {
      INFO(dtype_name(dtype));
      const Tensor x({-1000, 1000}, {2}, dtype);
      GradientTape tape;
      tape.watch(x);
      const Tensor y = sigmoid(x);
      check_values(y, {0, 1});
      check_values(tape.gradient(y, x), {0, 0});
    }
  }
  SUBCASE("sigmoid at -30 keeps its tiny gradient e^-30 / (1 + e^-30)^2") {
    const double t = std::exp(-30.0);
    const Tensor g = grad_of([](const Tensor& x) { return sigmoid(x); }, {-30});
    check_values(g, {t / ((1 + t) * (1 + t))}, 1e-12);
  }
  SUBCASE("softmax of [1000, 999, -1000]: [1/(1+e^-1), e^-1/(1+e^-1), 0], and its gradient") {
    const Tensor x = f64({1000, 999, -1000});
    GradientTape tape;
    tape.watch(x);
    const Tensor y = softmax(x);
    const double p0 = 1 / (1 + e1), p1 = e1 / (1 + e1);
    check_values(y, {p0, p1, 0}, 1e-14);
    // d(y_0)/dx = y_0 (e_0 - y): [p0 (1 - p0), -p0 p1, 0].
    GradientOptions options;
    options.output_gradients = f64({1, 0, 0});
    check_values(tape.gradient(y, x, options), {p0 * (1 - p0), -p0 * p1, 0}, 1e-12);
  }
  SUBCASE("softmax of [-1000, -1000]: [0.5, 0.5], not 0/0") {
    const Tensor x = f64({-1000, -1000});
    GradientTape tape;
    tape.watch(x);
    const Tensor y = softmax(x);
    check_values(y, {0.5, 0.5});
    GradientOptions options;
    options.output_gradients = f64({1, 0});
    check_values(tape.gradient(y, x, options), {0.25, -0.25});
  }
  SUBCASE("logsumexp of [1000, 999] and [-1000, -1000]: finite, gradient = softmax") {
    for (const DType dtype : {DType::float32, DType::float64}) {
      INFO(dtype_name(dtype));
      // NOTE: the gradient e^(x - y) inherits the rounding of y (one ulp of 1000 is 1.1e-13).
      const double tolerance = dtype == DType::float32 ? 1e-4 : 1e-12;
      const Tensor big({1000, 999}, {2}, dtype);
      const Tensor small({-1000, -1000}, {2}, dtype);
      GradientTape tape({.persistent = true});
      tape.watch(big);
      tape.watch(small);
      const Tensor y_big = logsumexp(big);
      const Tensor y_small = logsumexp(small);
      check_values(y_big, {1000 + std::log1p(e1)}, tolerance);
      check_values(y_small, {-1000 + std::log(2.0)}, tolerance);
      check_values(tape.gradient(y_big, big), {1 / (1 + e1), e1 / (1 + e1)}, tolerance);
      check_values(tape.gradient(y_small, small), {0.5, 0.5}, tolerance);
    }
  }
  SUBCASE("log_softmax of [1000, 0, -1000] = [0, -1000, -2000]; d sum/dx = 1 - 3 softmax") {
    const Tensor x = f64({1000, 0, -1000});
    GradientTape tape;
    tape.watch(x);
    const Tensor y = log_softmax(x);
    check_values(y, {0, -1000, -2000});
    check_values(tape.gradient(y, x), {-2, 1, 1});
  }
  SUBCASE("softmax_cross_entropy: a confident wrong answer costs 2000 (not inf), gradient softmax - onehot") {
    for (const DType dtype : {DType::float32, DType::float64}) {
      INFO(dtype_name(dtype));
      const double tolerance = dtype == DType::float32 ? 1e-4 : 1e-12;
      const Tensor logits({1000, 0, -1000, -1000, 1000, 999}, {2, 3}, dtype);
      const Tensor labels({2, 1}, {2}, DType::int64);
      const Tensor onehot({0, 0, 1, 0, 1, 0}, {2, 3}, dtype);
      for (const bool use_onehot : {false, true}) {
        INFO("one-hot labels ", use_onehot);
        GradientTape tape;
        tape.watch(logits);
        const Tensor loss = softmax_cross_entropy(logits, use_onehot ? onehot : labels, Reduction::none);
        // Row 0: -log softmax[2] = 2000. Row 1: -log softmax[1] = log(1 + e^-1).
        check_values(loss, {2000, std::log1p(e1)}, tolerance);
        check_values(tape.gradient(loss, logits), {1, 0, -1, 0, 1 / (1 + e1) - 1, e1 / (1 + e1)}, tolerance);
      }
    }
  }
}

TEST_CASE("where: an inf in the branch not taken does not poison the gradient") {
  SUBCASE("a constant inf branch: the selected tensor gets the mask") {
    const Tensor x = f64({1, 2, 3});
    const Tensor mask({1, 0, 1}, {3}, DType::float64);
    GradientTape tape;
    tape.watch(x);
    const Tensor y = where(mask, x, f64({kInf, kInf, -kInf}));
    CHECK(y.flat(0) == 1);
    CHECK(std::isinf(y.flat(1)));
    check_values(tape.gradient(y, x), {1, 0, 1});
  }
  SUBCASE("both branches watched, the other one holding inf and NaN: gradients 1/0 and 0/1") {
    const Tensor a = f64({1, 2, 3});
    const Tensor b = f64({kInf, -kInf, std::nan("")});
    const Tensor mask({1, 1, 0}, {3}, DType::float64);
    GradientTape tape;
    tape.watch(a);
    tape.watch(b);
    const Tensor y = where(mask, a * a, b);
    const auto grads = tape.gradient(y, {a, b});
    check_values(grads[0], {2, 4, 0});
    check_values(grads[1], {0, 0, 1});
  }
  SUBCASE("an overflowing branch computed from another source: the selected source's gradient is finite") {
    const Tensor x = f64({1, 2});
    const Tensor z = f64({1000, 1});  // exp(1000) = inf
    GradientTape tape;
    tape.watch(x);
    tape.watch(z);
    const Tensor y = where(Tensor({1, 0}, {2}, DType::float64), square(x), exp(z));
    const auto grads = tape.gradient(y, {x, z});
    check_values(grads[0], {2, 0});
    // d/dz: 0 * exp(1000) = 0 * inf is NaN where not taken, as TensorFlow: where masks the value, not the chain.
    REQUIRE(grads[1].defined());
    CHECK(std::isnan(grads[1].flat(0)));
    CHECK(grads[1].flat(1) == doctest::Approx(std::exp(1.0)));
  }
  SUBCASE("the double-where pattern keeps a guarded log's gradient finite") {
    // where(x > 0, log(x), 0) has gradient 0 * (1/0) = NaN at x = 0 (as TensorFlow); feeding log a safe
    // value where it is not taken, log(where(x > 0, x, 1)), keeps every gradient finite.
    const Tensor x = f64({0, 2});
    const Tensor positive = greater(x, zeros_like(x));
    {
      GradientTape tape;
      tape.watch(x);
      const Tensor naive = where(positive, log(x), zeros_like(x));
      const Tensor g = tape.gradient(naive, x);
      REQUIRE(g.defined());
      CHECK(std::isnan(g.flat(0)));
      CHECK(g.flat(1) == 0.5);
    }
    {
      GradientTape tape;
      tape.watch(x);
      const Tensor safe = where(positive, log(where(positive, x, ones_like(x))), zeros_like(x));
      check_values(tape.gradient(safe, x), {0, 0.5});
    }
  }
}
