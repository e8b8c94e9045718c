// The chapter's summary, point four: whether a layer computes strict convolution or
// cross-correlation hardly matters. Learn the edge kernel both ways from mirrored starts: the
// losses are the same at every epoch, and the learned kernels are each other's flips.

#include <tapegrad/tapegrad.hpp>
#include "common/check.hpp"

#include <fmt/core.h>

#include <vector>

using namespace tapegrad;
using examples::check;

namespace {

// Strict convolution: the kernel flipped in both directions, then cross-correlated.
Tensor conv_strict(const Tensor& x, const Tensor& kernel) { return corr2d(x, flip(kernel, {0, 1})); }

struct Run {
  std::vector<double> losses;
  Tensor kernel;
};

template <typename Layer>
Run learn(Layer layer, const Tensor& X, const Tensor& Y, const Tensor& start, int epochs, double lr) {
  Variable kernel(start, "kernel");
  Run run;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    GradientTape tape;
    const Tensor loss = sum(square(layer(X, kernel) - Y));
    run.losses.push_back(loss.item());
    kernel.assign_sub(lr * tape.gradient(loss, kernel));
  }
  run.kernel = kernel.value();
  return run;
}

}  // namespace

int main() {
  try {
    const Tensor X = ones({6, 8}).with({all, {2, 6}}, 0);
    const Tensor Y = corr2d(X, Tensor({1, -1}, {1, 2}));
    const Tensor start({0.2, 0.5}, {1, 2});
    const Run corr = learn(corr2d, X, Y, start, 10, 0.03);
    const Run conv = learn(conv_strict, X, Y, flip(start, {0, 1}), 10, 0.03);

    fmt::print("epoch  cross-correlation  convolution\n");
    for (size_t e = 0; e < corr.losses.size(); ++e) {
      fmt::print("{:5}  {:17.6f}  {:11.6f}\n", e + 1, corr.losses[e], conv.losses[e]);
    }
    fmt::print("learned by cross-correlation: {}\nlearned by convolution:       {}\n", corr.kernel, conv.kernel);
    check(corr.losses == conv.losses, "the two loss curves differ");
    examples::check_equal(flip(conv.kernel, {0, 1}), corr.kernel, "the convolution's kernel, flipped,");
    check(std::abs(corr.kernel.at({0, 0}) - 1) < 0.1 && std::abs(corr.kernel.at({0, 1}) + 1) < 0.1,
          "cross-correlation learned {}, expected about [[1, -1]]", corr.kernel);
    fmt::print("same losses at every epoch; the kernels are each other's flips\n");
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "conv_vs_corr: {}\n", e.what());
    return 1;
  }
}
