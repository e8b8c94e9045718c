// The batch normalizations of autograd/ops/normalization.cpp: batch_norm_training (the batch's
// statistics; its gradient checked again through a nested tape) and batch_norm (given statistics).

#include "tests/autograd/gradcheck/registry.hpp"

#include <tapegrad/tapegrad.hpp>

namespace tapegrad::testing {

void add_normalization_cases(Registry& r) {
  const Domain positive = Domain::positive;
  const auto training = [](const Inputs& x) { return batch_norm_training(x[0], x[1], x[2]).output; };
  r.add("batch_norm_training", "4x3 (batch, features) with gamma and beta", {{{4, 3}}, {{3}}, {{3}}}, training);
  r.add("batch_norm_training", "2x3x2x4 (NHWC) with gamma and beta", {{{2, 3, 2, 4}}, {{4}}, {{4}}}, training);
  r.add("batch_norm_training", "x around 100 (the mean far from 0), epsilon 0.1", {{{5, 2}}, {{2}}, {{2}}},
        [](const Inputs& x) { return batch_norm_training(x[0] + 100.0, x[1], x[2], 0.1).output; });
  r.add("batch_norm_training", "6x2, magnitude 1e2", {{{6, 2}}, {{2}}, {{2}}}, training, 1e2);
  r.add("batch_norm_training", "its gradient w.r.t. x and gamma through a nested tape (second order)",
        {{{4, 3}}, {{3}}, {{3}}, {{4, 3}}}, [](const Inputs& x) {
          GradientTape inner;
          inner.watch(x[0]);
          inner.watch(x[1]);
          const Tensor y = batch_norm_training(x[0], x[1], x[2]).output;
          const std::vector<Tensor> g = inner.gradient(sum(sin(y) * x[3]), {x[0], x[1]});
          return concat({reshape(g[0], {12}), g[1]});
        });

  const auto inference = [](const Inputs& x) { return batch_norm(x[0], x[1], x[2], x[3], x[4]); };
  r.add("batch_norm", "4x3 with mean, variance, gamma and beta", {{{4, 3}}, {{3}}, {{3}, positive}, {{3}}, {{3}}},
        inference);
  r.add("batch_norm", "2x2x3x2 (NHWC)", {{{2, 2, 3, 2}}, {{2}}, {{2}, positive}, {{2}}, {{2}}}, inference);
  r.add("batch_norm", "its gradient w.r.t. every input through a nested tape (second order)",
        {{{3, 2}}, {{2}}, {{2}, positive}, {{2}}, {{2}}}, [](const Inputs& x) {
          GradientTape inner;
          for (const Tensor& t : x) inner.watch(t);
          const std::vector<Tensor> g =
              inner.gradient(sum(square(batch_norm(x[0], x[1], x[2], x[3], x[4]))), {x[0], x[1], x[2], x[3], x[4]});
          return concat({reshape(g[0], {6}), g[1], g[2], g[3], g[4]});
        });
}

}  // namespace tapegrad::testing
