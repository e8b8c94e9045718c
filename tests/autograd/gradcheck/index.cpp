// The joining and indexing ops of autograd/ops/index.cpp: concat (and stack), gather, scatter_add.

#include "tests/autograd/gradcheck/registry.hpp"

#include <tapegrad/tapegrad.hpp>

namespace tapegrad::testing {

void add_index_cases(Registry& r) {
  // Joining and indexing.
  r.add("concat", "3x4 and 3x2 on axis 1", {{{3, 4}}, {{3, 2}}}, [](const Inputs& x) {
    return concat({x[0], x[1]}, 1);
  });
  r.add("concat", "three along axis 0", {{{1, 3}}, {{2, 3}}, {{3, 3}}}, [](const Inputs& x) {
    return concat({x[0], x[1], x[2]}, 0);
  });
  r.add("concat", "stack of two on a new last axis", {{{2, 3}}, {{2, 3}}}, [](const Inputs& x) {
    return stack({x[0], x[1]}, -1);
  });
  const Tensor indices = Tensor({2, 0, 2, 1}, {2, 2}, DType::int64);
  r.add("gather", "axis 1 of 3x4x2 by 2x2 indices (repeats)", {{{3, 4, 2}}},
        [indices](const Inputs& x) { return gather(x[0], indices, 1); });
  r.add("gather", "rows of 5x3", {{{5, 3}}}, [](const Inputs& x) {
    return gather(x[0], Tensor({4, 0, 4}, {3}, DType::int64), 0);
  });
  r.add("scatter_add", "into axis 1 of 3x4x2", {{{3, 2, 2, 2}}}, [indices](const Inputs& x) {
    return scatter_add(x[0], indices, 1, {3, 4, 2});
  });
}

}  // namespace tapegrad::testing
