#pragma once

#include <tapegrad/autograd/tensor.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tapegrad {

/// Tolerances and step of `gradcheck`.
struct GradcheckOptions {
  double epsilon = 1e-6;  ///< central-difference step
  double atol = 1e-6;     ///< absolute tolerance
  double rtol = 1e-5;     ///< relative tolerance (of the numeric value)
  uint64_t seed = 7;      ///< seed of the random output gradient the check projects onto
};

/// The outcome of `gradcheck`: pass or fail, and its worst element.
struct GradcheckResult {
  bool passed = true;     ///< every element within atol + rtol * |numeric|
  int input = -1;         ///< which input holds the worst element
  int64_t position = -1;  ///< its flat row-major position
  double analytic = 0.0;  ///< the tape's value there
  double numeric = 0.0;   ///< the central difference there
  double error = 0.0;     ///< |analytic - numeric|
  /// One line, e.g. "passed: worst at input 1 [3]: analytic 0.5, numeric 0.5000001, error 1e-07", or
  /// "no elements to check" when the inputs are empty.
  std::string summary() const;
};

/// Compares the tape's gradients of `function` at `inputs` with central finite differences in
/// float64 (inputs are converted). A random output gradient r makes the check cover every output:
/// it differentiates sum(function(inputs) * r).
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& function,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

}  // namespace tapegrad
