// The reductions of autograd/ops/reduce.cpp: sum (and mean through it), reduce_max, logsumexp.

#include "tests/autograd/gradcheck/registry.hpp"

#include <tapegrad/tapegrad.hpp>

namespace tapegrad::testing {

void add_reduce_cases(Registry& r) {
  // sum, and mean through it.
  r.add("sum", "all of 3x4", {{{3, 4}}}, [](const Inputs& x) { return sum(x[0]); });
  r.add("sum", "axis 0 of 3x4", {{{3, 4}}}, [](const Inputs& x) { return sum(x[0], 0); });
  r.add("sum", "axis -1 of 2x3x4, keepdims", {{{2, 3, 4}}}, [](const Inputs& x) { return sum(x[0], -1, true); });
  r.add("sum", "axes 0 and 2 of 2x3x4", {{{2, 3, 4}}}, [](const Inputs& x) { return sum(x[0], {0, 2}); });
  r.add("sum", "a scalar", {{{}}}, [](const Inputs& x) { return sum(x[0]); });
  r.add("sum", "mean over axis 1, keepdims", {{{3, 5}}}, [](const Inputs& x) { return mean(x[0], 1, true); });
  r.add(
      "sum", "magnitude 1e3", {{{4, 3}}}, [](const Inputs& x) { return sum(x[0], 1); }, 1e3);
  r.add(
      "sum", "magnitude 1e-3", {{{4, 3}}}, [](const Inputs& x) { return sum(x[0], 0); }, 1e-3);

  // Reductions with a maximum.
  r.add("reduce_max", "all of 3x4", {{{3, 4}}}, [](const Inputs& x) { return reduce_max(x[0]); });
  r.add("reduce_max", "axis 1 of 2x3x4", {{{2, 3, 4}}}, [](const Inputs& x) { return reduce_max(x[0], {1}); });
  r.add("reduce_max", "axes 0, 2 of 2x3x4, keepdims", {{{2, 3, 4}}}, [](const Inputs& x) {
    return reduce_max(x[0], {0, 2}, true);
  });
  r.add(
      "reduce_max", "magnitude 1e3", {{{4, 3}}}, [](const Inputs& x) { return reduce_max(x[0], {0}); }, 1e3);
  r.add("logsumexp", "all of 3x4", {{{3, 4}}}, [](const Inputs& x) { return logsumexp(x[0]); });
  r.add("logsumexp", "axis -1 of 2x3x4, keepdims", {{{2, 3, 4}}},
        [](const Inputs& x) { return logsumexp(x[0], {-1}, true); });
  r.add(
      "logsumexp", "magnitude 1e2 (no overflow)", {{{3, 4}}}, [](const Inputs& x) { return logsumexp(x[0], {1}); },
      1e2);
}

}  // namespace tapegrad::testing
