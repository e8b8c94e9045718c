// The shape ops of autograd/ops/shape.cpp: reshape, transpose, broadcast_to, sum_to, slice, unslice,
// pad, flip.

#include "tests/autograd/gradcheck/registry.hpp"

#include <tapegrad/tapegrad.hpp>

#include <cstdint>

namespace tapegrad::testing {

void add_shape_cases(Registry& r) {
  // Shape ops.
  r.add("reshape", "2x6 to 3x4", {{{2, 6}}}, [](const Inputs& x) { return reshape(x[0], {3, 4}); });
  r.add("reshape", "2x3x4 to 24", {{{2, 3, 4}}}, [](const Inputs& x) { return reshape(x[0], {24}); });
  r.add("reshape", "1 to scalar", {{{1}}}, [](const Inputs& x) { return reshape(x[0], {}); });
  r.add("reshape", "2x3x4 to -1x6 (the -1 inferred: 4)", {{{2, 3, 4}}}, [](const Inputs& x) {
    return reshape(x[0], {-1, 6});
  });
  r.add("transpose", "3x4", {{{3, 4}}}, [](const Inputs& x) { return transpose(x[0]); });
  r.add("transpose", "2x3x4 by 2,0,1", {{{2, 3, 4}}}, [](const Inputs& x) { return transpose(x[0], {2, 0, 1}); });
  r.add("transpose", "1x5", {{{1, 5}}}, [](const Inputs& x) { return transpose(x[0]); });
  r.add("broadcast_to", "3x1 to 2x3x4", {{{3, 1}}}, [](const Inputs& x) { return broadcast_to(x[0], {2, 3, 4}); });
  r.add("broadcast_to", "scalar to 2x2", {{{}}}, [](const Inputs& x) { return broadcast_to(x[0], {2, 2}); });
  r.add("broadcast_to", "4 to 3x4", {{{4}}}, [](const Inputs& x) { return broadcast_to(x[0], {3, 4}); });
  r.add("sum_to", "2x3x4 to 3x1", {{{2, 3, 4}}}, [](const Inputs& x) { return sum_to(x[0], {3, 1}); });
  r.add("sum_to", "3x4 to scalar", {{{3, 4}}}, [](const Inputs& x) { return sum_to(x[0], {}); });
  r.add("sum_to", "3x4 to 4", {{{3, 4}}}, [](const Inputs& x) { return sum_to(x[0], {4}); });
  r.add("slice", "rows 1..3, every other column", {{{5, 6}}}, [](const Inputs& x) {
    return slice(x[0], {{1, 4}, {0, 6, 2}});
  });
  r.add("slice", "negative begin", {{{7}}}, [](const Inputs& x) { return slice(x[0], {{-3}}); });
  r.add("slice", "step 3 on the middle axis", {{{2, 7, 3}}}, [](const Inputs& x) {
    return slice(x[0], {{}, {1, INT64_MAX, 3}});
  });
  r.add("slice", "rows and cols", {{{4, 5}}}, [](const Inputs& x) { return cols(rows(x[0], 1, 3), 2, 5); });
  r.add("unslice", "2x3 into 5x6", {{{2, 3}}}, [](const Inputs& x) {
    return unslice(x[0], {5, 6}, {{1, 5, 2}, {0, 6, 2}});
  });
  r.add("unslice", "3 into 7 from the back", {{{3}}}, [](const Inputs& x) { return unslice(x[0], {7}, {{-3}}); });
  r.add("pad", "3x4, uneven", {{{3, 4}}}, [](const Inputs& x) { return pad(x[0], {1, 0}, {2, 3}); });
  r.add("pad", "2x2x2 on one axis", {{{2, 2, 2}}}, [](const Inputs& x) { return pad(x[0], {0, 0, 2}, {0, 0, 1}); });
  r.add("flip", "3x4 on axis 0", {{{3, 4}}}, [](const Inputs& x) { return flip(x[0], {0}); });
  r.add("flip", "3x4 on both axes", {{{3, 4}}}, [](const Inputs& x) { return flip(x[0], {0, 1}); });
  r.add("flip", "2x3x4 on axis -1", {{{2, 3, 4}}}, [](const Inputs& x) { return flip(x[0], {-1}); });
}

}  // namespace tapegrad::testing
