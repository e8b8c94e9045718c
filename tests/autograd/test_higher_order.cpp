// Gradients of gradients (nested tapes), Hessian-vector products, jacobians and batch jacobians,
// persistent tapes, reset() and StopRecording, checked against formulas and finite differences.

#include <tapegrad/tapegrad.hpp>
#include "autograd/ops/record.hpp"
#include "tests/autograd/check_values.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <span>
#include <string>
#include <vector>

using namespace tapegrad;

namespace {

using Inputs = std::vector<Tensor>;
using ScalarFunction = std::function<Tensor(const Inputs&)>;

using testing::f64;

void check_values(const Tensor& t, const std::vector<double>& expected, double tolerance = 1e-12) {
  testing::check_values(t, expected, tolerance);
}

// d^n/dx^n of sum(f(x)) for an elementwise f: n tapes, each differentiating the one inside it.
Tensor nth_derivative(const std::function<Tensor(const Tensor&)>& f, const Tensor& x, int n) {
  if (n == 0) return f(x);
  GradientTape tape;
  tape.watch(x);
  const Tensor inner = nth_derivative(f, x, n - 1);
  return tape.gradient(inner, x);
}

// The gradient of f with respect to each input, computed on a tape of its own (so that a tape
// around the call records the backward sweep); zeros where f does not depend on an input.
Inputs first_derivative(const ScalarFunction& f, const Inputs& inputs) {
  GradientTape tape;
  for (const Tensor& x : inputs) tape.watch(x);
  const Tensor y = f(inputs);
  const std::vector<Source> sources(inputs.begin(), inputs.end());
  GradientOptions options;
  options.unconnected_gradients = UnconnectedGradients::zero;
  return tape.gradient(y, std::span<const Source>(sources), options);
}

// inputs with element `position` of input `which` moved by `step`.
Inputs nudged(const Inputs& inputs, size_t which, int64_t position, double step) {
  Inputs out = inputs;
  std::vector<double> values = inputs[which].to_vector();
  values[static_cast<size_t>(position)] += step;
  out[which] = Tensor(values, inputs[which].shape(), DType::float64);
  return out;
}

// Second derivatives of f through nested tapes against central differences of its first derivative:
// with s(inputs) = sum_k <df/d(input k), r_k> for fixed random r, the outer tape's ds/d(inputs)
// (a Hessian-vector product) must match (s(x + h e_j) - s(x - h e_j)) / 2h for every element j.
void check_second_order(const ScalarFunction& f, const Inputs& inputs, uint64_t seed, double tolerance = 1e-6) {
  Generator generator(seed);
  Inputs r;
  for (const Tensor& g : first_derivative(f, inputs))
    r.push_back(random_normal(g.shape(), generator, 0, 1, DType::float64));
  const auto projected = [&](const Inputs& at) {
    const Inputs g = first_derivative(f, at);
    Tensor total = sum(g[0] * r[0]);
    for (size_t k = 1; k < g.size(); ++k) total = total + sum(g[k] * r[k]);
    return total;
  };
  GradientTape outer;
  for (const Tensor& x : inputs) outer.watch(x);
  const Tensor s = projected(inputs);
  CHECK_MESSAGE(!outer.entries().empty(), "the outer tape recorded none of the inner backward sweep");
  const std::vector<Source> sources(inputs.begin(), inputs.end());
  GradientOptions options;
  options.unconnected_gradients = UnconnectedGradients::zero;
  const Inputs analytic = outer.gradient(s, std::span<const Source>(sources), options);
  const double h = 1e-5;
  for (size_t i = 0; i < inputs.size(); ++i) {
    for (int64_t j = 0; j < inputs[i].numel(); ++j) {
      const double numeric =
          (projected(nudged(inputs, i, j, h)).item() - projected(nudged(inputs, i, j, -h)).item()) / (2 * h);
      INFO("input ", i, ", element ", j);
      CHECK(analytic[i].flat(j) == doctest::Approx(numeric).epsilon(tolerance));
    }
  }
}

}  // namespace

TEST_CASE("higher order: derivatives of elementwise functions through nested tapes") {
  const Tensor x = f64({-2.5, -1, 0, 0.3, 1.7, 3});
  const std::vector<double> xs = x.to_vector();
  const auto map = [&](auto formula) {
    std::vector<double> out;
    for (double v : xs) out.push_back(formula(v));
    return out;
  };
  SUBCASE("sin: cos, -sin, -cos, sin") {
    const auto f = [](const Tensor& t) { return sin(t); };
    check_values(nth_derivative(f, x, 1), map([](double v) { return std::cos(v); }));
    check_values(nth_derivative(f, x, 2), map([](double v) { return -std::sin(v); }));
    check_values(nth_derivative(f, x, 3), map([](double v) { return -std::cos(v); }));
    check_values(nth_derivative(f, x, 4), map([](double v) { return std::sin(v); }));
  }
  SUBCASE("x^3 (as x * x * x and as pow): 3x^2, 6x, 6") {
    for (const bool use_pow : {false, true}) {
      INFO("use_pow ", use_pow);
      const auto f = [use_pow](const Tensor& t) { return use_pow ? pow(t, 3) : t * t * t; };
      check_values(nth_derivative(f, x, 1), map([](double v) { return 3 * v * v; }));
      check_values(nth_derivative(f, x, 2), map([](double v) { return 6 * v; }));
      check_values(nth_derivative(f, x, 3), map([](double) { return 6.0; }));
    }
  }
  SUBCASE("x^4 with three tapes: d3/dx3 = 24x; a fourth tape gives 24") {
    const auto f = [](const Tensor& t) { return pow(t, 4); };
    check_values(nth_derivative(f, x, 3), map([](double v) { return 24 * v; }));
    check_values(nth_derivative(f, x, 4), map([](double) { return 24.0; }));
  }
  SUBCASE("tanh: 1 - y^2, then -2 y (1 - y^2)") {
    const auto f = [](const Tensor& t) { return tanh(t); };
    check_values(nth_derivative(f, x, 2), map([](double v) {
                   const double y = std::tanh(v);
                   return -2 * y * (1 - y * y);
                 }));
  }
  SUBCASE("sigmoid: s (1 - s) (1 - 2 s)") {
    const auto f = [](const Tensor& t) { return sigmoid(t); };
    check_values(nth_derivative(f, x, 2), map([](double v) {
                   const double s = 1 / (1 + std::exp(-v));
                   return s * (1 - s) * (1 - 2 * s);
                 }));
  }
}

TEST_CASE("higher order: second derivative of a small network's loss against finite differences") {
  Generator generator(5);
  const Tensor x = random_normal({4, 3}, generator, 0, 1, DType::float64);
  const Tensor labels({0, 1, 1, 0}, {4}, DType::int64);
  const Inputs params{random_normal({3, 5}, generator, 0, 0.7, DType::float64),   // W1
                      random_normal({5}, generator, 0, 0.3, DType::float64),      // b1
                      random_normal({5, 2}, generator, 0, 0.7, DType::float64)};  // W2
  struct Network {
    std::string label;
    ScalarFunction loss;
  };
  const std::vector<Network> networks{
      {"softmax cross-entropy of a 2-layer tanh MLP",
       [&](const Inputs& p) { return softmax_cross_entropy(matmul(tanh(matmul(x, p[0]) + p[1]), p[2]), labels); }},
      {"sum(tanh(x W1 + b1) W2)^2",
       [&](const Inputs& p) { return square(sum(matmul(tanh(matmul(x, p[0]) + p[1]), p[2]))); }},
  };
  for (const Network& network : networks) {
    INFO(network.label);
    // The Hessian row of one weight w = W1[1, 2]: d/d(params) of dL/dw, from the outer tape...
    const int64_t w = 1 * 5 + 2;
    GradientTape outer;
    for (const Tensor& p : params) outer.watch(p);
    const Inputs first = first_derivative(network.loss, params);
    std::vector<double> pick(15, 0.0);
    pick[static_cast<size_t>(w)] = 1;
    GradientOptions options;
    options.output_gradients = Tensor(pick, Shape{3, 5}, DType::float64);
    const std::vector<Source> sources(params.begin(), params.end());
    const Inputs row = outer.gradient(first[0], std::span<const Source>(sources), options);
    // ... and from central differences of the first derivative in w.
    const double h = 1e-5;
    const Inputs plus = first_derivative(network.loss, nudged(params, 0, w, h));
    const Inputs minus = first_derivative(network.loss, nudged(params, 0, w, -h));
    for (size_t k = 0; k < params.size(); ++k) {
      REQUIRE(row[k].defined());
      for (int64_t j = 0; j < params[k].numel(); ++j) {
        INFO("d2L / dw d(param ", k, ")[", j, "]");
        const double numeric = (plus[k].flat(j) - minus[k].flat(j)) / (2 * h);
        CHECK(row[k].flat(j) == doctest::Approx(numeric).epsilon(1e-6));
      }
    }
    CHECK(row[0].flat(w) != 0.0);  // d2L/dw2 itself: the case is not trivially zero
  }
}

TEST_CASE("higher order: a Hessian-vector product against the explicit Hessian") {
  // f(x) = 1/2 x^T A x + sum(e^(0.3 x)) + log(1 + |x|^2) on R^4; by hand,
  // H = (A + A^T)/2 + diag(0.09 e^(0.3 x)) + 2 I / (1 + s) - 4 x x^T / (1 + s)^2 with s = |x|^2.
  const Tensor A({2, 1, 0, -1, 0.5, 3, 1, 0, 0, -2, 1, 0.25, 1, 0, 0.5, 2}, {4, 4}, DType::float64);
  const Tensor x0 = f64({0.3, -0.7, 1.1, 0.4});
  const Tensor v = f64({1, -2, 0.5, 3});
  const auto f = [&](const Tensor& x) {
    return matmul(x, matmul(A, x)) * 0.5 + sum(exp(x * 0.3)) + log(sum(square(x)) + 1.0);
  };
  const auto gradient_of_f = [&](const Tensor& x) {
    GradientTape tape;
    tape.watch(x);
    return tape.gradient(f(x), x);
  };
  const std::vector<double> a = A.to_vector(), xv = x0.to_vector(), vv = v.to_vector();
  double s = 0;
  for (double e : xv) s += e * e;
  std::vector<double> H(16);
  for (size_t i = 0; i < 4; ++i)
    for (size_t j = 0; j < 4; ++j) {
      H[i * 4 + j] = (a[i * 4 + j] + a[j * 4 + i]) / 2 - 4 * xv[i] * xv[j] / ((1 + s) * (1 + s));
      if (i == j) H[i * 4 + j] += 0.09 * std::exp(0.3 * xv[i]) + 2 / (1 + s);
    }
  std::vector<double> Hv(4, 0.0);
  for (size_t i = 0; i < 4; ++i)
    for (size_t j = 0; j < 4; ++j) Hv[i] += H[i * 4 + j] * vv[j];

  SUBCASE("grad of (grad . v) = H v") {
    GradientTape outer;
    outer.watch(x0);
    const Tensor g = gradient_of_f(x0);
    check_values(outer.gradient(sum(g * v), x0), Hv, 1e-12);
  }
  SUBCASE("the jacobian of the gradient is H, symmetric, shape 4x4") {
    GradientTape outer;
    outer.watch(x0);
    const Tensor g = gradient_of_f(x0);
    const Tensor hessian = outer.jacobian(g, x0);
    REQUIRE(hessian.defined());
    CHECK(hessian.shape() == Shape{4, 4});
    check_values(hessian, H, 1e-12);
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < i; ++j) CHECK(hessian.at({i, j}) == doctest::Approx(hessian.at({j, i})).epsilon(1e-14));
  }
  SUBCASE("H v against central differences of the gradient along v") {
    const double h = 1e-5;
    const std::vector<double> plus = gradient_of_f(x0 + v * h).to_vector();
    const std::vector<double> minus = gradient_of_f(x0 - v * h).to_vector();
    GradientTape outer;
    outer.watch(x0);
    const Tensor hvp = outer.gradient(sum(gradient_of_f(x0) * v), x0);
    for (size_t i = 0; i < 4; ++i) {
      INFO("element ", i);
      CHECK(hvp.flat(static_cast<int64_t>(i)) == doctest::Approx((plus[i] - minus[i]) / (2 * h)).epsilon(1e-7));
    }
  }
}

TEST_CASE("higher order: nested tapes through conv2d, pooling, matmul and the softmax family") {
  Generator generator(17);
  const auto normal = [&](const Shape& shape) { return random_normal(shape, generator, 0, 1, DType::float64); };
  SUBCASE("conv2d, stride 2, 'same', with respect to input and kernel") {
    Conv2DOptions options;
    options.strides = {2, 1};
    options.padding = Padding::same();
    check_second_order([options](const Inputs& in) { return sum(tanh(conv2d(in[0], in[1], options))); },
                       {normal({1, 5, 4, 2}), normal({3, 2, 2, 2}) * 0.5}, 1);
  }
  SUBCASE("conv2d_bias_activation: its fused backward and its differentiable one agree, and nest") {
    const Inputs inputs{normal({2, 4, 4, 2}), normal({3, 3, 2, 3}) * 0.5, normal({3})};
    for (const Activation activation : {Activation::sigmoid, Activation::relu, Activation::linear}) {
      INFO(activation_name(activation));
      const auto f = [activation](const Inputs& in) {
        return sum(tanh(conv2d_bias_activation(in[0], in[1], in[2], activation, {.padding = Padding::same()})));
      };
      // Without an outer tape the backward runs fused (kernels::activation_backward_with_bias); one that
      // watches the inputs records it as differentiable ops.
      const Inputs fused = first_derivative(f, inputs);
      Inputs recorded;
      {
        GradientTape outer;
        for (const Tensor& x : inputs) outer.watch(x);
        recorded = first_derivative(f, inputs);
        CHECK_FALSE(outer.entries().empty());
      }
      for (size_t i = 0; i < inputs.size(); ++i) {
        for (int64_t j = 0; j < inputs[i].numel(); ++j) {
          INFO("input ", i, ", element ", j);
          CHECK(fused[i].flat(j) == doctest::Approx(recorded[i].flat(j)).epsilon(1e-13));
        }
      }
      // relu's kinks would catch the differences' steps.
      if (activation != Activation::relu) check_second_order(f, inputs, 3);
    }
  }
  SUBCASE("max_pool2d, overlapping 3x3 windows, 'same', scaled per channel") {
    Pool2DOptions options;
    options.pool_size = {3, 3};
    options.strides = 1;
    options.padding = Padding::same();
    check_second_order([options](const Inputs& in) { return sum(tanh(max_pool2d(in[0], options) * in[1])); },
                       {normal({1, 4, 5, 2}), f64({0.7, -1.3})}, 2);
  }
  SUBCASE("avg_pool2d, 3x3, stride 2, padding 1") {
    Pool2DOptions options;
    options.pool_size = {3, 3};
    options.strides = 2;
    options.padding = Padding::uniform(1);
    check_second_order([options](const Inputs& in) { return sum(tanh(avg_pool2d(in[0], options) * 2.0)); },
                       {normal({2, 5, 5, 1})}, 3);
  }
  SUBCASE("matmul, batched with a broadcast matrix") {
    check_second_order([](const Inputs& in) { return sum(tanh(matmul(in[0], in[1]))); },
                       {normal({2, 3, 4}) * 0.5, normal({4, 2}) * 0.5}, 4);
  }
  SUBCASE("matmul with transpose_a and transpose_b, batched with a broadcast matrix") {
    for (const MatmulOptions options : {MatmulOptions{.transpose_a = true}, MatmulOptions{.transpose_b = true},
                                        MatmulOptions{.transpose_a = true, .transpose_b = true}}) {
      INFO("transpose_a ", options.transpose_a, ", transpose_b ", options.transpose_b);
      const Shape a = options.transpose_a ? Shape{2, 4, 3} : Shape{2, 3, 4};
      const Shape b = options.transpose_b ? Shape{2, 4} : Shape{4, 2};
      check_second_order([options](const Inputs& in) { return sum(tanh(matmul(in[0], in[1], options))); },
                         {normal(a) * 0.5, normal(b) * 0.5}, 4);
    }
  }
  SUBCASE("softmax") {
    const Tensor c = normal({3, 4});
    check_second_order([c](const Inputs& in) { return sum(square(softmax(in[0]) * c)); }, {normal({3, 4})}, 5);
  }
  SUBCASE("log_softmax and softmax_cross_entropy") {
    const Tensor labels({2, 0, 3}, {3}, DType::int64);
    check_second_order([labels](const Inputs& in) { return softmax_cross_entropy(in[0] * in[0], labels); },
                       {normal({3, 4})}, 6);
  }
  SUBCASE("logsumexp and reduce_max over an axis") {
    check_second_order([](const Inputs& in) { return sum(square(logsumexp(in[0], {1}) - reduce_max(in[0], {1}))); },
                       {normal({3, 4})}, 7);
  }
  SUBCASE("gather, concat and where") {
    const Tensor indices({2, 0, 2}, {3}, DType::int64);
    const Tensor mask({1, 0, 1, 1, 0, 0}, {3, 2}, DType::float64);
    check_second_order(
        [indices, mask](const Inputs& in) {
          const Tensor joined = concat({gather(in[0], indices, 0), in[1]}, 1);
          return sum(square(where(mask, joined, joined * joined)));
        },
        {normal({3, 1}), normal({3, 1})}, 8);
  }
}

TEST_CASE("higher order: nested tapes through batch normalization (training and inference) and dropout") {
  Generator generator(23);
  const auto normal = [&](const Shape& shape) { return random_normal(shape, generator, 0, 1, DType::float64); };
  SUBCASE("batch_norm_training, with respect to x, gamma and beta (the batch's statistics depend on x)") {
    const Tensor c = normal({4, 3});
    check_second_order([c](const Inputs& in) { return sum(tanh(batch_norm_training(in[0], in[1], in[2]).output) * c); },
                       {normal({4, 3}), normal({3}), normal({3})}, 9);
  }
  SUBCASE("batch_norm_training on NHWC, a loss of its square (a non-zero Hessian in gamma)") {
    check_second_order(
        [](const Inputs& in) { return sum(square(batch_norm_training(in[0] * 2.0, in[1], in[2], 0.01).output)); },
        {normal({2, 2, 3, 2}), normal({2}), normal({2})}, 10);
  }
  SUBCASE("batch_norm with given statistics, with respect to all five inputs") {
    check_second_order(
        [](const Inputs& in) { return sum(tanh(batch_norm(in[0], in[1], square(in[2]) + 0.5, in[3], in[4]))); },
        {normal({3, 2}), normal({2}), normal({2}), normal({2}), normal({2})}, 11);
  }
  SUBCASE("dropout, the same mask on every evaluation") {
    check_second_order(
        [](const Inputs& in) {
          Generator masks(5);
          return sum(sin(dropout(in[0], 0.5, masks)));
        },
        {normal({3, 4})}, 12);
  }
}

TEST_CASE("jacobian") {
  SUBCASE("y = A x: the jacobian is A") {
    const Tensor A({1, 2, -1, 0, 3, 0.5, 4, -2, 0, 1, 1, 7}, {3, 4}, DType::float64);
    const Tensor x = f64({0.5, -1, 2, 3});
    GradientTape tape;
    tape.watch(x);
    const Tensor J = tape.jacobian(matmul(A, x), x);
    REQUIRE(J.defined());
    CHECK(J.shape() == Shape{3, 4});
    CHECK(J.to_vector() == A.to_vector());
  }
  SUBCASE("an elementwise function: a diagonal of shape target.shape + source.shape") {
    const Tensor x({0.1, -0.4, 1.2, 2.0, -3.0, 0.7}, {2, 3}, DType::float64);
    GradientTape tape;
    tape.watch(x);
    const Tensor J = tape.jacobian(sin(x), x);
    REQUIRE(J.defined());
    CHECK(J.shape() == Shape{2, 3, 2, 3});
    const std::vector<double> xv = x.to_vector();
    for (int64_t i = 0; i < 6; ++i)
      for (int64_t j = 0; j < 6; ++j) {
        INFO("d y[", i, "] / d x[", j, "]");
        const double expected = i == j ? std::cos(xv[static_cast<size_t>(i)]) : 0.0;
        CHECK(J.at({i / 3, i % 3, j / 3, j % 3}) == doctest::Approx(expected).epsilon(1e-15));
      }
  }
  SUBCASE("target and source of different ranks: (2) and (3, 2) give (2, 3, 2)") {
    const Tensor x({1, 2, 3, 4, 5, 6}, {3, 2}, DType::float64);
    GradientTape tape;
    tape.watch(x);
    const Tensor y = sum(x * x, 0);  // y[k] = sum_i x[i, k]^2
    const Tensor J = tape.jacobian(y, x);
    REQUIRE(J.defined());
    CHECK(J.shape() == Shape{2, 3, 2});
    // d y[k] / d x[i, l] = 2 x[i, l] when l == k.
    CHECK(J.to_vector() == std::vector<double>{2, 0, 6, 0, 10, 0, 0, 4, 0, 8, 0, 12});
  }
  SUBCASE("a scalar target: the jacobian is the gradient") {
    const Tensor x = f64({1, -2, 3});
    GradientTape tape({.persistent = true});
    tape.watch(x);
    const Tensor y = sum(x * x * x);
    const Tensor J = tape.jacobian(y, x);
    CHECK(J.shape() == Shape{3});
    CHECK(J.to_vector() == tape.gradient(y, x).to_vector());
    check_values(J, {3, 12, 27});
  }
  SUBCASE("an unconnected source: undefined by default, zeros of shape target + source on request") {
    const Tensor x = f64({1, 2});
    const Tensor z({1, 2, 3, 4, 5, 6}, {2, 3}, DType::float64);
    GradientTape tape({.persistent = true});
    tape.watch(x);
    tape.watch(z);
    const Tensor y = x * 3.0;
    CHECK_FALSE(tape.jacobian(y, z).defined());
    const Tensor zero = tape.jacobian(y, z, UnconnectedGradients::zero);
    REQUIRE(zero.defined());
    CHECK(zero.shape() == Shape{2, 2, 3});
    CHECK(zero.dtype() == DType::float64);
    CHECK(zero.to_vector() == std::vector<double>(12, 0.0));
    check_values(tape.jacobian(y, x), {3, 0, 0, 3});
  }
}

TEST_CASE("batch_jacobian") {
  // A per-example function (B, 3) -> (B, 2): y[b] = tanh(x[b] W), so dy[b]/dx[b] = diag(1 - y[b]^2) W^T.
  Generator generator(23);
  const int64_t B = 4;
  const Tensor x = random_normal({B, 3}, generator, 0, 1, DType::float64);
  const Tensor W = random_normal({3, 2}, generator, 0, 1, DType::float64);
  SUBCASE("against the formula and against per-example jacobians; shape (B, 2, 3)") {
    GradientTape tape;
    tape.watch(x);
    const Tensor y = tanh(matmul(x, W));
    const Tensor J = tape.batch_jacobian(y, x);
    REQUIRE(J.defined());
    CHECK(J.shape() == Shape{B, 2, 3});
    for (int64_t b = 0; b < B; ++b) {
      // The per-example jacobian, on a tape of its own.
      const Tensor row = slice(x, {{b, b + 1}});
      GradientTape single;
      single.watch(row);
      const Tensor per_example = single.jacobian(tanh(matmul(row, W)), row);
      REQUIRE(per_example.shape() == Shape{1, 2, 1, 3});
      for (int64_t i = 0; i < 2; ++i)
        for (int64_t j = 0; j < 3; ++j) {
          INFO("example ", b, ", d y[", i, "] / d x[", j, "]");
          const double yi = y.at({b, i});
          CHECK(J.at({b, i, j}) == doctest::Approx((1 - yi * yi) * W.at({j, i})).epsilon(1e-12));
          CHECK(J.at({b, i, j}) == doctest::Approx(per_example.at({0, i, 0, j})).epsilon(1e-12));
        }
    }
  }
  SUBCASE("unconnected: undefined by default, zeros of shape (B, 2, 3) on request") {
    const Tensor other = random_normal({B, 2}, generator, 0, 1, DType::float64);
    GradientTape tape({.persistent = true});
    tape.watch(x);
    tape.watch(other);
    const Tensor y = other * 2.0;
    CHECK_FALSE(tape.batch_jacobian(y, x).defined());
    const Tensor zero = tape.batch_jacobian(y, x, UnconnectedGradients::zero);
    REQUIRE(zero.defined());
    CHECK(zero.shape() == Shape{B, 2, 3});
    CHECK(zero.to_vector() == std::vector<double>(static_cast<size_t>(B * 6), 0.0));
  }
}

TEST_CASE("persistent tapes, reset and StopRecording") {
  const Tensor x = f64({1, 2, 3});
  SUBCASE("a persistent tape: many gradients, then a jacobian, then a batch_jacobian") {
    GradientTape tape({.persistent = true});
    tape.watch(x);
    const Tensor y = x * x;
    const Tensor z = sin(y);
    for (int round = 0; round < 3; ++round) {
      INFO("round ", round);
      check_values(tape.gradient(y, x), {2, 4, 6});
      check_values(tape.gradient(z, x), {2 * std::cos(1.0), 4 * std::cos(4.0), 6 * std::cos(9.0)});
    }
    check_values(tape.jacobian(y, x), {2, 0, 0, 0, 4, 0, 0, 0, 6});
    const Tensor per_example = tape.batch_jacobian(y, x);  // 3 examples of one element each
    CHECK(per_example.shape() == Shape{3});
    check_values(per_example, {2, 4, 6});
    check_values(tape.gradient(y, x), {2, 4, 6});
    CHECK(tape.entries().size() == 2);  // asking for gradients records nothing on the tape itself
  }
  SUBCASE("a non-persistent tape: jacobian or batch_jacobian after gradient throws") {
    {
      GradientTape tape;
      tape.watch(x);
      const Tensor y = x * x;
      check_values(tape.gradient(y, x), {2, 4, 6});
      CHECK_THROWS_WITH_AS(tape.jacobian(y, x), doctest::Contains("persistent"), Error);
    }
    {
      const Tensor xb({1, 2, 3, 4}, {2, 2}, DType::float64);
      GradientTape tape;
      tape.watch(xb);
      const Tensor y = xb * xb;
      check_values(tape.gradient(y, xb), {2, 4, 6, 8});
      CHECK_THROWS_WITH_AS(tape.batch_jacobian(y, xb), doctest::Contains("persistent"), Error);
    }
    {
      GradientTape tape;
      tape.watch(x);
      const Tensor y = x * x;
      check_values(tape.jacobian(y, x), {2, 0, 0, 0, 4, 0, 0, 0, 6});  // a jacobian alone is allowed
      CHECK_THROWS_WITH_AS(tape.gradient(y, x), doctest::Contains("persistent"), Error);
    }
  }
  SUBCASE("reset() forgets entries and watches, and allows gradient again") {
    GradientTape tape;
    tape.watch(x, "x");
    const Tensor y = x * x;
    check_values(tape.gradient(y, x), {2, 4, 6});
    tape.reset();
    CHECK(tape.entries().empty());
    CHECK(tape.watched().empty());
    CHECK(tape.label(x.id()).empty());
    CHECK(tape.producer(y.id()) == -1);
    const Tensor before_watch = x * 5.0;  // x is no longer watched: not recorded
    CHECK(tape.entries().empty());
    CHECK_FALSE(tape.gradient(before_watch, x).defined());
    tape.reset();
    tape.watch(x);
    const Tensor z = x * x * x;
    CHECK(tape.entries().size() == 2);
    check_values(tape.gradient(z, x), {3, 12, 27});
  }
  SUBCASE("StopRecording inside a tape: nothing recorded, no gradient through it") {
    GradientTape tape({.persistent = true});
    tape.watch(x);
    Tensor paused;
    {
      StopRecording pause;
      paused = exp(x * 2.0);
      CHECK_FALSE(tape.recording());
    }
    CHECK(tape.recording());
    CHECK(tape.entries().empty());
    CHECK_FALSE(tape.gradient(paused, x).defined());
    GradientOptions zero;
    zero.unconnected_gradients = UnconnectedGradients::zero;
    check_values(tape.gradient(paused, x, zero), {0, 0, 0});
    // After the scope, recording resumes; the paused result is a constant to the tape.
    const Tensor y = x * paused;
    CHECK(tape.entries().size() == 1);
    check_values(tape.gradient(y, x), paused.to_vector());
  }
  SUBCASE("StopRecording around an inner gradient: the outer tape cannot differentiate it") {
    GradientTape outer;
    outer.watch(x);
    Tensor first;
    {
      GradientTape inner;
      inner.watch(x);
      const Tensor y = x * x * x;
      StopRecording pause;
      first = inner.gradient(y, x);
    }
    check_values(first, {3, 12, 27});
    CHECK_FALSE(outer.gradient(first, x).defined());
  }
}
