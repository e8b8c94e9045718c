#include <tapegrad/data/fashion_mnist.hpp>

#include <tapegrad/autograd/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

namespace tapegrad::data {

namespace {

constexpr int64_t kSide = 28;
constexpr int kClasses = 10;

// The split's file for `part`, plain if present, else gzip-compressed.
std::string find_file(const std::string& directory, Split split, std::string_view part) {
  namespace fs = std::filesystem;
  const fs::path base = fs::path(directory) / fashion_mnist_file_name(split, part);
  fs::path gz = base;
  gz += ".gz";
  std::error_code error;
  if (fs::is_regular_file(base, error)) return base.string();
  if (fs::is_regular_file(gz, error)) return gz.string();
  if (!fs::is_directory(directory, error)) {
    fail("load_fashion_mnist: {}: directory not found (Debian's dataset-fashion-mnist package installs {})", directory,
         default_fashion_mnist_directory());
  }
  fail("load_fashion_mnist: {}: file not found (nor {})", gz.string(), base.filename().string());
}

}  // namespace

std::string_view split_name(Split split) { return split == Split::train ? "train" : "test"; }

const std::array<std::string_view, 10>& class_names() {
  static const std::array<std::string_view, 10> names{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

std::string default_fashion_mnist_directory() { return "/usr/share/datasets/fashion-mnist"; }

std::string fashion_mnist_file_name(Split split, std::string_view part) {
  if (part != "images" && part != "labels") {
    fail("fashion_mnist_file_name: part is \"{}\", expected \"images\" or \"labels\"", part);
  }
  return fmt::format("{}-{}-idx{}-ubyte", split == Split::train ? "train" : "t10k", part, part == "images" ? 3 : 1);
}

Dataset load_fashion_mnist(const std::string& directory, Split split) {
  const std::string images_path = find_file(directory, split, "images");
  const std::string labels_path = find_file(directory, split, "labels");
  IdxArray images = read_idx(images_path);
  IdxArray labels = read_idx(labels_path);

  if (images.type != IdxType::u8) fail("{}: images are signed bytes, expected unsigned bytes (0x08)", images_path);
  if (images.dims.size() != 3 || images.dims[1] != kSide || images.dims[2] != kSide) {
    fail("{}: images have dims {}, expected Nx{}x{}", images_path, fmt::join(images.dims, "x"), kSide, kSide);
  }
  if (labels.type != IdxType::u8) fail("{}: labels are signed bytes, expected unsigned bytes (0x08)", labels_path);
  if (labels.dims.size() != 1) {
    fail("{}: labels have dims {}, expected one dimension N", labels_path, fmt::join(labels.dims, "x"));
  }
  if (images.dims[0] != labels.dims[0]) {
    fail("{}: {} images, but {} has {} labels", images_path, images.dims[0], labels_path, labels.dims[0]);
  }
  const auto bad =
      std::find_if(labels.bytes.begin(), labels.bytes.end(), [](uint8_t label) { return label >= kClasses; });
  if (bad != labels.bytes.end()) {
    fail("{}: label {} at index {} is out of range: expected 0 to {}", labels_path, *bad, bad - labels.bytes.begin(),
         kClasses - 1);
  }
  return Dataset::from_idx(std::move(images), std::move(labels));
}

void write_fashion_mnist(const std::string& directory, Split split, const IdxArray& images, const IdxArray& labels,
                         bool gzip) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) fail("write_fashion_mnist: {}: cannot create directory: {}", directory, error.message());
  const std::string suffix = gzip ? ".gz" : "";
  const std::filesystem::path dir(directory);
  write_idx((dir / (fashion_mnist_file_name(split, "images") + suffix)).string(), images, gzip);
  write_idx((dir / (fashion_mnist_file_name(split, "labels") + suffix)).string(), labels, gzip);
}

}  // namespace tapegrad::data
