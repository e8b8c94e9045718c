// What the tape records and what the backward sweep does, printed so a learner can check every
// number by hand: first y = (x*w + b)^2, then one step of the chapter's kernel-learning loop.
//
//   explain_tape [--dot FILE]   also writes the first tape as Graphviz DOT; render it with
//                               dot -Tsvg FILE -o tape.svg

#include <tapegrad/tapegrad.hpp>
#include "common/args.hpp"
#include "common/check.hpp"

#include <fmt/core.h>

#include <cmath>
#include <cstdio>
#include <fstream>

using namespace tapegrad;
using examples::check;

namespace {

void print_line(const std::string& line) { fmt::print("{}\n", line); }

// y = (x*w + b)^2 at x = 2, w = 3, b = 1: y = 49, dy/dx = 2(xw+b)w = 42, dy/dw = 2(xw+b)x = 28, dy/db = 14.
std::string explain_affine_square() {
  fmt::print("== y = (x*w + b)^2 at x = 2, w = 3, b = 1 ==\n\n");
  const Tensor x = Tensor::scalar(2, DType::float64), w = Tensor::scalar(3, DType::float64);
  const Tensor b = Tensor::scalar(1, DType::float64);
  GradientTape tape;
  tape.watch(x, "x");
  tape.watch(w, "w");
  tape.watch(b, "b");
  const Tensor y = square(x * w + b);
  fmt::print("The forward pass, as the tape recorded it:\n{}\n\n", to_string(tape, {.values = true}));

  fmt::print("The backward sweep, entries in reverse order, starting from dy/dy = 1:\n");
  GradientOptions options;
  options.trace = print_line;
  const auto grads = tape.gradient(y, {x, w, b}, options);
  fmt::print("\ndy/dx = {}, dy/dw = {}, dy/db = {}\n\n", grads[0], grads[1], grads[2]);
  check(y.item() == 49 && grads[0].item() == 42 && grads[1].item() == 28 && grads[2].item() == 14,
        "y = {}, dy/dx = {}, dy/dw = {}, dy/db = {}; expected 49, 42, 28, 14", y, grads[0], grads[1], grads[2]);
  return to_dot(tape);
}

// One step of examples/learn_kernel: the tape of corr2d, |Y_hat - Y|^2, and the kernel's gradient,
// checked against the gradient written out by hand: dl/dK[0][b] = sum_ij 2 (Y_hat - Y)[i][j] X[i][j+b].
void explain_kernel_step() {
  fmt::print("== One step of the kernel-learning loop, kernel K = [[0.5, -0.25]] ==\n\n");
  const Tensor X = ones({6, 8}, DType::float64).with({all, {2, 6}}, 0);
  const Tensor Y = corr2d(X, Tensor({1, -1}, {1, 2}, DType::float64));
  Variable K(Tensor({0.5, -0.25}, {1, 2}, DType::float64), "K");

  GradientTape tape({.watch_accessed_variables = false});
  tape.watch(K);
  const Tensor Y_hat = corr2d(X, K);
  const Tensor l = pow(abs(Y_hat - Y), 2);
  fmt::print("The forward pass:\n{}\n\n", tape);
  fmt::print("The backward sweep (the target l is 6x7, so the sweep starts from ones: the gradient of sum(l)):\n");
  GradientOptions options;
  options.trace = print_line;
  const Tensor grad = tape.gradient(l, K, options);
  fmt::print("\ndl/dK = {}\n", grad);

  const auto x = X.to_vector(), y = Y.to_vector(), k = K.value().to_vector();
  double by_hand[2] = {0, 0};
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 7; ++j) {
      const double diff = x[i * 8 + j] * k[0] + x[i * 8 + j + 1] * k[1] - y[i * 7 + j];
      for (int b = 0; b < 2; ++b) by_hand[b] += 2 * diff * x[i * 8 + j + b];
    }
  fmt::print("by hand: [[{}, {}]]\n", by_hand[0], by_hand[1]);
  check(std::abs(grad.at({0, 0}) - by_hand[0]) < 1e-12 && std::abs(grad.at({0, 1}) - by_hand[1]) < 1e-12,
        "the tape's gradient {} differs from the one by hand [[{}, {}]]", grad, by_hand[0], by_hand[1]);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string dot_path;
    examples::Args args(argc, argv);
    while (args.more()) {
      const std::string_view flag = args.flag();
      if (flag == "--dot") dot_path = std::string(args.value());
      else throw examples::UsageError(fmt::format("unknown flag {}", flag));
    }
    const std::string dot = explain_affine_square();
    explain_kernel_step();
    if (!dot_path.empty()) {
      std::ofstream(dot_path) << dot;
      fmt::print("\nwrote {}; render it with: dot -Tsvg {} -o tape.svg\n", dot_path, dot_path);
    }
    return 0;
  } catch (const examples::UsageError& e) {
    fmt::print(stderr, "explain_tape: {}\nusage: explain_tape [--dot FILE]\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "explain_tape: {}\n", e.what());
    return 1;
  }
}
