// The chapter's summary, point five: a deeper stack of convolutions sees a wider region of the
// input. The gradient of one output pixel with respect to the input is non-zero exactly on the
// pixels that pixel sees: 3x3 through one 3x3 layer, 5x5 through two, 7x7 through three.

#include <tapegrad/tapegrad.hpp>
#include "common/check.hpp"

#include <fmt/core.h>

#include <cstdint>
#include <string>

using namespace tapegrad;
using examples::check;

int main() {
  try {
    constexpr int64_t kSize = 11, kCentre = 5;
    Generator generator(7);
    for (int depth = 1; depth <= 3; ++depth) {
      // Positive weights, so no sum of paths cancels to an accidental zero.
      std::vector<Tensor> kernels;
      for (int layer = 0; layer < depth; ++layer) kernels.push_back(random_uniform({3, 3, 1, 1}, generator, 0.1, 1.0));

      const Tensor image = random_uniform({1, kSize, kSize, 1}, generator, 0.1, 1.0);
      GradientTape tape;
      tape.watch(image);
      Tensor feature = image;
      for (const Tensor& kernel : kernels) feature = conv2d(feature, kernel, {.padding = Padding::same()});
      const Tensor pixel = slice(feature, {{0, 1}, {kCentre, kCentre + 1}, {kCentre, kCentre + 1}});
      const Tensor seen = reshape(tape.gradient(pixel, image), {kSize, kSize});

      fmt::print("{} layer{} of 3x3: output pixel ({}, {}) sees\n", depth, depth > 1 ? "s" : "", kCentre, kCentre);
      int64_t count = 0, top = kSize, bottom = -1, left = kSize, right = -1;
      for (int64_t i = 0; i < kSize; ++i) {
        std::string row;
        for (int64_t j = 0; j < kSize; ++j) {
          const bool on = seen.at({i, j}) != 0;
          row += on ? " #" : " .";
          if (on) {
            ++count;
            top = std::min(top, i), bottom = std::max(bottom, i), left = std::min(left, j), right = std::max(right, j);
          }
        }
        fmt::print("{}\n", row);
      }
      const int64_t width = 2 * depth + 1;
      fmt::print("a {}x{} receptive field\n\n", bottom - top + 1, right - left + 1);
      check(count == width * width && bottom - top + 1 == width && right - left + 1 == width,
            "{} layers: {} pixels seen in a {}x{} box, expected a full {}x{} square", depth, count, bottom - top + 1,
            right - left + 1, width, width);
    }
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "receptive_field: {}\n", e.what());
    return 1;
  }
}
