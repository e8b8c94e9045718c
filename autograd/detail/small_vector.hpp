#pragma once

#include <cstddef>
#include <iterator>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace tapegrad {

/// A vector that keeps up to N elements inline and moves to the heap only past them: tape entries
/// and gradient lists are short, and a heap allocation per op would dominate small ops.
/// `data_` points at the inline storage or at the heap block, so access needs no branch.
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
    reserve(sizeof...(Values));
    (emplace_back(std::forward<Values>(values)), ...);
  }
  /// The elements of `values`.
  SmallVector(const std::vector<T>& values) : SmallVector(values.begin(), values.end()) {}  // NOLINT: implicit
  /// The elements of [first, last).
  template <std::input_iterator It>
  SmallVector(It first, It last) {
    for (; first != last; ++first) emplace_back(*first);
  }
  SmallVector(const SmallVector& other) { append_copies(other); }
  SmallVector(SmallVector&& other) noexcept { take(other); }
  SmallVector& operator=(const SmallVector& other) {
    if (this != &other) {
      clear();
      append_copies(other);
    }
    return *this;
  }
  SmallVector& operator=(SmallVector&& other) noexcept {
    if (this != &other) {
      release();
      take(other);
    }
    return *this;
  }
  ~SmallVector() { release(); }

  /// Appends one element, built from `args`.
  template <typename... Args>
  T& emplace_back(Args&&... args) {
    if (size_ == capacity_) grow(2 * capacity_);
    T* slot = new (data_ + size_) T(std::forward<Args>(args)...);
    ++size_;
    return *slot;
  }
  /// Appends one element.
  void push_back(const T& value) { emplace_back(value); }
  /// Appends one element.
  void push_back(T&& value) { emplace_back(std::move(value)); }
  /// Makes room for `count` elements in all.
  void reserve(size_t count) {
    if (count > capacity_) grow(count);
  }
  /// Removes every element (the heap block, if any, is kept for reuse).
  void clear() {
    std::destroy_n(data_, size_);
    size_ = 0;
  }
  /// The number of elements.
  size_t size() const { return size_; }
  /// True when there are none.
  bool empty() const { return size_ == 0; }
  /// The elements, contiguous.
  T* data() { return data_; }
  /// The elements, contiguous.
  const T* data() const { return data_; }
  /// Element i.
  T& operator[](size_t i) { return data_[i]; }
  /// Element i.
  const T& operator[](size_t i) const { return data_[i]; }
  /// Iteration, in order.
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

 private:
  // The inline storage's address as a T* (no T need live there yet: data_ starts here, empty).
  T* inline_data() { return reinterpret_cast<T*>(storage_); }
  bool on_heap() const { return data_ != reinterpret_cast<const T*>(storage_); }
  // Moves the elements to a heap block of `capacity`.
  void grow(size_t capacity) {
    T* block = static_cast<T*>(::operator new (capacity * sizeof(T), std::align_val_t{alignof(T)}));
    for (size_t i = 0; i < size_; ++i) {
      new (block + i) T(std::move(data_[i]));
      data_[i].~T();
    }
    free_heap();
    data_ = block;
    capacity_ = capacity;
  }
  void free_heap() {
    if (on_heap()) ::operator delete (data_, std::align_val_t{alignof(T)});
  }
  void release() {
    clear();
    free_heap();
    data_ = inline_data();
    capacity_ = N;
  }
  void append_copies(const SmallVector& other) {
    reserve(size_ + other.size_);
    for (const T& v : other) emplace_back(v);
  }
  // Takes other's elements: its heap block as it is, or its inline elements one by one.
  void take(SmallVector& other) {
    if (other.on_heap()) {
      data_ = other.data_;
      size_ = other.size_;
      capacity_ = other.capacity_;
      other.data_ = other.inline_data();
      other.size_ = 0;
      other.capacity_ = N;
      return;
    }
    for (T& v : other) emplace_back(std::move(v));
    other.clear();
  }

  alignas(T) unsigned char storage_[N * sizeof(T)];
  T* data_ = inline_data();
  size_t size_ = 0;
  size_t capacity_ = N;
};

}  // namespace tapegrad
