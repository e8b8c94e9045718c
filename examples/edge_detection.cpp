// The chapter's edge detector: the kernel K = [[1, -1]] answers 1 where a row of the image steps
// from white (1) to black (0), -1 where it steps back, and 0 where it is flat.

#include <tapegrad/tapegrad.hpp>
#include "common/check.hpp"

#include <fmt/format.h>

#include <exception>

using namespace tapegrad;

namespace {

// A matrix one row per line, so the edges show.
void print_matrix(const char* title, const Tensor& m) {
  fmt::print("{} ({}):\n", title, m.shape());
  for (int64_t i = 0; i < m.shape()[0]; ++i) fmt::print("  {}\n", reshape(rows(m, i, i + 1), {m.shape()[1]}));
}

}  // namespace

int main() {
  try {
    // A 6x8 image: white (1) with a black (0) band in columns 2..5.
    const Tensor X = ones({6, 8}).with({all, {2, 6}}, 0);
    const Tensor K({1, -1}, {1, 2});
    const Tensor Y = corr2d(X, K);
    print_matrix("X", X);
    fmt::print("K = {}\n", K);
    print_matrix("Y = corr2d(X, K)", Y);

    // Transposed, the edges run horizontally: K, which compares left and right neighbours, sees none.
    const Tensor Y_t = corr2d(transpose(X), K);
    fmt::print("In transpose(X) the edges are horizontal, and K only sees vertical ones:\n");
    print_matrix("corr2d(transpose(X), K)", Y_t);

    // The transposed kernel compares upper and lower neighbours: it finds the horizontal edges.
    const Tensor Y_tt = corr2d(transpose(X), transpose(K));
    fmt::print("The transposed kernel finds them: the result is transpose(Y):\n");
    print_matrix("corr2d(transpose(X), transpose(K))", Y_tt);

    const Tensor row = Tensor({0, 1, 0, 0, 0, -1, 0}, {1, 7});
    examples::check_equal(Y, broadcast_to(row, {6, 7}), "Y = corr2d(X, K)");
    examples::check_equal(Y_t, zeros({8, 5}), "corr2d(transpose(X), K)");
    examples::check_equal(Y_tt, transpose(Y), "corr2d(transpose(X), transpose(K))");
  } catch (const std::exception& e) {
    fmt::print(stderr, "edge_detection: {}\n", e.what());
    return 1;
  }
}
