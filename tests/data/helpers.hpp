#pragma once

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/data/fashion_mnist.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace tapegrad::data::testing {

/// A fresh directory under the system's temp directory, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    path_ =
        std::filesystem::temp_directory_path() / fmt::format("tapegrad-test-data-{}-{}-{}", ::getpid(), counter++, now);
    std::filesystem::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  /// The directory.
  const std::filesystem::path& path() const { return path_; }
  /// A file name inside it, as a string.
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// Writes `bytes` to `path` as they are.
inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

/// Writes `bytes` gzip-compressed to `path`.
inline void write_gzip_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  if (!bytes.empty()) REQUIRE(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())) == int(bytes.size()));
  REQUIRE(gzclose(file) == Z_OK);
}

/// The bytes of the file at `path`.
inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The message of the tapegrad::Error that `f` throws; fails the test when it throws none.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const tapegrad::Error& error) {
    return error.what();
  }
  FAIL("expected a tapegrad::Error");
  return {};
}

/// True when `text` contains `part`.
inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// Images and labels as IDX files hold them (bytes).
struct ImageBytes {
  /// (N, H, W) unsigned bytes.
  IdxArray images;
  /// (N) unsigned bytes.
  IdxArray labels;
  /// The Dataset of these bytes (a copy of them).
  Dataset dataset() const { return Dataset::from_idx(images, labels); }
};

/// n images of height x width whose bytes and labels tell the examples apart: pixel p of image i
/// is (7 i + p) mod 256, label i is i mod 10.
inline ImageBytes make_images(int64_t n, int64_t height = 28, int64_t width = 28) {
  ImageBytes set;
  set.images.dims = {n, height, width};
  set.labels.dims = {n};
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t p = 0; p < height * width; ++p) set.images.bytes.push_back(static_cast<uint8_t>((7 * i + p) % 256));
    set.labels.bytes.push_back(static_cast<uint8_t>(i % 10));
  }
  return set;
}

/// Every element of one epoch of `dataset`, read through range-for.
inline std::vector<Batch> one_epoch(Dataset& dataset) {
  std::vector<Batch> out;
  for (const Batch& batch : dataset) out.push_back(batch);
  return out;
}

/// The example order of one epoch of `dataset`.
inline std::vector<int64_t> order_of(Dataset& dataset) {
  std::vector<int64_t> order;
  for (const Batch& batch : dataset) order.insert(order.end(), batch.indices.begin(), batch.indices.end());
  return order;
}

}  // namespace tapegrad::data::testing
