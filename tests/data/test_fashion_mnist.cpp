#include <tapegrad/data/fashion_mnist.hpp>

#include <tapegrad/data/batches.hpp>
#include "helpers.hpp"

#include <doctest/doctest.h>

#include <array>

using namespace tapegrad::data;
using namespace tapegrad::data::testing;

TEST_CASE("Fashion-MNIST's file names, classes and default directory") {
  CHECK(fashion_mnist_file_name(Split::train, "images") == "train-images-idx3-ubyte");
  CHECK(fashion_mnist_file_name(Split::train, "labels") == "train-labels-idx1-ubyte");
  CHECK(fashion_mnist_file_name(Split::test, "images") == "t10k-images-idx3-ubyte");
  CHECK(fashion_mnist_file_name(Split::test, "labels") == "t10k-labels-idx1-ubyte");
  CHECK(contains(error_of([] { fashion_mnist_file_name(Split::test, "pixels"); }), "\"pixels\""));
  CHECK(split_name(Split::train) == "train");
  CHECK(split_name(Split::test) == "test");
  CHECK(default_fashion_mnist_directory() == "/usr/share/datasets/fashion-mnist");
  CHECK(class_names().size() == 10);
  CHECK(class_names()[0] == "T-shirt/top");
  CHECK(class_names()[1] == "Trouser");
  CHECK(class_names()[9] == "Ankle boot");
}

TEST_CASE("load_fashion_mnist reads a split written gzip-compressed or plain") {
  TempDir dir;
  const Dataset train = make_dataset(12);
  const Dataset test = make_dataset(5);
  for (bool gzip : {true, false}) {
    CAPTURE(gzip);
    const std::string directory = dir.file(gzip ? "gz" : "plain");
    write_fashion_mnist(directory, Split::train, train, gzip);
    write_fashion_mnist(directory, Split::test, test, gzip);
    const std::string suffix = gzip ? ".gz" : "";
    CHECK(std::filesystem::exists(directory + "/train-images-idx3-ubyte" + suffix));
    CHECK(std::filesystem::exists(directory + "/t10k-labels-idx1-ubyte" + suffix));

    const Dataset back = load_fashion_mnist(directory, Split::train);
    CHECK(back.size() == 12);
    CHECK(back.images.dims == std::vector<int64_t>{12, 28, 28});
    CHECK(back.images.bytes == train.images.bytes);
    CHECK(back.labels.bytes == train.labels.bytes);
    CHECK(load_fashion_mnist(directory, Split::test).labels.bytes == test.labels.bytes);
  }
}

TEST_CASE("load_fashion_mnist: mismatched files are errors naming them") {
  TempDir dir;
  const std::string directory = dir.path().string();
  const std::string images = dir.file("t10k-images-idx3-ubyte.gz");
  const std::string labels = dir.file("t10k-labels-idx1-ubyte.gz");
  Dataset dataset = make_dataset(4);

  SUBCASE("label out of range") {
    dataset.labels.bytes[2] = 10;
    write_fashion_mnist(directory, Split::test, dataset, true);
    CHECK(error_of([&] { load_fashion_mnist(directory, Split::test); }) ==
          labels + ": label 10 at index 2 is out of range: expected 0 to 9");
  }
  SUBCASE("count mismatch") {
    write_fashion_mnist(directory, Split::test, dataset, true);
    write_idx(labels, IdxArray{{1, 2, 3}, {3}, IdxType::u8}, true);
    CHECK(error_of([&] { load_fashion_mnist(directory, Split::test); }) ==
          images + ": 4 images, but " + labels + " has 3 labels");
  }
  SUBCASE("images not 28x28") {
    write_fashion_mnist(directory, Split::test, make_dataset(4, 28, 27), true);
    CHECK(error_of([&] { load_fashion_mnist(directory, Split::test); }) ==
          images + ": images have dims 4x28x27, expected Nx28x28");
  }
  SUBCASE("labels with two dimensions") {
    write_fashion_mnist(directory, Split::test, dataset, true);
    write_idx(labels, IdxArray{{1, 2, 3, 4}, {4, 1}, IdxType::u8}, true);
    CHECK(error_of([&] { load_fashion_mnist(directory, Split::test); }) ==
          labels + ": labels have dims 4x1, expected one dimension N");
  }
  SUBCASE("signed images") {
    dataset.images.type = IdxType::i8;
    write_fashion_mnist(directory, Split::test, dataset, true);
    CHECK(error_of([&] { load_fashion_mnist(directory, Split::test); }) ==
          images + ": images are signed bytes, expected unsigned bytes (0x08)");
  }
  SUBCASE("a malformed file") {
    write_fashion_mnist(directory, Split::test, dataset, true);
    write_bytes(labels, {0, 0, 8, 1, 0, 0});
    CHECK(contains(error_of([&] { load_fashion_mnist(directory, Split::test); }), labels + ": truncated header"));
  }
  SUBCASE("a missing file") {
    write_fashion_mnist(directory, Split::test, dataset, true);
    std::filesystem::remove(labels);
    CHECK(error_of([&] { load_fashion_mnist(directory, Split::test); }) ==
          "load_fashion_mnist: " + labels + ": file not found (nor t10k-labels-idx1-ubyte)");
  }
  SUBCASE("a missing directory") {
    const std::string nowhere = dir.file("nowhere");
    CHECK(contains(error_of([&] { load_fashion_mnist(nowhere, Split::train); }),
                   "load_fashion_mnist: " + nowhere + ": directory not found"));
  }
}

TEST_CASE("Dataset::take keeps the first n examples") {
  const Dataset dataset = make_dataset(10, 3, 2);
  const Dataset first = dataset.take(4);
  CHECK(first.size() == 4);
  CHECK(first.images.dims == std::vector<int64_t>{4, 3, 2});
  CHECK(first.labels.dims == std::vector<int64_t>{4});
  CHECK(first.images.bytes == std::vector<uint8_t>(dataset.images.bytes.begin(), dataset.images.bytes.begin() + 24));
  CHECK(first.labels.bytes == std::vector<uint8_t>{0, 1, 2, 3});
  CHECK(dataset.take(100).size() == 10);
  CHECK(dataset.take(100).images.bytes == dataset.images.bytes);
  CHECK(dataset.take(0).size() == 0);
  CHECK(dataset.take(0).images.bytes.empty());
  CHECK(contains(error_of([&] { dataset.take(-1); }), "Dataset::take: n is -1"));
}

namespace {

const std::string kRealDirectory = default_fashion_mnist_directory();
const bool kRealDataMissing = !std::filesystem::exists(kRealDirectory + "/t10k-images-idx3-ubyte.gz") &&
                              !std::filesystem::exists(kRealDirectory + "/t10k-images-idx3-ubyte");

}  // namespace

// Runs where Debian's dataset-fashion-mnist is installed; reported as skipped elsewhere.
TEST_CASE("the real Fashion-MNIST test split" * doctest::skip(kRealDataMissing)) {
  const Dataset test = load_fashion_mnist(kRealDirectory, Split::test);
  CHECK(test.size() == 10000);
  CHECK(test.images.dims == std::vector<int64_t>{10000, 28, 28});
  CHECK(test.images.bytes.size() == 7840000);
  // The first labels as the files hold them: ankle boot, pullover, trouser, trouser, shirt.
  CHECK(std::vector<uint8_t>(test.labels.bytes.begin(), test.labels.bytes.begin() + 5) ==
        std::vector<uint8_t>{9, 2, 1, 1, 6});
  // The classes are balanced: 1000 test images each.
  std::array<int, 10> counts{};
  for (uint8_t label : test.labels.bytes) ++counts[label];
  for (int count : counts) CHECK(count == 1000);

  Batches batches(test, 256, std::nullopt);
  CHECK(batches.size() == 40);
  int64_t seen = 0;
  for (const Batch& batch : batches) seen += batch.labels.numel();
  CHECK(seen == 10000);
}
