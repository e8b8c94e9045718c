// The chapter's exercises, worked: diagonal edges, kernels designed by hand, and cross-correlation
// written as a matrix multiplication (same output and same gradients as corr2d).

#include <tapegrad/tapegrad.hpp>
#include "common/check.hpp"

#include <fmt/core.h>

#include <cmath>
#include <vector>

using namespace tapegrad;
using examples::check;

namespace {

// A square image: ones on and below the diagonal, zeros above, so every row has one edge.
Tensor diagonal_image(int64_t n) {
  std::vector<double> values;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) values.push_back(j <= i ? 1.0 : 0.0);
  return Tensor(values, {n, n});
}

// A tensor whose (i, j) element is f(i, j).
template <typename F>
Tensor from_function(int64_t rows, int64_t cols, F f) {
  std::vector<double> values;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) values.push_back(f(i, j));
  return Tensor(values, {rows, cols});
}

// 1 where j - i == offset, else 0 (a diagonal of a rows x cols matrix), times `value`.
Tensor diagonal(int64_t rows, int64_t cols, int64_t offset, double value) {
  return from_function(rows, cols, [&](int64_t i, int64_t j) { return j - i == offset ? value : 0.0; });
}

void exercise_diagonal_edges() {
  fmt::print("== 1. An image with a diagonal edge ==\n");
  const Tensor X = diagonal_image(6);
  const Tensor K({1, -1}, {1, 2});
  fmt::print("X =\n{}\n", X);
  const Tensor along_rows = corr2d(X, K);
  fmt::print("corr2d(X, K) marks the edge on the diagonal with 1:\n{}\n", along_rows);
  examples::check_equal(along_rows, diagonal(6, 5, 0, 1), "corr2d(X, K)");
  const Tensor transposed_image = corr2d(transpose(X), K);
  fmt::print("corr2d(X^T, K): X^T's edge runs the other way, found below the diagonal with -1:\n{}\n",
             transposed_image);
  examples::check_equal(transposed_image, diagonal(6, 5, -1, -1), "corr2d(X^T, K)");
  const Tensor transposed_kernel = corr2d(X, transpose(K));
  fmt::print("corr2d(X, K^T) looks down columns, finding the edge above the diagonal with -1:\n{}\n\n",
             transposed_kernel);
  examples::check_equal(transposed_kernel, diagonal(5, 6, 1, -1), "corr2d(X, K^T)");
}

void exercise_designed_kernels() {
  fmt::print("== 2. Kernels designed by hand ==\n");
  // An edge detector for one direction: [[1, 0], [0, -1]] compares pixels one step apart along the
  // main diagonal, so it answers edges that cross that direction (anti-diagonal edges) and is
  // blind to edges that run along it.
  const Tensor diagonal_kernel({1, 0, 0, -1}, {2, 2});
  const Tensor anti_diagonal_image = from_function(5, 5, [](int64_t i, int64_t j) { return i + j < 5 ? 1.0 : 0.0; });
  const Tensor found = corr2d(anti_diagonal_image, diagonal_kernel);
  fmt::print("the detector [[1, 0], [0, -1]] on an anti-diagonal edge:\n{}\n", found);
  examples::check_equal(found,
                        from_function(4, 4, [](int64_t i, int64_t j) { return i + j >= 3 && i + j <= 4 ? 1.0 : 0.0; }),
                        "the detector's response to the anti-diagonal edge");
  const Tensor blind = corr2d(diagonal_image(5), diagonal_kernel);
  fmt::print("and on the main-diagonal edge, which runs along its direction, nothing:\n{}\n", blind);
  examples::check_equal(blind, zeros({4, 4}), "the detector's response to the main-diagonal edge");

  // Second derivative along rows: [1, -2, 1] turns j^2 into the constant 2.
  const Tensor parabola = from_function(3, 8, [](int64_t, int64_t j) { return static_cast<double>(j * j); });
  const Tensor second = corr2d(parabola, Tensor({1, -2, 1}, {1, 3}));
  fmt::print("[1, -2, 1] on rows of j^2 gives the second derivative 2:\n{}\n", second);
  examples::check_equal(second, full({3, 6}, 2), "the second derivative of j^2");

  // Blur (an integral over a neighbourhood): a 3x3 box of ones, divided by 9, averages each
  // neighbourhood; on the ramp i + j that average is the centre's value.
  const Tensor ramp =
      from_function(5, 5, [](int64_t i, int64_t j) { return static_cast<double>(i + j); }).to(DType::float64);
  const Tensor blurred = corr2d(ramp, ones({3, 3}, DType::float64)) / 9.0;
  fmt::print("the 3x3 box blur on the ramp i + j averages each neighbourhood (the centre's value):\n{}\n", blurred);
  const Tensor centres = from_function(3, 3, [](int64_t i, int64_t j) { return static_cast<double>(i + j + 2); });
  check(std::abs(reduce_max(abs(blurred - centres.to(DType::float64))).item()) < 1e-12, "the blur of the ramp is {}",
        blurred);

  // The smallest kernel for a derivative of order d has d + 1 taps: binomial coefficients with
  // alternating signs. Order 3 on j^3 gives the constant 3! = 6.
  const Tensor cubic = from_function(2, 7, [](int64_t, int64_t j) { return static_cast<double>(j * j * j); });
  const Tensor third = corr2d(cubic, Tensor({-1, 3, -3, 1}, {1, 4}));
  fmt::print("[-1, 3, -3, 1] (order 3, 4 taps) on rows of j^3 gives 3! = 6:\n{}\n\n", third);
  examples::check_equal(third, full({2, 4}, 6), "the third derivative of j^3");
}

// The image unrolled into columns (im2col): row (i, j) holds the h*w pixels the kernel sees at
// (i, j). Built from slices and concat, so the tape differentiates it like any other op.
Tensor unroll(const Tensor& X, int64_t h, int64_t w) {
  const int64_t out_h = X.shape()[0] - h + 1, out_w = X.shape()[1] - w + 1;
  std::vector<Tensor> columns;
  for (int64_t a = 0; a < h; ++a)
    for (int64_t b = 0; b < w; ++b) {
      columns.push_back(reshape(slice(X, {{a, a + out_h}, {b, b + out_w}}), {out_h * out_w, 1}));
    }
  return concat(columns, 1);
}

void exercise_as_matmul() {
  fmt::print("== 4. Cross-correlation as a matrix multiplication ==\n");
  Generator generator(4);
  const Tensor X = random_normal({5, 6}, generator, 0, 1, DType::float64);
  const Tensor K = random_normal({2, 3}, generator, 0, 1, DType::float64);
  GradientTape tape({.persistent = true});
  tape.watch(X, "X");
  tape.watch(K, "K");
  const Tensor direct = corr2d(X, K);
  const Tensor columns = unroll(X, 2, 3);
  const Tensor as_matmul = reshape(matmul(columns, reshape(K, {6, 1})), {4, 4});
  fmt::print("the unrolled image is {} (one row per output pixel); times K as a 6x1 column:\n{}\n", columns.shape(),
             as_matmul);
  const double output_gap = reduce_max(abs(direct - as_matmul)).item();
  const Tensor loss_direct = sum(square(direct)), loss_matmul = sum(square(as_matmul));
  const auto grads_direct = tape.gradient(loss_direct, {X, K});
  const auto grads_matmul = tape.gradient(loss_matmul, {X, K});
  const double gap_x = reduce_max(abs(grads_direct[0] - grads_matmul[0])).item();
  const double gap_k = reduce_max(abs(grads_direct[1] - grads_matmul[1])).item();
  fmt::print("largest differences from corr2d: output {:.1e}, d/dX {:.1e}, d/dK {:.1e}\n", output_gap, gap_x, gap_k);
  check(output_gap < 1e-12 && gap_x < 1e-12 && gap_k < 1e-12, "the matmul form differs from corr2d");
}

}  // namespace

int main() {
  try {
    exercise_diagonal_edges();
    exercise_designed_kernels();
    fmt::print("== 3. Autodiff meets the hand-written layer: see examples/custom_layer ==\n\n");
    exercise_as_matmul();
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "exercises: {}\n", e.what());
    return 1;
  }
}
