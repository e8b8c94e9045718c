// The matrix product of autograd/ops/linalg.cpp.

#include "tests/autograd/gradcheck/registry.hpp"

#include <tapegrad/tapegrad.hpp>

#include <string>
#include <utility>

namespace tapegrad::testing {

void add_linalg_cases(Registry& r) {
  // Matrix products.
  auto matmul_case = [&r](std::string label, Shape a, Shape b) {
    r.add("matmul", std::move(label), {{a}, {b}}, [](const Inputs& x) { return matmul(x[0], x[1]); });
  };
  matmul_case("3x4 @ 4x5", {3, 4}, {4, 5});
  matmul_case("matrix @ vector", {3, 4}, {4});
  matmul_case("vector @ matrix", {4}, {4, 2});
  matmul_case("vector @ vector", {5}, {5});
  matmul_case("batched 2x3x4 @ 2x4x2", {2, 3, 4}, {2, 4, 2});
  matmul_case("batch broadcast 2x1x3x4 @ 3x4x5", {2, 1, 3, 4}, {3, 4, 5});
  matmul_case("batched @ matrix", {2, 3, 4}, {4, 3});
  r.add(
      "matmul", "magnitude 1e2", {{{2, 3}}, {{3, 2}}}, [](const Inputs& x) { return matmul(x[0], x[1]); }, 1e2);
  r.add(
      "matmul", "magnitude 1e-3", {{{2, 3}}, {{3, 2}}}, [](const Inputs& x) { return matmul(x[0], x[1]); }, 1e-3);
}

}  // namespace tapegrad::testing
