// Where does the first NaN come from? A learning rate 100x too large makes gradient descent on a
// line fit diverge: the weights grow each step until the sum of the squared errors overflows
// float32 to infinity (each square still finite), and from then on every number is NaN. Without
// help the loop runs on and prints "loss nan"; inside a DetectAnomaly scope (PyTorch's
// detect_anomaly, TensorFlow's enable_check_numerics) the first op whose output is not finite stops
// it, and the error names the op, its tape entry and its inputs.
//
//   build/examples/detect_anomaly            the run, checked: it exits 1 when a number is wrong

#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>
#include "common/check.hpp"

#include <fmt/format.h>

#include <cmath>
#include <string>

using namespace tapegrad;

namespace {

// 16 points on the line y = 3x + 2, x from 0 to 7.5.
struct Line {
  Tensor x = arange(0, 8, 0.5);
  Tensor y = x * 3.0 + 2.0;
};

// What a run of `steps` SGD steps at `lr` gave: the step it stopped at and the loss there.
struct Run {
  int steps = 0;
  double loss = 0;
};

// Fits y = w x + b by SGD at `lr` for `steps` steps, printing the loss every `every` steps.
Run fit(const Line& data, double lr, int steps, int every) {
  Variable w(Tensor::scalar(0.0), "w"), b(Tensor::scalar(0.0), "b");
  optim::SGD sgd(lr);
  Run run;
  for (run.steps = 1; run.steps <= steps; ++run.steps) {
    GradientTape tape;
    const Tensor loss = mean(square(data.x * w + b - data.y));
    run.loss = loss.item();
    if (run.steps % every == 0) fmt::print("  step {:3}: loss {:.4g}\n", run.steps, run.loss);
    sgd.apply_gradients(tape.gradient(loss, {w, b}), {w, b});
  }
  run.steps = steps;
  return run;
}

int run() {
  const Line data;

  fmt::print("learning rate 0.01: gradient descent converges\n");
  Run good;
  {
    DetectAnomaly anomaly;  // nothing to find: the scope stays silent
    good = fit(data, 0.01, 200, 50);
  }
  examples::check(good.loss < 0.5, "at lr 0.01 the loss should fall below 0.5, got {}", good.loss);

  fmt::print("learning rate 1 (100x too large), without anomaly detection: the loop runs on\n");
  const Run silent = fit(data, 1.0, 40, 10);
  examples::check(!std::isfinite(silent.loss), "at lr 1 the loss should end NaN or infinite, got {}", silent.loss);

  fmt::print("learning rate 1, inside DetectAnomaly: the first op that makes a non-finite number stops it\n");
  std::string message;
  try {
    DetectAnomaly anomaly;
    fit(data, 1.0, 40, 10);
  } catch (const Error& e) {
    message = e.what();
  }
  fmt::print("  tapegrad::Error: {}\n", message);
  // The tape of a step: [0] read w, [1] mul, [2] read b, [3] add, [4] sub, [5] square, [6] sum (of
  // mean), [7] div. The sixteen squares (entry [5]) are still finite; their sum overflows first.
  examples::check(message.starts_with("DetectAnomaly: the forward of 'sum' (tape entry [6]) produced inf"),
                  "the error should name sum's forward at tape entry [6] producing inf, got: {}", message);
  examples::check(message.find("its inputs: [5] 16 float32") != std::string::npos,
                  "the error should name sum's input, entry [5] (the squares) of shape 16, got: {}", message);
  fmt::print("check: lr 0.01 converges silently; lr 1 ends in {} unnoticed, and DetectAnomaly names the sum\n",
             silent.loss);
  return 0;
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const std::exception& e) {
    fmt::print(stderr, "detect_anomaly: {}\n", e.what());
    return 1;
  }
}
