#pragma once

// The checks every op shares on what a user hands it: integer arithmetic on sizes, strides,
// dilations and paddings that never overflows silently, output shapes whose errors name the op
// (not Shape), and undefined tensors named by the op that was given them.

#include <tapegrad/autograd/tensor.hpp>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>

namespace tapegrad::detail {

/// An int64 that remembers whether any step of its arithmetic overflowed (each step
/// __builtin_*_overflow): write the formula as it reads, then test `overflow` once.
struct CheckedInt {
  int64_t value = 0;                   ///< the result; meaningless once `overflow` is set
  bool overflow = false;               ///< some step overflowed int64
  CheckedInt(int64_t v) : value(v) {}  // NOLINT: implicit, so formulas mix plain integers in
  CheckedInt(int64_t v, bool o) : value(v), overflow(o) {}
  friend CheckedInt operator+(CheckedInt a, CheckedInt b) {
    int64_t r = 0;
    const bool o = __builtin_add_overflow(a.value, b.value, &r);
    return {r, a.overflow || b.overflow || o};
  }
  friend CheckedInt operator-(CheckedInt a, CheckedInt b) {
    int64_t r = 0;
    const bool o = __builtin_sub_overflow(a.value, b.value, &r);
    return {r, a.overflow || b.overflow || o};
  }
  friend CheckedInt operator*(CheckedInt a, CheckedInt b) {
    int64_t r = 0;
    const bool o = __builtin_mul_overflow(a.value, b.value, &r);
    return {r, a.overflow || b.overflow || o};
  }
};

/// a / b rounded up, for a >= 0 and b >= 1 (never overflows, unlike (a + b - 1) / b).
inline CheckedInt ceil_div(CheckedInt a, int64_t b) { return {a.value / b + (a.value % b != 0 ? 1 : 0), a.overflow}; }

/// The shape `dims` as `what` (by default "output") of `op`: an error of `op`, not of Shape, when a
/// size is negative, the rank exceeds Shape::kMaxRank, or the sizes other than 0 multiply past what
/// an int64 counts in bytes of the widest dtype (2^60 elements: strides, offsets and byte counts of
/// such a tensor all fit).
Shape checked_shape(std::span<const int64_t> dims, const char* op, const char* what = "output");
/// As above, for a braced list.
inline Shape checked_shape(std::initializer_list<int64_t> dims, const char* op, const char* what = "output") {
  return checked_shape(std::span<const int64_t>(dims.begin(), dims.size()), op, what);
}

/// Throws an error of `op` naming input `index` (0-based, of `count`) as undefined.
[[noreturn]] void fail_undefined_input(const char* op, size_t index, size_t count);

/// Throws an error of `op` unless every input is a defined tensor (not a default-constructed one,
/// such as an unconnected gradient).
inline void check_defined(const char* op, std::initializer_list<std::reference_wrapper<const Tensor>> inputs) {
  size_t i = 0;
  for (const Tensor& t : inputs) {
    if (!t.defined()) [[unlikely]]
      fail_undefined_input(op, i, inputs.size());
    ++i;
  }
}

/// As above, for a list of tensors.
inline void check_defined(const char* op, std::span<const Tensor> inputs) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) [[unlikely]]
      fail_undefined_input(op, i, inputs.size());
  }
}

}  // namespace tapegrad::detail
