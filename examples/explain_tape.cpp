// What the tape records and what the backward sweep does, printed so a learner can check every
// number by hand: first y = (x*w + b)^2, then one step of the chapter's kernel-learning loop.
//
//   explain_tape [--dot FILE] [--html FILE]
//     --dot FILE    also writes the first tape as Graphviz DOT, with each node's value and adjoint;
//                   render it with dot -Tsvg FILE -o tape.svg
//     --html FILE   also writes the tape explorer of each example, a page to open in a browser:
//                   FILE for y = (x*w + b)^2, and FILE with "-kernel" before its extension for the
//                   kernel-learning step (tape.html and tape-kernel.html)

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

// Where the pictures go: --dot and --html.
struct Outputs {
  std::string dot;
  std::string html;
};

// FILE with `suffix` before its extension: tape.html -> tape-kernel.html.
std::string with_suffix(const std::string& path, const std::string& suffix) {
  const size_t slash = path.rfind('/');
  const size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path + suffix;
  return path.substr(0, dot) + suffix + path.substr(dot);
}

// y = (x*w + b)^2 at x = 2, w = 3, b = 1: y = 49, dy/dx = 2(xw+b)w = 42, dy/dw = 2(xw+b)x = 28, dy/db = 14.
void explain_affine_square(const Outputs& outputs) {
  fmt::print("== y = (x*w + b)^2 at x = 2, w = 3, b = 1 ==\n\n");
  const Tensor x = Tensor::scalar(2, DType::float64), w = Tensor::scalar(3, DType::float64);
  const Tensor b = Tensor::scalar(1, DType::float64);
  GradientTape tape;
  tape.watch(x, "x");
  tape.watch(w, "w");
  tape.watch(b, "b");
  const Tensor y = square(x * w + b);
  fmt::print("The forward pass, as the tape recorded it:\n{}\n\n", to_string(tape, {.values = true}));

  fmt::print("The backward sweep, entries in reverse order, starting from dy/dy = 1; after each step, the\n"
             "running total of each gradient it added to:\n");
  GradientOptions options;
  options.trace = print_line;
  const auto grads = tape.gradient(y, {x, w, b}, options);
  fmt::print("\ndy/dx = {}, dy/dw = {}, dy/db = {}\n\n", grads[0], grads[1], grads[2]);
  check(y.item() == 49 && grads[0].item() == 42 && grads[1].item() == 28 && grads[2].item() == 14,
        "y = {}, dy/dx = {}, dy/dw = {}, dy/db = {}; expected 49, 42, 28, 14", y, grads[0], grads[1], grads[2]);
  // The pictures run a sweep of their own: the tape's one gradient call is spent already.
  if (!outputs.dot.empty()) {
    std::ofstream(outputs.dot) << to_dot(tape, y, {x, w, b}, {.values = true});
    fmt::print("wrote {}; render it with: dot -Tsvg {} -o tape.svg\n\n", outputs.dot, outputs.dot);
  }
  if (!outputs.html.empty()) {
    save_html(outputs.html, tape, y, {x, w, b}, {.title = "y = (x*w + b)^2 at x = 2, w = 3, b = 1"});
    fmt::print("wrote {}: open it in a browser and step through the sweep\n\n", outputs.html);
  }
}

// y = log(x1) + x1*x2 - sin(x2) at x1 = 2, x2 = 5: x1's gradient comes in two parts, 1/x1 = 0.5 from
// log and x2 = 5 from mul, and the trace's running total shows their sum, 5.5. The tape lists the ops
// in the order the program ran them, which C++ leaves to the compiler: GCC runs sin, mul, log.
void explain_recording_order() {
  fmt::print("== y = log(x1) + x1*x2 - sin(x2) at x1 = 2, x2 = 5: the order of recording ==\n\n");
  const Tensor x1 = Tensor::scalar(2, DType::float64), x2 = Tensor::scalar(5, DType::float64);
  GradientTape tape;
  tape.watch(x1, "x1");
  tape.watch(x2, "x2");
  const Tensor y = log(x1) + x1 * x2 - sin(x2);
  fmt::print("The forward pass, in the order this compiler evaluated the arguments:\n{}\n\n", tape);
  fmt::print("The backward sweep; x1's total adds up its two parts:\n");
  GradientOptions options;
  options.trace = print_line;
  const auto grads = tape.gradient(y, {x1, x2}, options);
  fmt::print("\n");
  check(grads[0].item() == 5.5 && std::abs(grads[1].item() - (2 - std::cos(5.0))) < 1e-15,
        "dy/dx1 = {}, dy/dx2 = {}; expected 5.5 and 2 - cos(5) = {}", grads[0], grads[1], 2 - std::cos(5.0));
}

// One step of examples/learn_kernel: the tape of corr2d, |Y_hat - Y|^2, and the kernel's gradient,
// checked against the gradient written out by hand: dl/dK[0][b] = sum_ij 2 (Y_hat - Y)[i][j] X[i][j+b].
void explain_kernel_step(const Outputs& outputs) {
  fmt::print("== One step of the kernel-learning loop, kernel K = [[0.5, -0.25]] ==\n\n");
  const Tensor X = ones({6, 8}, DType::float64).with({all, {2, 6}}, 0);
  const Tensor Y = corr2d(X, Tensor({1, -1}, {1, 2}, DType::float64));
  Variable K(Tensor({0.5, -0.25}, {1, 2}, DType::float64), "K");

  GradientTape tape({.watch_accessed_variables = false});
  tape.watch(K);
  const Tensor Y_hat = corr2d(X, K);
  const Tensor l = pow(abs(Y_hat - Y), 2);
  fmt::print("The forward pass:\n{}\n\n", tape);
  fmt::print("The backward sweep (the target l is 6x7, so the sweep starts from ones: the gradient of sum(l));\n"
             "tensors of more than 12 elements print elided, as NumPy prints large arrays:\n");
  GradientOptions options;
  options.trace = print_line;
  options.trace_options.print = {.threshold = 12, .edgeitems = 2};
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
  if (!outputs.html.empty()) {
    const std::string path = with_suffix(outputs.html, "-kernel");
    save_html(path, tape, l, {K}, {.title = "One step of the kernel-learning loop: l = |corr2d(X, K) - Y|^2"});
    fmt::print("wrote {}\n", path);
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Outputs outputs;
    examples::Args args(argc, argv);
    while (args.more()) {
      const std::string_view flag = args.flag();
      if (flag == "--dot") outputs.dot = std::string(args.value());
      else if (flag == "--html") outputs.html = std::string(args.value());
      else throw examples::UsageError(fmt::format("unknown flag {}", flag));
    }
    explain_affine_square(outputs);
    explain_recording_order();
    explain_kernel_step(outputs);
    return 0;
  } catch (const examples::UsageError& e) {
    fmt::print(stderr, "explain_tape: {}\nusage: explain_tape [--dot FILE] [--html FILE]\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "explain_tape: {}\n", e.what());
    return 1;
  }
}
