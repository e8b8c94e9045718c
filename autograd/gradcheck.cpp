#include <tapegrad/autograd/gradcheck.hpp>

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/random.hpp>
#include <tapegrad/autograd/tape.hpp>

#include <cmath>

namespace tapegrad {

std::string GradcheckResult::summary() const {
  if (input < 0) return "no elements to check";  // gradcheck picks a worst element whenever there is one
  return fmt::format("{}: worst at input {} [{}]: analytic {}, numeric {}, error {:.3g}", passed ? "passed" : "FAILED",
                     input, position, analytic, numeric, error);
}

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& function,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  std::vector<Tensor> x;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) fail("gradcheck: input {} of {} is an undefined tensor", i + 1, inputs.size());
    x.push_back(inputs[i].to(DType::float64));
  }

  // Analytic: the tape's gradient of sum(f(x) * r), r a fixed random projection.
  Tensor projection;
  std::vector<Tensor> analytic;
  {
    GradientTape tape;
    for (const Tensor& t : x) tape.watch(t);
    const Tensor y = function(x);
    if (!y.defined() || y.dtype() != DType::float64)
      fail("gradcheck: the function must return a float64 tensor for float64 inputs");
    Generator generator(options.seed);
    projection = random_normal(y.shape(), generator, 0.0, 1.0, DType::float64);
    GradientOptions seeded;
    seeded.output_gradients = projection;
    std::vector<Source> sources(x.begin(), x.end());
    analytic = tape.gradient(y, std::span<const Source>(sources), seeded);
  }

  auto projected = [&](const std::vector<Tensor>& at) {
    const Tensor y = function(at);
    const auto values = y.data<double>();
    const auto r = projection.data<double>();
    double total = 0.0;
    for (size_t i = 0; i < values.size(); ++i) total += values[i] * r[i];
    return total;
  };

  GradcheckResult result;
  double worst_ratio = -1.0;
  for (size_t k = 0; k < x.size(); ++k) {
    const std::vector<double> base = x[k].to_vector();
    const std::vector<double> tape_grad =
        analytic[k].defined() ? analytic[k].to_vector() : std::vector<double>(base.size(), 0.0);
    for (size_t i = 0; i < base.size(); ++i) {
      std::vector<Tensor> at = x;
      std::vector<double> shifted = base;
      shifted[i] = base[i] + options.epsilon;
      at[k] = Tensor(shifted, x[k].shape(), DType::float64);
      const double plus = projected(at);
      shifted[i] = base[i] - options.epsilon;
      at[k] = Tensor(shifted, x[k].shape(), DType::float64);
      const double minus = projected(at);
      const double numeric = (plus - minus) / (2.0 * options.epsilon);
      const double error = std::abs(tape_grad[i] - numeric);
      const double allowed = options.atol + options.rtol * std::abs(numeric);
      // An exact element is within any tolerance, atol = rtol = 0 included (0 / 0 would be NaN).
      const double ratio = std::isnan(error) ? INFINITY : error == 0.0 ? 0.0 : error / allowed;
      if (ratio > worst_ratio) {
        worst_ratio = ratio;
        result.input = static_cast<int>(k);
        result.position = static_cast<int64_t>(i);
        result.analytic = tape_grad[i];
        result.numeric = numeric;
        result.error = error;
      }
    }
  }
  result.passed = worst_ratio <= 1.0;
  return result;
}

}  // namespace tapegrad
