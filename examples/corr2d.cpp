// The chapter's first computation: the 2-D cross-correlation of a 3x3 input with a 2x2 kernel.
// Each output element is the sum of a 2x2 window of X times K, e.g. 0*0 + 1*1 + 3*2 + 4*3 = 19.

#include <tapegrad/tapegrad.hpp>
#include "common/check.hpp"

#include <fmt/format.h>

#include <exception>

using namespace tapegrad;

int main() {
  try {
    const Tensor X({0, 1, 2, 3, 4, 5, 6, 7, 8}, {3, 3});
    const Tensor K({0, 1, 2, 3}, {2, 2});
    const Tensor Y = corr2d(X, K);
    fmt::print("X = {}\nK = {}\ncorr2d(X, K) = {}\n", X, K, Y);

    examples::check_equal(Y, Tensor({19, 25, 37, 43}, {2, 2}), "corr2d(X, K)");
  } catch (const std::exception& e) {
    fmt::print(stderr, "corr2d: {}\n", e.what());
    return 1;
  }
}
