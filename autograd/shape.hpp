#pragma once

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

namespace tapegrad {

/// Normalizes a possibly negative axis for a tensor of rank `rank`; `op` names the caller in errors.
int normalize_axis(int axis, int rank, const char* op);

/// The dimensions of a tensor, outermost first, stored inline (no heap allocation).
class Shape {
 public:
  /// The most dimensions a tensor may have.
  static constexpr int kMaxRank = 8;

  /// A 0-d shape: one element, a scalar.
  Shape() = default;
  /// A shape from its dimensions, e.g. Shape{6, 8}.
  Shape(std::initializer_list<int64_t> dims);
  /// A shape from a span of dimensions.
  explicit Shape(std::span<const int64_t> dims);

  /// The number of dimensions.
  int rank() const { return rank_; }
  /// The size of dimension `axis`; negative axes count from the back.
  int64_t operator[](int axis) const {
    if (axis >= 0 && axis < rank_) return dims_[axis];
    return dims_[normalize_axis(axis, rank_, "Shape")];
  }
  /// The product of the dimensions (1 for a scalar).
  int64_t numel() const {
    int64_t count = 1;
    for (int i = 0; i < rank_; ++i) count *= dims_[i];  // never overflows: see check_element_count
    return count;
  }
  /// The dimensions as a span.
  std::span<const int64_t> dims() const { return {dims_.data(), static_cast<size_t>(rank_)}; }
  /// Row-major strides in elements.
  std::array<int64_t, kMaxRank> strides() const;
  /// A copy with dimension `axis` set to `size`.
  Shape with(int axis, int64_t size) const;
  /// Appends one dimension.
  void push_back(int64_t size);

  /// "6x8" for a matrix, "1x6x8x1", "scalar" for rank 0.
  std::string str() const;

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i) {
      if (a.dims_[i] != b.dims_[i]) return false;
    }
    return true;
  }

 private:
  // An error when the product of the dimensions other than 0 does not fit in an int64 (as NumPy).
  void check_element_count() const;
  std::array<int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

/// NumPy's broadcast of two shapes; `op` names the caller in errors.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace tapegrad

template <>
struct fmt::formatter<tapegrad::Shape> : fmt::formatter<std::string> {
  auto format(const tapegrad::Shape& shape, format_context& ctx) const {
    return fmt::formatter<std::string>::format(shape.str(), ctx);
  }
};
