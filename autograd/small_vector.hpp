#pragma once

#include <cstddef>
#include <iterator>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace tapegrad {

/// A vector that keeps up to N elements inline and moves to the heap only past them: tape entries
/// and gradient lists are short, and a heap allocation per op would dominate small ops.
template <typename T, size_t N>
class SmallVector {
 public:
  /// Empty.
  SmallVector() = default;
  /// The listed elements, `return {a, b};` included. Each is built in place from its value (an
  /// initializer_list would copy every element twice: a refcount round trip per Tensor).
  template <typename... Values>
  requires(sizeof...(Values) > 0 && (std::is_convertible_v<Values, T> && ...))
      SmallVector(Values&&... values) {  // NOLINT: implicit, as a braced list is
    (push_back(std::forward<Values>(values)), ...);
  }
  /// The elements of `values`.
  SmallVector(const std::vector<T>& values) : SmallVector(values.begin(), values.end()) {}  // NOLINT: implicit
  /// The elements of [first, last).
  template <std::input_iterator It>
  SmallVector(It first, It last) {
    for (; first != last; ++first) push_back(*first);
  }
  SmallVector(const SmallVector& other) {
    for (const T& v : other) push_back(v);
  }
  SmallVector(SmallVector&& other) noexcept {
    for (T& v : other) push_back(std::move(v));
    other.clear();
  }
  SmallVector& operator=(const SmallVector& other) {
    if (this != &other) {
      clear();
      for (const T& v : other) push_back(v);
    }
    return *this;
  }
  SmallVector& operator=(SmallVector&& other) noexcept {
    if (this != &other) {
      clear();
      for (T& v : other) push_back(std::move(v));
      other.clear();
    }
    return *this;
  }
  ~SmallVector() { clear(); }

  /// Appends one element.
  void push_back(T value) {
    if (!spilled_ && size_ < N) {
      new (inline_data() + size_) T(std::move(value));
    } else {
      if (!spilled_) spill();
      spill_.push_back(std::move(value));
    }
    ++size_;
  }
  /// Removes every element.
  void clear() {
    if (spilled_) {
      spill_.clear();
      spilled_ = false;
    } else {
      for (size_t i = 0; i < size_; ++i) inline_data()[i].~T();
    }
    size_ = 0;
  }
  /// The number of elements.
  size_t size() const { return size_; }
  /// True when there are none.
  bool empty() const { return size_ == 0; }
  /// The elements, contiguous.
  T* data() { return spilled_ ? spill_.data() : inline_data(); }
  /// The elements, contiguous.
  const T* data() const { return spilled_ ? spill_.data() : inline_data(); }
  /// Element i.
  T& operator[](size_t i) { return data()[i]; }
  /// Element i.
  const T& operator[](size_t i) const { return data()[i]; }
  /// Iteration, in order.
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }

 private:
  T* inline_data() { return std::launder(reinterpret_cast<T*>(storage_)); }
  const T* inline_data() const { return std::launder(reinterpret_cast<const T*>(storage_)); }
  // Moves the inline elements to the heap, where every later element goes too.
  void spill() {
    spill_.reserve(2 * N);
    for (size_t i = 0; i < size_; ++i) {
      spill_.push_back(std::move(inline_data()[i]));
      inline_data()[i].~T();
    }
    spilled_ = true;
  }

  alignas(T) unsigned char storage_[N * sizeof(T)];
  size_t size_ = 0;
  bool spilled_ = false;
  std::vector<T> spill_;
};

}  // namespace tapegrad
