// A program outside tapegrad, built as users build theirs (see README, "Use tapegrad in your
// project"): a Dense layer of one unit learns y = 3x + 2 from 16 points with SGD, and the program
// checks the weights it learnt and the library's version. Exits 1 with a message when one is wrong.

#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

using namespace tapegrad;

int main() {
  if (std::strcmp(version(), TAPEGRAD_VERSION) != 0) {
    std::fprintf(stderr, "fit_line: library version %s, headers %s\n", version(), TAPEGRAD_VERSION);
    return 1;
  }
  std::vector<double> xs, ys;
  for (int i = 0; i < 16; ++i) {
    xs.push_back(-1.0 + i / 7.5);
    ys.push_back(3.0 * xs.back() + 2.0);
  }
  const Tensor x(xs, {16, 1});
  const Tensor y(ys, {16, 1});

  nn::Dense layer(1, {.seed = 7});
  optim::SGD optimizer(0.1);
  double loss = 0;
  for (int step = 0; step < 200; ++step) {
    GradientTape tape;
    const Tensor l = mean(square(layer(x) - y));
    const std::vector<Variable> variables = layer.trainable_variables();
    optimizer.apply_gradients(tape.gradient(l, variables), variables);
    loss = l.item();
  }
  const double w = layer.kernel().value().item();
  const double b = layer.bias().value().item();
  std::printf("tapegrad %s: y = %.4f x + %.4f, loss %.2e\n", version(), w, b, loss);
  if (std::abs(w - 3) > 1e-3 || std::abs(b - 2) > 1e-3 || loss > 1e-6) {
    std::fprintf(stderr, "fit_line: expected y = 3 x + 2 and a loss under 1e-6\n");
    return 1;
  }
  return 0;
}
