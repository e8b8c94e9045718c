#include <tapegrad/data/fashion_mnist.hpp>

#include "helpers.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>

using namespace tapegrad;
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

namespace {

// The whole of `dataset` in one batch, in data-set order.
Batch everything(const Dataset& dataset) {
  Dataset all = dataset.batch(std::max<int64_t>(dataset.num_examples(), 1));
  std::optional<Batch> batch = all.next();
  REQUIRE(batch.has_value());
  return *batch;
}

// The bytes `batch` was converted from: images * 255 and labels.
std::vector<uint8_t> image_bytes(const Batch& batch) {
  std::vector<uint8_t> bytes;
  for (double v : batch.features.to_vector()) bytes.push_back(static_cast<uint8_t>(std::lround(v * 255)));
  return bytes;
}
std::vector<uint8_t> label_bytes(const Batch& batch) {
  std::vector<uint8_t> bytes;
  for (double v : batch.labels.to_vector()) bytes.push_back(static_cast<uint8_t>(v));
  return bytes;
}

}  // namespace

TEST_CASE("load_fashion_mnist reads a split written gzip-compressed or plain") {
  TempDir dir;
  const ImageBytes train = make_images(12);
  const ImageBytes test = make_images(5);
  for (bool gzip : {true, false}) {
    CAPTURE(gzip);
    const std::string directory = dir.file(gzip ? "gz" : "plain");
    write_fashion_mnist(directory, Split::train, train.images, train.labels, gzip);
    write_fashion_mnist(directory, Split::test, test.images, test.labels, gzip);
    const std::string suffix = gzip ? ".gz" : "";
    CHECK(std::filesystem::exists(directory + "/train-images-idx3-ubyte" + suffix));
    CHECK(std::filesystem::exists(directory + "/t10k-labels-idx1-ubyte" + suffix));

    const Dataset back = load_fashion_mnist(directory, Split::train);
    CHECK(back.num_examples() == 12);
    CHECK(back.feature_shape() == Shape{28, 28, 1});
    CHECK(back.has_labels());
    const Batch all = everything(back);
    CHECK(all.features.shape() == Shape{12, 28, 28, 1});
    CHECK(all.features.dtype() == DType::float32);
    CHECK(all.labels.shape() == Shape{12});
    CHECK(all.labels.dtype() == DType::int64);
    CHECK(image_bytes(all) == train.images.bytes);
    CHECK(label_bytes(all) == train.labels.bytes);
    CHECK(label_bytes(everything(load_fashion_mnist(directory, Split::test))) == test.labels.bytes);
  }
}

TEST_CASE("load_fashion_mnist: mismatched files are errors naming them") {
  TempDir dir;
  const std::string directory = dir.path().string();
  const std::string images = dir.file("t10k-images-idx3-ubyte.gz");
  const std::string labels = dir.file("t10k-labels-idx1-ubyte.gz");
  ImageBytes dataset = make_images(4);
  const auto write = [&](const ImageBytes& set) {
    write_fashion_mnist(directory, Split::test, set.images, set.labels, true);
  };

  SUBCASE("label out of range") {
    dataset.labels.bytes[2] = 10;
    write(dataset);
    CHECK(error_of([&] { load_fashion_mnist(directory, Split::test); }) ==
          labels + ": label 10 at index 2 is out of range: expected 0 to 9");
  }
  SUBCASE("count mismatch") {
    write(dataset);
    write_idx(labels, IdxArray{{1, 2, 3}, {3}, IdxType::u8}, true);
    CHECK(error_of([&] { load_fashion_mnist(directory, Split::test); }) ==
          images + ": 4 images, but " + labels + " has 3 labels");
  }
  SUBCASE("images not 28x28") {
    write(make_images(4, 28, 27));
    CHECK(error_of([&] { load_fashion_mnist(directory, Split::test); }) ==
          images + ": images have dims 4x28x27, expected Nx28x28");
  }
  SUBCASE("labels with two dimensions") {
    write(dataset);
    write_idx(labels, IdxArray{{1, 2, 3, 4}, {4, 1}, IdxType::u8}, true);
    CHECK(error_of([&] { load_fashion_mnist(directory, Split::test); }) ==
          labels + ": labels have dims 4x1, expected one dimension N");
  }
  SUBCASE("signed images") {
    dataset.images.type = IdxType::i8;
    write(dataset);
    CHECK(error_of([&] { load_fashion_mnist(directory, Split::test); }) ==
          images + ": images are signed bytes, expected unsigned bytes (0x08)");
  }
  SUBCASE("a malformed file") {
    write(dataset);
    write_bytes(labels, {0, 0, 8, 1, 0, 0});
    CHECK(contains(error_of([&] { load_fashion_mnist(directory, Split::test); }), labels + ": truncated header"));
  }
  SUBCASE("a missing file") {
    write(dataset);
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

namespace {

const std::string kRealDirectory = default_fashion_mnist_directory();
const bool kRealDataMissing = !std::filesystem::exists(kRealDirectory + "/t10k-images-idx3-ubyte.gz") &&
                              !std::filesystem::exists(kRealDirectory + "/t10k-images-idx3-ubyte");

}  // namespace

// Runs where Debian's dataset-fashion-mnist is installed; reported as skipped elsewhere.
TEST_CASE("the real Fashion-MNIST test split" * doctest::skip(kRealDataMissing)) {
  Dataset test = load_fashion_mnist(kRealDirectory, Split::test);
  CHECK(test.num_examples() == 10000);
  const Batch all = everything(test);
  CHECK(all.features.shape() == Shape{10000, 28, 28, 1});
  const std::vector<uint8_t> labels = label_bytes(all);
  // The first labels as the files hold them: ankle boot, pullover, trouser, trouser, shirt.
  CHECK(std::vector<uint8_t>(labels.begin(), labels.begin() + 5) == std::vector<uint8_t>{9, 2, 1, 1, 6});
  // The classes are balanced: 1000 test images each.
  std::array<int, 10> counts{};
  for (uint8_t label : labels) ++counts[label];
  for (int count : counts) CHECK(count == 1000);
  const std::vector<double> pixels = all.features.to_vector();
  CHECK(*std::min_element(pixels.begin(), pixels.end()) == 0.0);
  CHECK(*std::max_element(pixels.begin(), pixels.end()) == 1.0);

  Dataset batches = test.batch(256);
  CHECK(batches.cardinality() == 40);
  int64_t seen = 0;
  for (const auto& [images, labels_of_batch] : batches) {
    CHECK(images.shape()[0] == labels_of_batch.shape()[0]);
    seen += labels_of_batch.numel();
  }
  CHECK(seen == 10000);
}
