#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tapegrad::data {

/// The element type byte of an IDX file (the third byte of its magic number).
enum class IdxType : uint8_t { u8 = 0x08, i8 = 0x09 };

/// The contents of an IDX file, kept as the file's bytes: no conversion to float.
struct IdxArray {
  /// The elements, row-major, one byte each.
  std::vector<uint8_t> bytes;
  /// The dimensions, outermost first: {10000, 28, 28} for Fashion-MNIST's test images.
  std::vector<int64_t> dims;
  /// How to read each byte: unsigned (MNIST's images and labels) or signed.
  IdxType type = IdxType::u8;

  /// The product of the dimensions; INT64_MAX when that overflows, -1 for a negative dimension.
  int64_t numel() const;
};

/// The most data bytes an IDX header may claim; a larger claim is a malformed file.
inline constexpr int64_t kMaxIdxBytes = int64_t{1} << 34;

/// Reads an IDX file, plain or gzip-compressed (told apart by the gzip magic 1f 8b).
/// A missing, malformed, truncated or oversized file, or one with bytes after the data, is an
/// Error naming the file and what is wrong: "t10k-images-idx3-ubyte.gz: truncated: expected
/// 7840000 bytes of data, got 1000".
IdxArray read_idx(const std::string& path);

/// Reads IDX bytes from memory, plain or gzip-compressed, with every check `read_idx` makes (it reads
/// the file and calls this); `name` stands for the file in errors.
IdxArray parse_idx(std::span<const uint8_t> bytes, std::string_view name = "<memory>");

/// Writes `array` as an IDX file, gzip-compressed when `gzip`; for tests and small data sets.
void write_idx(const std::string& path, const IdxArray& array, bool gzip);

}  // namespace tapegrad::data
