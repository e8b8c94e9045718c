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
  // tf.linalg.matmul's transpose_a and transpose_b: each gradient is a transposed product again.
  auto transposed_case = [&r](std::string label, Shape a, Shape b, MatmulOptions options) {
    r.add("matmul", std::move(label), {{a}, {b}}, [options](const Inputs& x) { return matmul(x[0], x[1], options); });
  };
  transposed_case("transpose_a: (4x3)^T @ 4x5", {4, 3}, {4, 5}, {.transpose_a = true});
  transposed_case("transpose_b: 3x4 @ (5x4)^T", {3, 4}, {5, 4}, {.transpose_b = true});
  transposed_case("both: (4x3)^T @ (5x4)^T", {4, 3}, {5, 4}, {.transpose_a = true, .transpose_b = true});
  transposed_case("transpose_a, batch broadcast: 2x1x4x3 @ 3x4x2", {2, 1, 4, 3}, {3, 4, 2}, {.transpose_a = true});
  transposed_case("both, batched: 2x4x3 @ 2x2x4", {2, 4, 3}, {2, 2, 4}, {.transpose_a = true, .transpose_b = true});
  transposed_case("vector @ transposed matrix", {4}, {3, 4}, {.transpose_b = true});
  r.add(
      "matmul", "magnitude 1e2", {{{2, 3}}, {{3, 2}}}, [](const Inputs& x) { return matmul(x[0], x[1]); }, 1e2);
  r.add(
      "matmul", "magnitude 1e-3", {{{2, 3}}, {{3, 2}}}, [](const Inputs& x) { return matmul(x[0], x[1]); }, 1e-3);
}

}  // namespace tapegrad::testing
