#include <tapegrad/autograd/shape.hpp>

#include <tapegrad/autograd/error.hpp>

#include "autograd/detail/checked.hpp"

#include <algorithm>

namespace tapegrad {

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::span<const int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const int64_t> dims) {
  if (dims.size() > kMaxRank)
    fail("Shape: rank {} is more than the {} dimensions tapegrad supports", dims.size(), kMaxRank);
  for (int64_t size : dims) {
    if (size < 0) fail("Shape: dimension {} is negative", size);
    dims_[rank_++] = size;
  }
  check_element_count();
}

// As NumPy: the sizes other than 0 must multiply without overflow, so that the strides of an empty
// tensor such as 0x2^62x4 fit in an int64 too.
void Shape::check_element_count() const {
  int64_t count = 1;
  for (int i = 0; i < rank_; ++i) {
    if (dims_[i] != 0 && __builtin_mul_overflow(count, dims_[i], &count)) {
      fail("Shape: {} has more elements than an int64 counts", fmt::join(dims(), "x"));
    }
  }
}

std::array<int64_t, Shape::kMaxRank> Shape::strides() const {
  std::array<int64_t, kMaxRank> strides{};
  int64_t stride = 1;
  for (int i = rank_ - 1; i >= 0; --i) {
    strides[i] = stride;
    stride *= dims_[i];
  }
  return strides;
}

Shape Shape::with(int axis, int64_t size) const {
  Shape copy = *this;
  if (size < 0) fail("Shape::with: dimension {} is negative", size);
  copy.dims_[normalize_axis(axis, rank_, "Shape::with")] = size;
  copy.check_element_count();
  return copy;
}

void Shape::push_back(int64_t size) {
  if (rank_ == kMaxRank) fail("Shape: rank {} is more than the {} dimensions tapegrad supports", rank_ + 1, kMaxRank);
  if (size < 0) fail("Shape: dimension {} is negative", size);
  Shape grown = *this;  // left unchanged when the count overflows
  grown.dims_[grown.rank_++] = size;
  grown.check_element_count();
  *this = grown;
}

std::string Shape::str() const {
  if (rank_ == 0) return "scalar";
  return fmt::format("{}", fmt::join(dims(), "x"));
}

int normalize_axis(int axis, int rank, const char* op) {
  if (axis < -rank || axis >= rank) fail("{}: axis {} is out of range for rank {}", op, axis, rank);
  return axis < 0 ? axis + rank : axis;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  if (a == b) return a;
  const int rank = std::max(a.rank(), b.rank());
  std::array<int64_t, Shape::kMaxRank> dims{};
  for (int i = 0; i < rank; ++i) {
    const int ia = a.rank() - rank + i;
    const int ib = b.rank() - rank + i;
    const int64_t da = ia >= 0 ? a.dims()[ia] : 1;
    const int64_t db = ib >= 0 ? b.dims()[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      fail("{}: shapes {} and {} do not broadcast (expected equal sizes or 1 on each axis)", op, a, b);
    }
    dims[i] = da == 1 ? db : da;
  }
  return detail::checked_shape({dims.data(), static_cast<size_t>(rank)}, op, "broadcast shape");
}

}  // namespace tapegrad
