#include "autograd/detail/checked.hpp"

namespace tapegrad::detail {

Shape checked_shape(std::span<const int64_t> dims, const char* op, const char* what) {
  if (dims.size() > static_cast<size_t>(Shape::kMaxRank)) {
    fail("{}: the {} would have {} dimensions; tapegrad supports at most {}", op, what, dims.size(), Shape::kMaxRank);
  }
  // As NumPy: the sizes other than 0 must multiply without overflow, so that strides fit too.
  CheckedInt bytes = 8;
  for (int64_t size : dims) {
    if (size < 0) fail("{}: the {} would be {}, with a negative size {}", op, what, fmt::join(dims, "x"), size);
    if (size > 0) bytes = bytes * size;
  }
  if (bytes.overflow) {
    fail("{}: the {} would be {}: more elements than tapegrad counts (at most 2^60)", op, what, fmt::join(dims, "x"));
  }
  return Shape(dims);
}

void fail_undefined_input(const char* op, size_t index, size_t count) {
  if (count == 1) {
    fail("{}: the input is an undefined tensor (a default-constructed Tensor, or an unconnected gradient); expected "
         "a tensor with values",
         op);
  }
  fail("{}: input {} of {} is an undefined tensor (a default-constructed Tensor, or an unconnected gradient); expected "
       "a tensor with values",
       op, index + 1, count);
}

}  // namespace tapegrad::detail
