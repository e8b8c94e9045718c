// The fast convolution kernels (im2col and gemm) against the reference loops they replace, on odd
// sizes, in float32 and float64, and bit-identical for any number of threads.

#include "autograd/conv_geometry.hpp"
#include "autograd/kernels.hpp"
#include "autograd/parallel.hpp"
#include "autograd/tapegrad.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

using namespace tapegrad;

namespace {

struct ConvCase {
  std::string label;
  Shape x, kernel;
  Conv2DOptions options;
};

const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases{
      {"1 channel, valid", {1, 7, 9, 1}, {3, 3, 1, 1}, {}},
      {"batch 3, 5 -> 7 channels", {3, 6, 5, 5}, {3, 2, 5, 7}, {}},
      {"stride 2, 'same'", {2, 9, 7, 3}, {3, 3, 3, 4}, {{2, 2}, {1, 1}, Padding::same()}},
      {"strides 3x2, dilation 2, explicit padding",
       {2, 11, 8, 2},
       {2, 3, 2, 3},
       {{3, 2}, {2, 2}, Padding::explicit_sides(1, 2, 0, 3)}},
      {"1x1 kernel (the columns are the input)", {2, 4, 5, 6}, {1, 1, 6, 3}, {}},
      {"LeNet's first layer shape, batch 5", {5, 28, 28, 1}, {5, 5, 1, 6}, {{1, 1}, {1, 1}, Padding::same()}},
      {"LeNet's second layer shape, batch 3", {3, 14, 14, 6}, {5, 5, 6, 16}, {}},
      {"many images (several column chunks)", {70, 13, 13, 4}, {3, 3, 4, 5}, {{1, 1}, {1, 1}, Padding::same()}},
  };
  return cases;
}

// Largest |a - b| relative to the largest |b|.
double relative_gap(const Tensor& a, const Tensor& b) {
  const auto va = a.to_vector(), vb = b.to_vector();
  double gap = 0, scale = 1e-30;
  for (size_t i = 0; i < va.size(); ++i) {
    gap = std::max(gap, std::abs(va[i] - vb[i]));
    scale = std::max(scale, std::abs(vb[i]));
  }
  return gap / scale;
}

struct Outputs {
  Tensor y, dx, dk;
};

Outputs run(const ConvCase& c, const Tensor& x, const Tensor& k, const Tensor& dy, bool reference) {
  const auto g = detail::geometry(c.x, c.kernel, c.options, "test");
  Outputs out{Tensor::empty(detail::output_shape(g), x.dtype()), Tensor::empty(c.x, x.dtype()),
              Tensor::empty(c.kernel, x.dtype())};
  if (reference) {
    kernels::conv2d_forward_reference(x, k, out.y, g);
    kernels::conv2d_backward_input_reference(dy, k, out.dx, g);
    kernels::conv2d_backward_filter_reference(x, dy, out.dk, g);
  } else {
    kernels::conv2d_forward(x, k, out.y, g);
    kernels::conv2d_backward_input(dy, k, out.dx, g);
    kernels::conv2d_backward_filter(x, dy, out.dk, g);
  }
  return out;
}

}  // namespace

TEST_CASE("conv2d kernels: im2col and gemm against the reference loops") {
  for (const DType dtype : {DType::float32, DType::float64}) {
    const double tolerance = dtype == DType::float32 ? 2e-5 : 1e-12;
    Generator generator(21);
    for (const ConvCase& c : conv_cases()) {
      INFO(c.label, ", ", dtype_name(dtype));
      const Tensor x = random_normal(c.x, generator, 0, 1, dtype);
      const Tensor k = random_normal(c.kernel, generator, 0, 1, dtype);
      const auto g = detail::geometry(c.x, c.kernel, c.options, "test");
      const Tensor dy = random_normal(detail::output_shape(g), generator, 0, 1, dtype);
      const Outputs fast = run(c, x, k, dy, false), reference = run(c, x, k, dy, true);
      CHECK(relative_gap(fast.y, reference.y) < tolerance);
      CHECK(relative_gap(fast.dx, reference.dx) < tolerance);
      CHECK(relative_gap(fast.dk, reference.dk) < tolerance);
    }
  }
}

TEST_CASE("conv2d kernels: the same bits with 1 thread and with 2") {
  const int threads = num_threads();
  Generator generator(22);
  for (const ConvCase& c : conv_cases()) {
    INFO(c.label);
    const Tensor x = random_normal(c.x, generator);
    const Tensor k = random_normal(c.kernel, generator);
    const auto g = detail::geometry(c.x, c.kernel, c.options, "test");
    const Tensor dy = random_normal(detail::output_shape(g), generator);
    set_num_threads(1);
    const Outputs one = run(c, x, k, dy, false);
    set_num_threads(2);
    const Outputs two = run(c, x, k, dy, false);
    CHECK(one.y.to_vector() == two.y.to_vector());
    CHECK(one.dx.to_vector() == two.dx.to_vector());
    CHECK(one.dk.to_vector() == two.dk.to_vector());
  }
  set_num_threads(threads);
}

TEST_CASE("corr2d_small: the book's plain loops against the conv2d reference") {
  const std::vector<std::pair<Shape, Shape>> cases{
      {{6, 8}, {1, 2}}, {{6, 8}, {6, 7}}, {{5, 5}, {5, 5}}, {{7, 9}, {3, 2}}, {{1, 4}, {1, 1}}};
  for (const DType dtype : {DType::float32, DType::float64}) {
    Generator generator(23);
    for (const auto& [x_shape, k_shape] : cases) {
      INFO(x_shape.str(), " with ", k_shape.str(), ", ", dtype_name(dtype));
      const Tensor x = random_normal(x_shape, generator, 0, 1, dtype);
      const Tensor k = random_normal(k_shape, generator, 0, 1, dtype);
      const Shape out{x_shape[0] - k_shape[0] + 1, x_shape[1] - k_shape[1] + 1};
      const Tensor small = Tensor::empty(out, dtype), reference = Tensor::empty(out, dtype);
      kernels::corr2d_small(x, k, small);
      const auto g = detail::geometry({1, x_shape[0], x_shape[1], 1}, {k_shape[0], k_shape[1], 1, 1}, {}, "test");
      kernels::conv2d_forward_reference(x, k, reference, g);
      // Both add each output's taps in row-major order: the same bits.
      CHECK(small.to_vector() == reference.to_vector());
    }
  }
}
