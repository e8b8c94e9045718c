// Dropout (autograd/ops/dropout.cpp): each evaluation draws the same mask from a freshly seeded
// generator, so the function is smooth and the central differences see the same mask.

#include "tests/autograd/gradcheck/registry.hpp"

#include <tapegrad/tapegrad.hpp>

namespace tapegrad::testing {

void add_dropout_cases(Registry& r) {
  for (const double rate : {0.2, 0.5, 0.9}) {
    r.add("dropout", fmt::format("4x5, rate {}", rate), {{{4, 5}}}, [rate](const Inputs& x) {
      Generator generator(7);
      return dropout(x[0], rate, generator);
    });
  }
  r.add("dropout", "its gradient through a nested tape (second order)", {{{3, 4}}}, [](const Inputs& x) {
    GradientTape inner;
    inner.watch(x[0]);
    Generator generator(3);
    return inner.gradient(sum(cos(dropout(x[0], 0.5, generator))), x[0]);
  });
}

}  // namespace tapegrad::testing
