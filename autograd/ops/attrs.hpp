#pragma once

// How an op keeps its attributes (axes, an exponent, a convolution's strides) on its tape entry:
// one small struct per op family that names them, stored inside the entry and read back by type in
// the backward.
//
//   struct PowAttrs {
//     double exponent;
//     std::string print() const { return fmt::format("exponent={}", exponent); }
//   };
//   record(kPow, {x}, std::move(y), backward, PowAttrs{exponent});        // in the forward
//   const double p = args.attrs<PowAttrs>().exponent;                       // in the backward

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/shape.hpp>

#include <fmt/format.h>

#include <array>
#include <concepts>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

namespace tapegrad {

/// What an op's attribute struct is: plain data (copied as bytes) that prints itself as
/// "name=value, ...", the way the tape's printout shows it.
template <typename A>
concept AttrStruct = std::is_trivially_copyable_v<A> && requires(const A& attrs) {
  { attrs.print() } -> std::convertible_to<std::string>;
};

/// An op's attributes on its tape entry: one AttrStruct, kept inline (no heap allocation), and a
/// pointer to what the entry knows of its type; or none, as for most ops.
class Attrs {
 public:
  /// Room for the largest attribute struct, slice's: begin, end and step on each of 8 axes.
  static constexpr size_t kMaxBytes = 200;

  /// None. (User-provided, so that `Attrs{}` does not first zero the buffer.)
  Attrs() noexcept {}  // NOLINT(modernize-use-equals-default)
  /// A copy of `attrs`. Implicit, so that `record(..., PowAttrs{p})` reads as it means.
  template <AttrStruct A>
  Attrs(const A& attrs) noexcept : type_(&kType<A>) {  // NOLINT(google-explicit-constructor)
    static_assert(sizeof(A) <= kMaxBytes, "an op's attributes must fit in Attrs::kMaxBytes");
    static_assert(alignof(A) <= alignof(double), "an op's attributes must align as a double does at most");
    std::construct_at(reinterpret_cast<A*>(bytes_), attrs);
  }
  Attrs(const Attrs& other) noexcept { *this = other; }
  Attrs& operator=(const Attrs& other) noexcept {
    type_ = other.type_;
    if (type_ != nullptr && this != &other) std::memcpy(bytes_, other.bytes_, type_->size);
    return *this;
  }

  /// True for an op without attributes.
  bool empty() const { return type_ == nullptr; }
  /// The attributes as an A; an error of `op` (an internal one: its backward asks for what its
  /// forward did not record) when they are not.
  template <AttrStruct A>
  const A& get(const char* op) const {
    if (type_ != &kType<A>) [[unlikely]]
      fail("backward of {}: reads attributes of another type than it recorded ({})", op, empty() ? "none" : print());
    return *std::launder(reinterpret_cast<const A*>(bytes_));
  }
  /// "name=value, ...", as the struct prints itself; empty for none.
  std::string print() const { return type_ != nullptr ? type_->print(bytes_) : std::string(); }

 private:
  /// What an entry knows of its attributes' type: one per struct, its address the type's tag.
  struct Type {
    size_t size;
    std::string (*print)(const void* attrs);
  };
  template <typename A>
  static constexpr Type kType{sizeof(A),
                              [](const void* attrs) { return std::string(static_cast<const A*>(attrs)->print()); }};

  const Type* type_ = nullptr;
  alignas(double) unsigned char bytes_[kMaxBytes];
};

/// One flag per axis: the axes an op reduces or flips.
using AxisMask = std::array<bool, Shape::kMaxRank>;

/// The axes set in `mask`, in order.
inline std::vector<int> axes_of(const AxisMask& mask) {
  std::vector<int> axes;
  for (int k = 0; k < Shape::kMaxRank; ++k) {
    if (mask[static_cast<size_t>(k)]) axes.push_back(k);
  }
  return axes;
}

/// The attributes of an op along one axis (softmax, log_softmax, concat, gather, scatter_add).
struct AxisAttrs {
  int axis;  ///< normalized: 0 <= axis < rank
  std::string print() const { return fmt::format("axis={}", axis); }
};

}  // namespace tapegrad
