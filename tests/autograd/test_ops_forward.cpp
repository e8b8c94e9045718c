// Forward values of every op, family by family in the order of autograd/ops/ (elementwise, activation,
// reduce, shape, index, linalg, loss, conv, pool): against plain formulas and loops in the test, and the
// book's exact small cases. The gradients are checked in tests/autograd/test_gradcheck.cpp.

#include <tapegrad/tapegrad.hpp>
#include "autograd/ops/record.hpp"
#include "tests/autograd/check_values.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using namespace tapegrad;

namespace {

// Checks `actual` element by element: exactly when tolerance is 0, else within it (relative and absolute).
void check_close(const Tensor& actual, const std::vector<double>& expected, double tolerance = 1e-12) {
  const std::vector<double> values = actual.to_vector();
  REQUIRE(values.size() == expected.size());
  for (size_t i = 0; i < values.size(); ++i) {
    INFO("element ", i, " of ", to_string(actual));
    if (tolerance == 0) CHECK(values[i] == expected[i]);
    else CHECK(values[i] == doctest::Approx(expected[i]).epsilon(tolerance));
  }
}

// `count` values spread over [-3, 3] with both signs, zero included.
std::vector<double> spread(size_t count) {
  std::vector<double> v;
  for (size_t i = 0; i < count; ++i) v.push_back(-3.0 + 6.0 * static_cast<double>(i) / static_cast<double>(count - 1));
  return v;
}

std::vector<double> map(const std::vector<double>& xs, const std::function<double(double)>& f) {
  std::vector<double> out;
  for (double v : xs) out.push_back(f(v));
  return out;
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

// The bits of each element; with `nan_as_one`, every NaN counts as one value (which of two NaN
// operands a product returns depends on the operand order the compiler picks).
std::vector<uint64_t> element_bits(const Tensor& t, bool nan_as_one = false) {
  std::vector<uint64_t> out;
  for (double v : t.to_vector()) out.push_back(nan_as_one && std::isnan(v) ? ~uint64_t{0} : std::bit_cast<uint64_t>(v));
  return out;
}

}  // namespace

// ---- Elementwise arithmetic (autograd/ops/elementwise.cpp) and broadcasting ----

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

// ---- Activations, selection and comparisons (autograd/ops/activation.cpp) ----

TEST_CASE("forward: activations against std:: formulas") {
  const std::vector<double> xs = spread(13);  // includes 0 and +-0.5
  const Tensor x(xs, Shape{13}, DType::float64);
  SUBCASE("relu") {
    check_close(relu(x), map(xs, [](double v) { return v > 0 ? v : 0.0; }), 0);
  }
  SUBCASE("sigmoid") {
    check_close(sigmoid(x), map(xs, [](double v) { return 1 / (1 + std::exp(-v)); }), 1e-15);
  }
  SUBCASE("tanh") {
    check_close(tanh(x), map(xs, [](double v) { return std::tanh(v); }), 1e-15);
  }
  SUBCASE("sin and cos") {
    check_close(sin(x), map(xs, [](double v) { return std::sin(v); }), 1e-15);
    check_close(cos(x), map(xs, [](double v) { return std::cos(v); }), 1e-15);
  }
  SUBCASE("sqrt of non-negative values, NaN below 0") {
    const std::vector<double> ys = map(xs, [](double v) { return std::abs(v); });
    check_close(sqrt(Tensor(ys, Shape{13}, DType::float64)), map(ys, [](double v) { return std::sqrt(v); }), 1e-15);
    CHECK(std::isnan(sqrt(Tensor({-1}, {1})).item()));
  }
  SUBCASE("clip to [-1, 2]") {
    check_close(clip(x, -1, 2), map(xs, [](double v) { return std::min(std::max(v, -1.0), 2.0); }), 0);
  }
  SUBCASE("float32 in, float32 out, same values as float in C++") {
    const Tensor x32 = x.to(DType::float32);
    const Tensor y = sigmoid(x32);
    CHECK(y.dtype() == DType::float32);
    for (int64_t i = 0; i < 13; ++i) {
      const float v = static_cast<float>(x32.flat(i));
      CHECK(y.flat(i) == doctest::Approx(1.0f / (1.0f + std::exp(-v))).epsilon(1e-6));
    }
    CHECK(relu(x32).dtype() == DType::float32);
    CHECK(tanh(x32).dtype() == DType::float32);
  }
  SUBCASE("a 2-d shape is kept") {
    const Tensor m = reshape(x, {1, 13});
    CHECK(relu(m).shape() == Shape{1, 13});
    CHECK(clip(m, 0, 1).shape() == Shape{1, 13});
  }
}

TEST_CASE("forward: maximum, minimum, comparisons and where, with broadcasting") {
  const Tensor col({1, 2, 3}, {3, 1}, DType::float64);
  const Tensor row({0, 2, 4, 1}, {1, 4}, DType::float64);
  const std::vector<double> c = col.to_vector(), r = row.to_vector();
  // The 3x4 grid of f(col[i], row[j]).
  const auto grid = [&](double (*f)(double, double)) {
    std::vector<double> out;
    for (double a : c)
      for (double b : r) out.push_back(f(a, b));
    return out;
  };
  SUBCASE("maximum and minimum of 3x1 and 1x4 give 3x4") {
    const Tensor hi = maximum(col, row), lo = minimum(col, row);
    CHECK(hi.shape() == Shape{3, 4});
    CHECK(lo.shape() == Shape{3, 4});
    check_close(hi, grid([](double a, double b) { return a > b ? a : b; }), 0);
    check_close(lo, grid([](double a, double b) { return a < b ? a : b; }), 0);
    CHECK(maximum(row, Tensor::scalar(1.5, DType::float64)).to_vector() == std::vector<double>{1.5, 2, 4, 1.5});
  }
  SUBCASE("comparisons give 0 or 1 in the input dtype") {
    struct Comparison {
      const char* name;
      Tensor (*op)(const Tensor&, const Tensor&);
      double (*formula)(double, double);
    };
    const std::vector<Comparison> comparisons{
        {"equal", equal, [](double a, double b) { return a == b ? 1.0 : 0.0; }},
        {"not_equal", not_equal, [](double a, double b) { return a != b ? 1.0 : 0.0; }},
        {"less", less, [](double a, double b) { return a < b ? 1.0 : 0.0; }},
        {"less_equal", less_equal, [](double a, double b) { return a <= b ? 1.0 : 0.0; }},
        {"greater", greater, [](double a, double b) { return a > b ? 1.0 : 0.0; }},
        {"greater_equal", greater_equal, [](double a, double b) { return a >= b ? 1.0 : 0.0; }},
    };
    for (const Comparison& cmp : comparisons) {
      for (const DType dtype : {DType::float32, DType::float64, DType::int64}) {
        INFO(std::string(cmp.name), " on ", dtype_name(dtype));
        const Tensor y = cmp.op(col.to(dtype), row.to(dtype));
        CHECK(y.dtype() == dtype);
        CHECK(y.shape() == Shape{3, 4});
        check_close(y, grid(cmp.formula), 0);
      }
    }
  }
  SUBCASE("accuracy from int64 predictions and labels: equal(argmax(logits), labels)") {
    const Tensor logits({0.1, 2, -1, 3, 0, 0.5, 1, 1, 4}, {3, 3});
    const Tensor labels({1, 2, 2}, {3}, DType::int64);
    const Tensor correct = equal(argmax(logits), labels);  // predictions [1, 0, 2]
    CHECK(correct.dtype() == DType::int64);
    CHECK(correct.to_vector() == std::vector<double>{1, 0, 1});
    CHECK(mean(correct.to(DType::float64)).item() == doctest::Approx(2.0 / 3).epsilon(1e-15));
  }
  SUBCASE("comparisons are not recorded") {
    GradientTape tape;
    tape.watch(col);
    const Tensor mask = greater(col, row);
    CHECK(tape.entries().empty());
  }
  SUBCASE("where with a 3x1 condition, a 1x4 and a scalar") {
    const Tensor cond({1, 0, 1}, {3, 1}, DType::float64);
    const Tensor y = where(cond, row, Tensor::scalar(-7, DType::float64));
    CHECK(y.shape() == Shape{3, 4});
    check_close(y, {0, 2, 4, 1, -7, -7, -7, -7, 0, 2, 4, 1}, 0);
  }
  SUBCASE("where with a 1x4 condition from a comparison; any non-zero is true") {
    const Tensor cond({0, 2.5, -1, 0}, {1, 4}, DType::float64);
    const Tensor y = where(cond, col, row);
    check_close(y, {0, 1, 1, 1, 0, 2, 2, 1, 0, 3, 3, 1}, 0);
    const Tensor z = where(greater(col, row), col, row);  // the maximum, elementwise
    check_close(z, maximum(col, row).to_vector(), 0);
  }
}

// ---- Reductions (autograd/ops/reduce.cpp) ----

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

TEST_CASE("forward: reduce_sum, reduce_mean and reduce_max over axis sets") {
  // x[i, j, k] = a scrambled but known value: (7 * (12 i + 4 j + k)) mod 24 - 11.
  std::vector<double> xs;
  for (int p = 0; p < 24; ++p) xs.push_back((7 * p) % 24 - 11);
  const Tensor x(xs, Shape{2, 3, 4}, DType::float64);
  const auto value = [&](int i, int j, int k) { return xs[static_cast<size_t>(12 * i + 4 * j + k)]; };
  SUBCASE("over axis 1: sums, means and maxima of each (i, k)") {
    std::vector<double> sums, means, maxima;
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 4; ++k) {
        double s = 0, m = -INFINITY;
        for (int j = 0; j < 3; ++j) {
          s += value(i, j, k);
          m = std::max(m, value(i, j, k));
        }
        sums.push_back(s);
        means.push_back(s / 3);
        maxima.push_back(m);
      }
    for (const bool keepdims : {false, true}) {
      INFO("keepdims ", keepdims);
      const Shape shape = keepdims ? Shape{2, 1, 4} : Shape{2, 4};
      CHECK(reduce_sum(x, {1}, keepdims).shape() == shape);
      CHECK(reduce_mean(x, {1}, keepdims).shape() == shape);
      CHECK(reduce_max(x, {1}, keepdims).shape() == shape);
      check_close(reduce_sum(x, {1}, keepdims), sums, 0);
      check_close(reduce_mean(x, {1}, keepdims), means, 1e-15);
      check_close(reduce_max(x, {1}, keepdims), maxima, 0);
    }
  }
  SUBCASE("over axes {0, 2} (and {-1, 0}): one value per j") {
    std::vector<double> sums, maxima;
    for (int j = 0; j < 3; ++j) {
      double s = 0, m = -INFINITY;
      for (int i = 0; i < 2; ++i)
        for (int k = 0; k < 4; ++k) {
          s += value(i, j, k);
          m = std::max(m, value(i, j, k));
        }
      sums.push_back(s);
      maxima.push_back(m);
    }
    CHECK(reduce_sum(x, {0, 2}).shape() == Shape{3});
    CHECK(reduce_max(x, {0, 2}, true).shape() == Shape{1, 3, 1});
    check_close(reduce_sum(x, {0, 2}), sums, 0);
    check_close(reduce_sum(x, {-1, 0}), sums, 0);
    check_close(reduce_mean(x, {0, 2}, true), map(sums, [](double s) { return s / 8; }), 1e-15);
    check_close(reduce_max(x, {0, 2}, true), maxima, 0);
  }
  SUBCASE("over all axes: empty list, and every axis listed") {
    double total = 0;
    for (double v : xs) total += v;
    const double largest = *std::max_element(xs.begin(), xs.end());
    CHECK(reduce_sum(x).shape() == Shape{});
    CHECK(reduce_sum(x).item() == total);
    CHECK(reduce_mean(x).item() == doctest::Approx(total / 24).epsilon(1e-15));
    CHECK(reduce_max(x).item() == largest);
    CHECK(reduce_max(x, {}, true).shape() == Shape{1, 1, 1});
    CHECK(reduce_sum(x, {0, 1, 2}, true).shape() == Shape{1, 1, 1});
    CHECK(reduce_sum(x, {0, 1, 2}, true).item() == total);
  }
  SUBCASE("a repeated axis is an error") { CHECK_THROWS_AS(reduce_sum(x, {1, -2}), Error); }
}

// ---- Shape ops (autograd/ops/shape.cpp) ----

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

// ---- Joining and indexing (autograd/ops/index.cpp) ----

TEST_CASE("forward: concat, stack, gather, one_hot, expand_dims, squeeze") {
  const Tensor a({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b({7, 8, 9}, {1, 3});
  SUBCASE("concat on axis 0 and axis 1") {
    const Tensor rows = concat({a, b}, 0);
    CHECK(rows.shape() == Shape{3, 3});
    CHECK(rows.to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9});
    const Tensor cols = concat({a, Tensor({10, 20}, {2, 1}), a}, -1);
    CHECK(cols.shape() == Shape{2, 7});
    CHECK(cols.to_vector() == std::vector<double>{1, 2, 3, 10, 1, 2, 3, 4, 5, 6, 20, 4, 5, 6});
    CHECK_THROWS_AS(concat({a, b}, 1), Error);
  }
  SUBCASE("stack on a new first, middle and last axis") {
    const Tensor c({10, 20, 30, 40, 50, 60}, {2, 3});
    const Tensor s0 = stack({a, c});
    CHECK(s0.shape() == Shape{2, 2, 3});
    CHECK(s0.to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60});
    const Tensor s1 = stack({a, c}, 1);
    CHECK(s1.shape() == Shape{2, 2, 3});
    CHECK(s1.to_vector() == std::vector<double>{1, 2, 3, 10, 20, 30, 4, 5, 6, 40, 50, 60});
    const Tensor s2 = stack({a, c}, -1);
    CHECK(s2.shape() == Shape{2, 3, 2});
    CHECK(s2.to_vector() == std::vector<double>{1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60});
    CHECK_THROWS_AS(stack({a, b}), Error);
  }
  SUBCASE("gather along axis 0: rows, with repeats, from a 2-d index") {
    const Tensor m = reshape(arange(12), {4, 3});
    const Tensor g = gather(m, Tensor({3, 0, 3}, {3}, DType::int64), 0);
    CHECK(g.shape() == Shape{3, 3});
    CHECK(g.to_vector() == std::vector<double>{9, 10, 11, 0, 1, 2, 9, 10, 11});
    const Tensor g2 = gather(m, Tensor({1, 2, 0, 1}, {2, 2}, DType::int64), 0);
    CHECK(g2.shape() == Shape{2, 2, 3});
    CHECK(g2.to_vector() == std::vector<double>{3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5});
  }
  SUBCASE("gather along axis 1: columns") {
    const Tensor m = reshape(arange(12), {4, 3});
    const Tensor g = gather(m, Tensor({2, 0}, {2}, DType::int64), 1);
    CHECK(g.shape() == Shape{4, 2});
    CHECK(g.to_vector() == std::vector<double>{2, 0, 5, 3, 8, 6, 11, 9});
    const Tensor cube = reshape(arange(24), {2, 3, 4});
    const Tensor h = gather(cube, Tensor({1, 1}, {2}, DType::int64), 1);
    CHECK(h.shape() == Shape{2, 2, 4});
    CHECK(h.to_vector() == std::vector<double>{4, 5, 6, 7, 4, 5, 6, 7, 16, 17, 18, 19, 16, 17, 18, 19});
    CHECK_THROWS_AS(gather(m, Tensor({3}, {1}, DType::int64), 1), Error);
  }
  SUBCASE("one_hot: rows of zeros with a 1; an index out of range gives a zero row") {
    const Tensor y = one_hot(Tensor({2, 0, 5, -1, 1}, {5}, DType::int64), 3);
    CHECK(y.shape() == Shape{5, 3});
    CHECK(y.dtype() == DType::float32);
    CHECK(y.to_vector() == std::vector<double>{0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0});
    const Tensor z = one_hot(Tensor({1, 0, 2, 2}, {2, 2}, DType::int64), 3, DType::float64);
    CHECK(z.shape() == Shape{2, 2, 3});
    CHECK(z.dtype() == DType::float64);
    CHECK(z.to_vector() == std::vector<double>{0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1});
  }
  SUBCASE("expand_dims and squeeze: shapes, same values") {
    CHECK(expand_dims(a, 0).shape() == Shape{1, 2, 3});
    CHECK(expand_dims(a, 1).shape() == Shape{2, 1, 3});
    CHECK(expand_dims(a, 2).shape() == Shape{2, 3, 1});
    CHECK(expand_dims(a, -1).shape() == Shape{2, 3, 1});
    CHECK(expand_dims(a, 1).to_vector() == a.to_vector());
    const Tensor t = zeros({1, 3, 1, 2});
    CHECK(squeeze(t).shape() == Shape{3, 2});
    CHECK(squeeze(t, {0}).shape() == Shape{3, 1, 2});
    CHECK(squeeze(t, {-2}).shape() == Shape{1, 3, 2});
    CHECK(squeeze(t, {0, 2}).shape() == Shape{3, 2});
    CHECK(squeeze(Tensor({4}, {1})).shape() == Shape{});
    CHECK(squeeze(expand_dims(a, 1), {1}).to_vector() == a.to_vector());
  }
  SUBCASE("squeeze of an axis whose size is not 1 is an error that names it") {
    CHECK_THROWS_WITH_AS(squeeze(zeros({1, 3, 1}), {1}), doctest::Contains("squeeze"), Error);
    CHECK_THROWS_WITH_AS(squeeze(zeros({1, 3, 1}), {1}), doctest::Contains("1x3x1"), Error);
  }
}

// ---- Matrix products (autograd/ops/linalg.cpp) ----

TEST_CASE("forward: matmul") {
  // C[i, j] = sum_k A[i, k] B[k, j], as loops over flat row-major values.
  const auto product = [](const std::vector<double>& a, const std::vector<double>& b, int64_t m, int64_t k, int64_t n) {
    std::vector<double> out(static_cast<size_t>(m * n), 0.0);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t l = 0; l < k; ++l)
          out[static_cast<size_t>(i * n + j)] += a[static_cast<size_t>(i * k + l)] * b[static_cast<size_t>(l * n + j)];
    return out;
  };
  Generator generator(41);
  SUBCASE("2-d: 3x4 @ 4x5") {
    const Tensor a = random_normal({3, 4}, generator, 0, 1, DType::float64);
    const Tensor b = random_normal({4, 5}, generator, 0, 1, DType::float64);
    const Tensor c = matmul(a, b);
    CHECK(c.shape() == Shape{3, 5});
    check_close(c, product(a.to_vector(), b.to_vector(), 3, 4, 5));
  }
  SUBCASE("small integers by hand") {
    const Tensor a({1, 2, 3, 4}, {2, 2});
    const Tensor b({5, 6, 7, 8}, {2, 2});
    CHECK(matmul(a, b).to_vector() == std::vector<double>{19, 22, 43, 50});
  }
  SUBCASE("transpose_a and transpose_b: the product of the swapped axes, the same values as transpose's copy") {
    const Tensor a = random_normal({2, 4, 3}, generator, 0, 1, DType::float32);  // (3x4)^T in each batch
    const Tensor b = random_normal({5, 4}, generator, 0, 1, DType::float32);     // (4x5)^T
    const Tensor at = transpose(a, {0, 2, 1}), bt = transpose(b, {1, 0});
    const Tensor both = matmul(a, b, {.transpose_a = true, .transpose_b = true});
    CHECK(both.shape() == Shape{2, 3, 5});
    // gemm sums each element in the same order however its operands lie: the very same floats.
    CHECK(both.to_vector() == matmul(at, bt).to_vector());
    CHECK(matmul(a, bt, {.transpose_a = true}).to_vector() == matmul(at, bt).to_vector());
    CHECK(matmul(at, b, {.transpose_b = true}).to_vector() == matmul(at, bt).to_vector());
    CHECK(matmul(Tensor({1, 2, 3, 4}, {2, 2}), Tensor({5, 6, 7, 8}, {2, 2}), {.transpose_a = true}).to_vector() ==
          std::vector<double>{26, 30, 38, 44});
    const Tensor v({1, 0, -1, 2}, {4});
    CHECK(matmul(v, b, {.transpose_b = true}).to_vector() == matmul(v, bt).to_vector());
    CHECK(matmul(b, v).shape() == Shape{5});
  }
  SUBCASE("a transposed operand must have two axes; the inner sizes must agree") {
    const Tensor v({1, 2, 3}, {3});
    const Tensor m = zeros({3, 2});
    CHECK_THROWS_WITH_AS(matmul(v, m, {.transpose_a = true}),
                         "matmul: transpose_a of a 3 @ b 3x2; expected a transposed operand of rank 2 or more (its "
                         "last two axes swap)",
                         Error);
    CHECK_THROWS_WITH_AS(matmul(m, v, {.transpose_b = true}), doctest::Contains("transpose_b of a 3x2 @ b 3"), Error);
    CHECK(matmul(m, m, {.transpose_b = true}).shape() == Shape{3, 3});
    CHECK_THROWS_WITH_AS(matmul(m, zeros({2, 3}), {.transpose_b = true}),
                         "matmul: 3x2 @ 2x3 transposed: a's last axis (2) must equal b's last axis (3)", Error);
    CHECK_THROWS_WITH_AS(matmul(m, zeros({2, 3}), {.transpose_a = true}),
                         "matmul: 3x2 transposed @ 2x3: a's second-to-last axis (3) must equal b's second-to-last (2)",
                         Error);
  }
  SUBCASE("matrix @ vector, vector @ matrix, vector @ vector") {
    const Tensor a({1, 2, 3, 4, 5, 6}, {2, 3});
    const Tensor v({1, 0, -1}, {3});
    const Tensor u({2, -1}, {2});
    const Tensor mv = matmul(a, v);
    CHECK(mv.shape() == Shape{2});
    CHECK(mv.to_vector() == std::vector<double>{1 - 3, 4 - 6});
    const Tensor vm = matmul(u, a);
    CHECK(vm.shape() == Shape{3});
    CHECK(vm.to_vector() == std::vector<double>{2 - 4, 4 - 5, 6 - 6});
    const Tensor vv = matmul(v, Tensor({4, 5, 6}, {3}));
    CHECK(vv.shape() == Shape{});
    CHECK(vv.item() == 4 - 6);
  }
  SUBCASE("batched with broadcast batch axes: 2x1x3x4 @ 3x4x5 -> 2x3x3x5") {
    const Tensor a = random_normal({2, 1, 3, 4}, generator, 0, 1, DType::float64);
    const Tensor b = random_normal({3, 4, 5}, generator, 0, 1, DType::float64);
    const Tensor c = matmul(a, b);
    REQUIRE(c.shape() == Shape{2, 3, 3, 5});
    const std::vector<double> av = a.to_vector(), bv = b.to_vector(), cv = c.to_vector();
    for (size_t i = 0; i < 2; ++i)
      for (size_t j = 0; j < 3; ++j) {
        INFO("batch ", i, ", ", j);
        // c[i, j] = a[i, 0] @ b[j].
        const std::vector<double> ai(av.begin() + static_cast<std::ptrdiff_t>(i * 12),
                                     av.begin() + static_cast<std::ptrdiff_t>(i * 12 + 12));
        const std::vector<double> bj(bv.begin() + static_cast<std::ptrdiff_t>(j * 20),
                                     bv.begin() + static_cast<std::ptrdiff_t>(j * 20 + 20));
        const std::vector<double> expected = product(ai, bj, 3, 4, 5);
        for (size_t e = 0; e < 15; ++e) CHECK(cv[(i * 3 + j) * 15 + e] == doctest::Approx(expected[e]).epsilon(1e-12));
      }
  }
  SUBCASE("batched @ matrix: 2x3x4 @ 4x2") {
    const Tensor a = random_normal({2, 3, 4}, generator, 0, 1, DType::float64);
    const Tensor b = random_normal({4, 2}, generator, 0, 1, DType::float64);
    const Tensor c = matmul(a, b);
    REQUIRE(c.shape() == Shape{2, 3, 2});
    check_close(c, product(a.to_vector(), b.to_vector(), 6, 4, 2));  // the batch stacks as rows
  }
}

// ---- The softmax family and the losses (autograd/ops/loss.cpp) ----

TEST_CASE("forward: logsumexp, softmax, log_softmax, argmax") {
  const Tensor x({0.5, -1, 2, 0, 3, 3, -2, 1, -0.5, 4, 0.25, -3}, {3, 4}, DType::float64);
  const std::vector<double> xs = x.to_vector();
  SUBCASE("logsumexp over the last axis: log(sum(exp(x))) per row, keepdims or not") {
    std::vector<double> expected;
    for (size_t i = 0; i < 3; ++i) {
      double s = 0;
      for (size_t j = 0; j < 4; ++j) s += std::exp(xs[i * 4 + j]);
      expected.push_back(std::log(s));
    }
    check_close(logsumexp(x, {1}), expected, 1e-14);
    CHECK(logsumexp(x, {-1}, true).shape() == Shape{3, 1});
    double all = 0;
    for (double v : xs) all += std::exp(v);
    CHECK(logsumexp(x).item() == doctest::Approx(std::log(all)).epsilon(1e-14));
  }
  SUBCASE("softmax: e^x / sum e^x per row; rows sum to 1") {
    const Tensor y = softmax(x);
    CHECK(y.shape() == Shape{3, 4});
    for (size_t i = 0; i < 3; ++i) {
      double s = 0;
      for (size_t j = 0; j < 4; ++j) s += std::exp(xs[i * 4 + j]);
      double row_total = 0;
      for (size_t j = 0; j < 4; ++j) {
        const double yij = y.at({static_cast<int64_t>(i), static_cast<int64_t>(j)});
        CHECK(yij == doctest::Approx(std::exp(xs[i * 4 + j]) / s).epsilon(1e-14));
        row_total += yij;
      }
      CHECK(row_total == doctest::Approx(1.0).epsilon(1e-14));
    }
  }
  SUBCASE("softmax over axis 0: columns sum to 1") {
    const Tensor column_sums = sum(softmax(x, 0), 0);
    check_close(column_sums, {1, 1, 1, 1}, 1e-14);
  }
  SUBCASE("log_softmax = log(softmax)") {
    check_close(log_softmax(x), log(softmax(x)).to_vector(), 1e-13);
    check_close(log_softmax(x, 0), log(softmax(x, 0)).to_vector(), 1e-13);
  }
  SUBCASE("argmax: int64, the first index on ties") {
    const Tensor rows = argmax(x);  // row 1 is [3, 3, -2, 1]: a tie at 0 and 1
    CHECK(rows.dtype() == DType::int64);
    CHECK(rows.shape() == Shape{3});
    CHECK(rows.to_vector() == std::vector<double>{2, 0, 1});
    const Tensor columns = argmax(x, 0);  // columns: [0.5, 3, -0.5], [-1, 3, 4], [2, -2, 0.25], [0, 1, -3]
    CHECK(columns.to_vector() == std::vector<double>{1, 2, 0, 1});
    CHECK(argmax(Tensor({5, 5, 5}, {3})).item() == 0);
    CHECK(argmax(Tensor({1, 7, 2, 7}, {4})).item() == 1);
  }
}

TEST_CASE("forward: losses") {
  const Tensor prediction({1, 2, 3, 4}, {2, 2}, DType::float64);
  const Tensor target({1.5, 0, 3, 7}, {2, 2}, DType::float64);
  SUBCASE("mse: mean, sum and none") {
    const std::vector<double> squares{0.25, 4, 0, 9};
    check_close(mse(prediction, target, Reduction::none), squares, 0);
    CHECK(mse(prediction, target, Reduction::none).shape() == Shape{2, 2});
    CHECK(mse(prediction, target, Reduction::sum).item() == 13.25);
    CHECK(mse(prediction, target).item() == 13.25 / 4);
    CHECK(mse(prediction, target, Reduction::mean).shape() == Shape{});
    CHECK_THROWS_AS(mse(prediction, Tensor({1, 2}, {2}, DType::float64)), Error);
  }
  const Tensor logits({2, 1, 0.1, -1, 0.5, 3, 0, 0, 0}, {3, 3}, DType::float64);
  const Tensor labels({0, 2, 1}, {3}, DType::int64);
  // -log softmax(row)[label], by hand.
  std::vector<double> by_hand;
  const std::vector<double> lv = logits.to_vector();
  const std::vector<int> label_values{0, 2, 1};
  for (size_t i = 0; i < 3; ++i) {
    double s = 0;
    for (size_t j = 0; j < 3; ++j) s += std::exp(lv[i * 3 + j]);
    by_hand.push_back(-std::log(std::exp(lv[i * 3 + static_cast<size_t>(label_values[i])]) / s));
  }
  SUBCASE("softmax_cross_entropy with int labels: -log(softmax[label]) per example") {
    const Tensor none = softmax_cross_entropy(logits, labels, Reduction::none);
    CHECK(none.shape() == Shape{3});
    check_close(none, by_hand, 1e-14);
    const double total = by_hand[0] + by_hand[1] + by_hand[2];
    CHECK(softmax_cross_entropy(logits, labels, Reduction::sum).item() == doctest::Approx(total).epsilon(1e-14));
    CHECK(softmax_cross_entropy(logits, labels).item() == doctest::Approx(total / 3).epsilon(1e-14));
    CHECK(by_hand[2] == doctest::Approx(std::log(3.0)).epsilon(1e-15));  // uniform logits: log(classes)
  }
  SUBCASE("int labels give the one-hot form's values") {
    const Tensor onehot = one_hot(labels, 3, DType::float64);
    for (const Reduction reduction : {Reduction::mean, Reduction::sum, Reduction::none}) {
      check_close(softmax_cross_entropy(logits, onehot, reduction),
                  softmax_cross_entropy(logits, labels, reduction).to_vector(), 1e-15);
    }
  }
  SUBCASE("soft labels: -sum p log softmax") {
    const Tensor p({0.5, 0.5, 0, 0, 0.25, 0.75, 1, 0, 0}, {3, 3}, DType::float64);
    const std::vector<double> pv = p.to_vector();
    std::vector<double> expected;
    for (size_t i = 0; i < 3; ++i) {
      double s = 0;
      for (size_t j = 0; j < 3; ++j) s += std::exp(lv[i * 3 + j]);
      double loss = 0;
      for (size_t j = 0; j < 3; ++j) loss -= pv[i * 3 + j] * (lv[i * 3 + j] - std::log(s));
      expected.push_back(loss);
    }
    check_close(softmax_cross_entropy(logits, p, Reduction::none), expected, 1e-14);
  }
  SUBCASE("a label out of range (or negative) is a tapegrad::Error") {
    CHECK_THROWS_WITH_AS(softmax_cross_entropy(logits, Tensor({0, 3, 1}, {3}, DType::int64)),
                         doctest::Contains("out of range"), Error);
    CHECK_THROWS_AS(softmax_cross_entropy(logits, Tensor({0, -1, 1}, {3}, DType::int64)), Error);
    CHECK_THROWS_AS(softmax_cross_entropy(logits, Tensor({0, 1}, {2}, DType::int64)), Error);
  }
}

// ---- Convolutions (autograd/ops/conv.cpp) ----

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
    CHECK(conv2d(x, ones({3, 3, 1, 1}),
                 Conv2DOptions{.strides = {1, 1}, .padding = Padding::uniform(1), .dilation_rate = {1, 1}})
              .shape() == Shape{1, 8, 8, 1});
    CHECK(conv2d(
              x, ones({5, 3, 1, 1}),
              Conv2DOptions{.strides = {1, 1}, .padding = Padding::explicit_sides(2, 2, 1, 1), .dilation_rate = {1, 1}})
              .shape() == Shape{1, 8, 8, 1});
    CHECK(conv2d(x, ones({3, 3, 1, 1}),
                 Conv2DOptions{.strides = {2, 2}, .padding = Padding::uniform(1), .dilation_rate = {1, 1}})
              .shape() == Shape{1, 4, 4, 1});
    CHECK(conv2d(
              x, ones({3, 5, 1, 1}),
              Conv2DOptions{.strides = {3, 4}, .padding = Padding::explicit_sides(0, 0, 1, 1), .dilation_rate = {1, 1}})
              .shape() == Shape{1, 2, 2, 1});
    CHECK(conv2d(x, ones({3, 3, 1, 1}),
                 Conv2DOptions{.strides = {1, 1}, .padding = Padding::same(), .dilation_rate = {1, 1}})
              .shape() == Shape{1, 8, 8, 1});
    CHECK(conv2d(x, ones({3, 3, 1, 1}),
                 Conv2DOptions{.strides = {3, 3}, .padding = Padding::same(), .dilation_rate = {1, 1}})
              .shape() == Shape{1, 3, 3, 1});
    CHECK(conv2d(x, ones({3, 3, 1, 1}),
                 Conv2DOptions{.strides = {1, 1}, .padding = Padding::valid(), .dilation_rate = {3, 3}})
              .shape() == Shape{1, 2, 2, 1});
  }
  SUBCASE("'same' puts the odd pixel of padding at the bottom and right, as TensorFlow") {
    const Tensor x = reshape(arange(16), {1, 4, 4, 1});
    const Tensor y = conv2d(x, ones({2, 2, 1, 1}),
                            Conv2DOptions{.strides = {1, 1}, .padding = Padding::same(), .dilation_rate = {1, 1}});
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
          Conv2DOptions{.strides = {c.s[0], c.s[1]},
                        .padding = Padding::explicit_sides(c.pads[0], c.pads[1], c.pads[2], c.pads[3]),
                        .dilation_rate = {c.d[0], c.d[1]}};
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

TEST_CASE("conv2d_bias_activation: the bits of conv2d, add and the activation, forward and backward; the bias's "
          "gradient within rounding") {
  struct Case {
    const char* label;
    Shape x, k;
    Conv2DOptions options;
    bool special_bias = false;  // the bias holds NaN, -0, +inf and -inf, and the first image is zeros
  };
  const std::vector<Case> cases{
      {"LeNet's first layer (direct, 2 threads' worth of work)",
       {32, 28, 28, 1},
       {5, 5, 1, 6},
       {.padding = Padding::same()}},
      {"LeNet's second layer (two groups of output channels)", {3, 14, 14, 6}, {5, 5, 6, 16}, {}},
      {"two pieces an image, the second starting mid-row", {2, 40, 45, 3}, {3, 3, 3, 4}, {.padding = Padding::same()}},
      {"dilation 2", {2, 12, 12, 2}, {3, 3, 2, 5}, {.padding = Padding::same(), .dilation_rate = 2}},
      {"one output channel (bands of rows)", {2, 9, 11, 3}, {3, 3, 3, 1}, {.padding = Padding::same()}},
      {"one output channel, 2 threads' worth of work", {64, 32, 32, 8}, {3, 3, 8, 1}, {.padding = Padding::same()}},
      {"stride 2 (im2col and gemm)", {2, 9, 9, 2}, {3, 3, 2, 3}, {.strides = 2}},
      {"NaN, -0 and infinities in the bias", {2, 6, 6, 2}, {3, 3, 2, 4}, {}, true},
      {"no images", {0, 6, 6, 2}, {3, 3, 2, 3}, {.padding = Padding::same()}},
      {"300 output channels (more sums than the lanes kept on the stack)", {1, 3, 3, 2}, {1, 1, 2, 300}, {}},
      {"100 output channels (a bias too wide to repeat over whole vectors)",
       {2, 5, 5, 3},
       {3, 3, 3, 100},
       {.padding = Padding::same()}},
  };
  const int threads = num_threads();
  Generator generator(44);
  for (const Case& c : cases) {
    for (const DType dtype : {DType::float32, DType::float64}) {
      for (const Activation activation : {Activation::linear, Activation::relu, Activation::sigmoid}) {
        INFO(c.label, ", ", dtype_name(dtype), ", ", activation_name(activation));
        Tensor x_values = random_normal(c.x, generator, 0, 1, dtype),
               b_values = random_normal({c.k[3]}, generator, 0, 1, dtype);
        if (c.special_bias) {
          const double inf = std::numeric_limits<double>::infinity();
          b_values = Tensor(std::vector<double>{std::nan(""), -0.0, inf, -inf}, {4}, dtype);
          x_values = concat({zeros({1, c.x[1], c.x[2], c.x[3]}, dtype), slice(x_values, {Slice{1, 2}})}, 0);
        }
        const Variable x(x_values), k(random_normal(c.k, generator, 0, 0.5, dtype)), b(b_values);
        // Also without the input's gradient (a first layer's case; dx is then left undefined).
        const auto run = [&](bool fused, bool input_gradient) {
          GradientTape tape;
          const Tensor y = fused ? conv2d_bias_activation(x.read(), k.read(), b.read(), activation, c.options)
                                 : apply_activation(conv2d(x.read(), k.read(), c.options) + b.read(), activation);
          const Tensor weights = cos(reshape(arange(0, static_cast<double>(y.numel()), 1, dtype), y.shape()));
          const Tensor target = sum(y * weights);
          std::vector<Tensor> grads = input_gradient ? tape.gradient(target, {x, k, b}) : tape.gradient(target, {k, b});
          if (!input_gradient) grads.insert(grads.begin(), Tensor{});
          grads.insert(grads.begin(), y);
          return grads;
        };
        const std::vector<Tensor> unfused = run(false, true);
        std::vector<double> db_on_one_thread;
        for (const std::pair<int, bool>& threads_and_dx :
             {std::pair{1, true}, {2, true}, {3, true}, {1, false}, {2, false}, {3, false}}) {
          // NOTE: plain variables, not a structured binding: clang 16 cannot capture one (INFO does).
          const int t = threads_and_dx.first;
          const bool input_gradient = threads_and_dx.second;
          set_num_threads(t);
          const std::vector<Tensor> fused = run(true, input_gradient);
          for (size_t i = 0; i < fused.size(); ++i) {
            if (i == 1 && !input_gradient) continue;
            const std::string name = i == 0 ? "y" : i == 1 ? "dx" : i == 2 ? "dk" : "db";
            INFO(t, " threads, ", name, input_gradient ? ", with dx" : ", without dx");
            CHECK(fused[i].shape() == unfused[i].shape());
            if (i < 3) {
              CHECK(testing::same_bits(fused[i].to_vector(), unfused[i].to_vector()));
              continue;
            }
            // The bias's gradient adds image by image (kernels::activation_backward_with_bias), where sum
            // adds every pixel in one chain: the same sum in double in another order, rounded to float or double.
            const std::vector<double> db = fused[i].to_vector(), expected = unfused[i].to_vector();
            for (size_t j = 0; j < db.size(); ++j) {
              INFO("channel ", j, ": ", db[j], " against ", expected[j]);
              if (std::isnan(expected[j])) {
                CHECK(std::isnan(db[j]));
              } else {
                CHECK(db[j] == doctest::Approx(expected[j]).epsilon(dtype == DType::float32 ? 1e-6 : 1e-13));
              }
            }
            if (db_on_one_thread.empty()) db_on_one_thread = db;
            CHECK(testing::same_bits(db, db_on_one_thread));
          }
        }
        set_num_threads(threads);
      }
    }
  }
}

// ---- Pooling (autograd/ops/pool.cpp) ----

TEST_CASE("forward: max_pool2d and avg_pool2d on the book's values") {
  Pool2DOptions stride1;
  stride1.strides = 1;
  SUBCASE("arange(9) as 1x3x3x1, 2x2 windows, stride 1: max [[4, 5], [7, 8]], avg [[2, 3], [5, 6]]") {
    const Tensor x = reshape(arange(9), {1, 3, 3, 1});
    const Tensor hi = max_pool2d(x, stride1), mean = avg_pool2d(x, stride1);
    CHECK(hi.shape() == Shape{1, 2, 2, 1});
    CHECK(mean.shape() == Shape{1, 2, 2, 1});
    CHECK(hi.to_vector() == std::vector<double>{4, 5, 7, 8});
    CHECK(mean.to_vector() == std::vector<double>{2, 3, 5, 6});
  }
  SUBCASE("arange(16) as 1x4x4x1: a 3x3 window with its default stride 3 gives [[10]]") {
    const Tensor x = reshape(arange(16), {1, 4, 4, 1});
    Pool2DOptions options;
    options.pool_size = {3, 3};
    const Tensor y = max_pool2d(x, options);
    CHECK(y.shape() == Shape{1, 1, 1, 1});
    CHECK(y.item() == 10);
  }
  SUBCASE("arange(16), 3x3 windows, padding 1, stride 2: max [[5, 7], [13, 15]]") {
    const Tensor x = reshape(arange(16), {1, 4, 4, 1});
    Pool2DOptions options;
    options.pool_size = {3, 3};
    options.strides = 2;
    options.padding = Padding::uniform(1);
    const Tensor y = max_pool2d(x, options);
    CHECK(y.shape() == Shape{1, 2, 2, 1});
    CHECK(y.to_vector() == std::vector<double>{5, 7, 13, 15});
  }
  SUBCASE("padding of max_pool2d never wins, even over negative pixels") {
    const Tensor x = reshape(arange(16), {1, 4, 4, 1}) - 100.0;
    Pool2DOptions options;
    options.pool_size = {3, 3};
    options.strides = 2;
    options.padding = Padding::uniform(1);
    CHECK(max_pool2d(x, options).to_vector() == std::vector<double>{-95, -93, -87, -85});
  }
  SUBCASE("avg_pool2d with padding divides by the pixels inside the input, not the window") {
    const Tensor x = reshape(arange(16, DType::float64), {1, 4, 4, 1});
    Pool2DOptions options;
    options.pool_size = {3, 3};
    options.strides = 2;
    options.padding = Padding::uniform(1);
    const Tensor y = avg_pool2d(x, options);
    CHECK(y.shape() == Shape{1, 2, 2, 1});
    // The top-left window covers rows -1..1, columns -1..1: inside are 0, 1, 4, 5, so (0+1+4+5)/4, not /9.
    CHECK(y.at({0, 0, 0, 0}) == (0 + 1 + 4 + 5) / 4.0);
    // Top-right: rows 0..1, columns 1..3; bottom-left: rows 1..3, columns 0..1; bottom-right: all 9 inside.
    CHECK(y.at({0, 0, 1, 0}) == doctest::Approx((1 + 2 + 3 + 5 + 6 + 7) / 6.0).epsilon(1e-15));
    CHECK(y.at({0, 1, 0, 0}) == doctest::Approx((4 + 5 + 8 + 9 + 12 + 13) / 6.0).epsilon(1e-15));
    CHECK(y.at({0, 1, 1, 0}) == doctest::Approx((5 + 6 + 7 + 9 + 10 + 11 + 13 + 14 + 15) / 9.0).epsilon(1e-15));
  }
  SUBCASE("avg_pool2d with count_include_pad divides by the whole window, as PyTorch's default") {
    // torch.nn.functional.avg_pool2d(torch.arange(16.).view(1, 1, 4, 4), 3, stride=2, padding=1)
    // (count_include_pad=True): [[10/9, 24/9], [51/9, 90/9]] = [[1.1111, 2.6667], [5.6667, 10.0000]].
    const Tensor x = reshape(arange(16, DType::float64), {1, 4, 4, 1});
    const Tensor y = avg_pool2d(x, {.pool_size = 3, .strides = 2, .padding = 1, .count_include_pad = true});
    CHECK(y.shape() == Shape{1, 2, 2, 1});
    CHECK(y.at({0, 0, 0, 0}) == doctest::Approx(10 / 9.0).epsilon(1e-15));
    CHECK(y.at({0, 0, 1, 0}) == doctest::Approx(24 / 9.0).epsilon(1e-15));
    CHECK(y.at({0, 1, 0, 0}) == doctest::Approx(51 / 9.0).epsilon(1e-15));
    CHECK(y.at({0, 1, 1, 0}) == doctest::Approx(10.0).epsilon(1e-15));
    // Its gradient: each window gives 1/9 to each of its pixels inside the input. Pixel (1, 1) lies in
    // all four windows (4/9); pixel (0, 0) in the first only (1/9).
    GradientTape tape;
    tape.watch(x);
    const Tensor dx =
        tape.gradient(sum(avg_pool2d(x, {.pool_size = 3, .strides = 2, .padding = 1, .count_include_pad = true})), x);
    CHECK(dx.at({0, 0, 0, 0}) == doctest::Approx(1 / 9.0).epsilon(1e-15));
    CHECK(dx.at({0, 1, 1, 0}) == doctest::Approx(4 / 9.0).epsilon(1e-15));
    CHECK(dx.at({0, 3, 3, 0}) == doctest::Approx(1 / 9.0).epsilon(1e-15));
  }
  SUBCASE("channels and batch pool independently") {
    // Two images, two channels: channel 1 is channel 0 negated; image 1 is image 0 plus 100.
    std::vector<double> values;
    for (int n = 0; n < 2; ++n)
      for (int p = 0; p < 9; ++p) {
        values.push_back(p + 100.0 * n);
        values.push_back(-(p + 100.0 * n));
      }
    const Tensor x(values, Shape{2, 3, 3, 2}, DType::float64);
    const Tensor y = max_pool2d(x, stride1);
    CHECK(y.shape() == Shape{2, 2, 2, 2});
    CHECK(y.to_vector() == std::vector<double>{4, 0, 5, -1, 7, -3, 8, -4, 104, -100, 105, -101, 107, -103, 108, -104});
  }
}

TEST_CASE("batch normalization: the batch's statistics in training, given ones in inference") {
  // Channel 0: 1, 3, 5 (mean 3, biased variance 8/3); channel 1: 2, 6, 10 (mean 6, variance 32/3).
  const Tensor x({1, 2, 3, 6, 5, 10}, {3, 2}, DType::float64);
  const Tensor gamma({2, 0.5}, {2}, DType::float64), beta({1, -1}, {2}, DType::float64);
  const BatchNormTrainingResult result = batch_norm_training(x, gamma, beta);
  const double r0 = 1 / std::sqrt(8.0 / 3 + 1e-3), r1 = 1 / std::sqrt(32.0 / 3 + 1e-3);
  const std::vector<double> expected{-2 * r0 * 2 + 1, -4 * r1 * 0.5 - 1, 1, -1, 2 * r0 * 2 + 1, 4 * r1 * 0.5 - 1};
  const std::vector<double> y = result.output.to_vector();
  for (size_t i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(expected[i]).epsilon(1e-14));
  CHECK(result.mean.to_vector() == std::vector<double>{3, 6});
  CHECK(result.variance.to_vector()[0] == doctest::Approx(8.0 / 3).epsilon(1e-15));
  CHECK(result.variance.to_vector()[1] == doctest::Approx(32.0 / 3).epsilon(1e-15));
  // With the batch's own statistics, inference gives the same numbers.
  const std::vector<double> same = batch_norm(x, result.mean, result.variance, gamma, beta).to_vector();
  for (size_t i = 0; i < y.size(); ++i) CHECK(same[i] == doctest::Approx(y[i]).epsilon(1e-14));
  // A constant channel: variance 0, so y = beta.
  const Tensor flat = batch_norm_training(full({4, 1}, 7.0), ones({1}), zeros({1}), 1e-5).output;
  CHECK(flat.to_vector() == std::vector<double>{0, 0, 0, 0});
}

TEST_CASE("reshape: one -1 is inferred from the element count, as NumPy") {
  const Tensor x = arange(24);
  CHECK(reshape(x, {-1, 6}).shape() == Shape{4, 6});
  CHECK(reshape(x, {2, -1, 3}).shape() == Shape{2, 4, 3});
  CHECK(reshape(x, {-1}).shape() == Shape{24});
  CHECK(reshape(x, {-1, 6}).to_vector() == x.to_vector());
  const std::vector<int64_t> dims{3, -1};
  CHECK(reshape(x, dims).shape() == Shape{3, 8});
  CHECK(reshape(zeros({0, 5}), {-1, 5}).shape() == Shape{0, 5});
  // The gradient flows back through an inferred reshape.
  const Tensor w = ones({2, 3, 4}, DType::float64);
  GradientTape tape;
  tape.watch(w);
  const Tensor g = tape.gradient(sum(reshape(w, {-1, 4}) * arange(4, DType::float64)), w);
  CHECK(g.shape() == Shape{2, 3, 4});
  CHECK(g.at({1, 2, 3}) == 3);
}

TEST_CASE("reductions and equal on int64: counting, as NumPy") {
  const Tensor logits({0.1, 0.9, 0.8, 0.2, 0.3, 0.7, 0.6, 0.4}, {4, 2});
  const Tensor labels({1, 0, 0, 0}, DType::int64);
  SUBCASE("sum(equal(argmax(logits), labels)) counts the correct predictions, in int64") {
    const Tensor correct = sum(equal(argmax(logits), labels));
    CHECK(correct.dtype() == DType::int64);
    CHECK(correct.shape() == Shape{});
    CHECK(correct.item() == 3);
  }
  SUBCASE("int64 sums are exact, over axes too") {
    const int64_t big = (int64_t{1} << 60) + 1;
    const Tensor t(std::vector<int64_t>{big, 1, -3, 2}, {2, 2});
    CHECK(sum(t).data<int64_t>()[0] == big);  // big + 1 - 3 + 2: a float64 sum would round it to 2^60
    CHECK(sum(t, 0).data<int64_t>()[0] == big - 3);
    CHECK(sum(t, 1, true).shape() == Shape{2, 1});
    CHECK(reduce_sum(t, {0, 1}).data<int64_t>()[0] == big);
  }
  SUBCASE("mean of int64 is float64, as NumPy") {
    const Tensor t({1, 2, 3, 4}, {2, 2}, DType::int64);
    CHECK(mean(t).dtype() == DType::float64);
    CHECK(mean(t).item() == 2.5);
    CHECK(mean(t, 0).to_vector() == std::vector<double>{2, 3});
    CHECK(reduce_mean(t, {1}).to_vector() == std::vector<double>{1.5, 3.5});
    CHECK(mean(equal(argmax(logits), labels)).item() == 0.75);  // accuracy
  }
  SUBCASE("reduce_max of int64 is int64") {
    const Tensor t(std::vector<int64_t>{-5, 7, 3, -1}, {2, 2});
    CHECK(reduce_max(t).dtype() == DType::int64);
    CHECK(reduce_max(t).item() == 7);
    CHECK(reduce_max(t, {0}).to_vector() == std::vector<double>{3, 7});
  }
  SUBCASE("not differentiable: under a tape the int64 results are constants, and the tape goes on") {
    const Tensor w = ones({4, 2}, DType::float64);
    GradientTape tape;
    tape.watch(w);
    const Tensor count = sum(equal(argmax(w * logits.to(DType::float64)), labels));
    const Tensor loss = sum(w) * count.to(DType::float64);
    CHECK(tape.gradient(loss, w).to_vector() == std::vector<double>(8, 3.0));
  }
}
