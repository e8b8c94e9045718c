// Writes a small data set in Fashion-MNIST's files and format (gzip IDX, 28x28 unsigned bytes,
// labels 0-9) for the lenet example's test, so that `meson test` needs no download:
//
//   make_small_fashion --out DIR [--train 2000] [--test 500] [--seed 1]
//
// The ten classes are plain shapes, each drawn at a random offset (up to 2 pixels) and brightness
// over noise: bars, a square, a ring, a plus, diagonal bands, blocks in two corners, two "legs".
// They differ in where the bright pixels are, as Fashion-MNIST's silhouettes do, so that even the
// book's sigmoid LeNet, whose average pooling blurs fine texture, learns them within a short run.

#include <tapegrad/autograd/random.hpp>
#include <tapegrad/data/fashion_mnist.hpp>
#include "examples/common/args.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <string>

using namespace tapegrad;

namespace {

constexpr const char* kUsage = R"(usage: make_small_fashion --out DIR [--train N] [--test N] [--seed S]
Writes train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and
t10k-labels-idx1-ubyte.gz into DIR (made if missing): N synthetic 28x28 images of ten classes.
  --out DIR    where to write (required)
  --train N    training images (default 2000)
  --test N     test images (default 500)
  --seed S     the random seed (default 1; the test images use S + 1)
)";

constexpr int kSide = 28;

// True where the shape of class `label` covers pixel (row, column), the shape's centre moved by
// (dr, dc) from the image's.
bool covers(int label, int row, int column, int dr, int dc) {
  const int y = row - kSide / 2 - dr, x = column - kSide / 2 - dc;
  const int r2 = x * x + y * y;
  switch (label) {
    case 0: return std::abs(y) <= 3 && std::abs(x) <= 11;                                 // horizontal bar
    case 1: return std::abs(x) <= 3 && std::abs(y) <= 11;                                 // vertical bar
    case 2: return std::abs(x) <= 7 && std::abs(y) <= 7;                                  // square
    case 3: return r2 >= 7 * 7 && r2 <= 11 * 11;                                          // ring
    case 4: return (std::abs(x) <= 2 || std::abs(y) <= 2) && r2 <= 11 * 11;               // plus
    case 5: return std::abs(x - y) <= 3 && r2 <= 12 * 12;                                 // diagonal band
    case 6: return std::abs(x + y) <= 3 && r2 <= 12 * 12;                                 // the other diagonal
    case 7: return x < 0 && y < 0 && x > -11 && y > -11;                                  // upper-left block
    case 8: return x >= 0 && y >= 0 && x < 11 && y < 11;                                  // lower-right block
    default: return (std::abs(x - 5) <= 2 || std::abs(x + 5) <= 2) && std::abs(y) <= 11;  // two legs
  }
}

// Images and their labels as the IDX files hold them.
struct ImageBytes {
  data::IdxArray images;
  data::IdxArray labels;
};

// `count` images, their classes in turn (0, 1, ..., 9, 0, ...), drawn from `seed`.
ImageBytes make_dataset(int64_t count, uint64_t seed) {
  Generator random(seed);
  ImageBytes dataset;
  dataset.images.dims = {count, kSide, kSide};
  dataset.images.bytes.resize(static_cast<size_t>(count * kSide * kSide));
  dataset.labels.dims = {count};
  dataset.labels.bytes.resize(static_cast<size_t>(count));
  for (int64_t n = 0; n < count; ++n) {
    const int label = static_cast<int>(n % 10);
    dataset.labels.bytes[static_cast<size_t>(n)] = static_cast<uint8_t>(label);
    const int dr = static_cast<int>(random.below(5)) - 2, dc = static_cast<int>(random.below(5)) - 2;
    const double brightness = 150 + 105 * random.uniform();
    uint8_t* image = dataset.images.bytes.data() + n * kSide * kSide;
    for (int row = 0; row < kSide; ++row) {
      for (int column = 0; column < kSide; ++column) {
        const double value = (covers(label, row, column, dr, dc) ? brightness : 0.0) + 60 * random.uniform();
        image[row * kSide + column] = static_cast<uint8_t>(std::clamp(value, 0.0, 255.0));
      }
    }
  }
  return dataset;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out;
  int64_t train = 2000, test = 500;
  uint64_t seed = 1;
  try {
    examples::Args args(argc, argv);
    while (args.more()) {
      const std::string_view flag = args.flag();
      if (flag == "--out") {
        out = args.value();
      } else if (flag == "--train" || flag == "--test") {
        const int64_t count = examples::parse<int64_t>(flag, args.value());
        examples::require(count >= 1 && count <= 100000, "{} must be in 1..100000, got {}", flag, count);
        (flag == "--train" ? train : test) = count;
      } else if (flag == "--seed") {
        seed = examples::parse<uint64_t>(flag, args.value());
      } else {
        examples::require(false, "unknown flag '{}'", flag);
      }
    }
    examples::require(!out.empty(), "--out DIR is required");
  } catch (const examples::UsageError& e) {
    fmt::print(stderr, "make_small_fashion: {}\n{}", e.what(), kUsage);
    return 2;
  }
  try {
    std::filesystem::create_directories(out);
    const ImageBytes train_set = make_dataset(train, seed), test_set = make_dataset(test, seed + 1);
    data::write_fashion_mnist(out, data::Split::train, train_set.images, train_set.labels, /*gzip=*/true);
    data::write_fashion_mnist(out, data::Split::test, test_set.images, test_set.labels, /*gzip=*/true);
    fmt::print("make_small_fashion: {} training and {} test images in {}\n", train, test, out);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "make_small_fashion: {}\n", e.what());
    return 1;
  }
}
