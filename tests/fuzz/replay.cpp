// The fuzz targets' inputs in every build: each file of the seed corpora (corpus/<target>/) and of the
// inputs a fuzzer once crashed on (regressions/<target>/, kept as regression tests) goes through the
// same in-memory entry point, and either parses or is a tapegrad::Error. Under the sanitizer build of
// ./dev test, this also runs under ASan and UBSan.

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/safetensors.hpp>
#include <tapegrad/data/idx.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every file under corpus/<target>/ and regressions/<target>/; the corpus must not be empty.
std::vector<fs::path> inputs(const std::string& target) {
  std::vector<fs::path> files;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(TAPEGRAD_FUZZ_DIR) / kind / target;
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
  }
  return files;
}

}  // namespace

TEST_CASE("fuzz inputs: safetensors corpus and regressions parse or give a tapegrad::Error") {
  const std::vector<fs::path> files = inputs("safetensors");
  CHECK(files.size() >= 5);
  int parsed = 0;
  for (const fs::path& file : files) {
    CAPTURE(file.string());
    const std::vector<uint8_t> bytes = bytes_of(file);
    try {
      tapegrad::parse_safetensors(std::as_bytes(std::span(bytes)), file.string());
      ++parsed;
    } catch (const tapegrad::Error& error) {
      CHECK(std::string(error.what()).starts_with(file.string() + ": "));
    }
  }
  CHECK(parsed >= 5);  // the valid seeds are valid
}

TEST_CASE("fuzz inputs: IDX corpus and regressions parse or give a tapegrad::Error") {
  const std::vector<fs::path> files = inputs("idx");
  CHECK(files.size() >= 8);
  int parsed = 0;
  for (const fs::path& file : files) {
    CAPTURE(file.string());
    const std::vector<uint8_t> bytes = bytes_of(file);
    try {
      tapegrad::data::parse_idx(bytes, file.string());
      ++parsed;
    } catch (const tapegrad::Error& error) {
      CHECK(std::string(error.what()).starts_with(file.string() + ": "));
    }
  }
  CHECK(parsed >= 8);
}
