// The softmax family of autograd/ops/loss.cpp, alone and inside softmax_cross_entropy.

#include "tests/autograd/gradcheck/registry.hpp"

#include <tapegrad/tapegrad.hpp>

namespace tapegrad::testing {

void add_loss_cases(Registry& r) {
  r.add("softmax", "3x4 over the last axis", {{{3, 4}}}, [](const Inputs& x) { return softmax(x[0]); });
  r.add("softmax", "2x3x4 over axis 1", {{{2, 3, 4}}}, [](const Inputs& x) { return softmax(x[0], 1); });
  r.add("softmax", "a 5-vector", {{{5}}}, [](const Inputs& x) { return softmax(x[0]); });
  r.add(
      "softmax", "magnitude 10", {{{2, 4}}}, [](const Inputs& x) { return softmax(x[0]); }, 10);
  r.add("log_softmax", "3x4", {{{3, 4}}}, [](const Inputs& x) { return log_softmax(x[0]); });
  r.add("log_softmax", "2x3x4 over axis 0", {{{2, 3, 4}}}, [](const Inputs& x) { return log_softmax(x[0], 0); });
  r.add(
      "log_softmax", "magnitude 1e2", {{{2, 5}}}, [](const Inputs& x) { return log_softmax(x[0]); }, 1e2);
  r.add("log_softmax", "cross-entropy with int64 labels", {{{3, 4}}}, [](const Inputs& x) {
    return softmax_cross_entropy(x[0], Tensor({1, 0, 3}, {3}, DType::int64));
  });
  r.add("log_softmax", "cross-entropy with probabilities, summed", {{{3, 4}}, {{3, 4}}},
        [](const Inputs& x) { return softmax_cross_entropy(x[0], softmax(x[1]), Reduction::sum); });
}

}  // namespace tapegrad::testing
