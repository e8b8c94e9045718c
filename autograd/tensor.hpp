#pragma once

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/shape.hpp>

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace tapegrad {

/// Element types. float32 is the default; int64 holds labels and indices and is never watched.
enum class DType : uint8_t { float32, float64, int64 };

/// "float32", "float64" or "int64".
std::string_view dtype_name(DType dtype);
/// Bytes per element.
inline size_t dtype_size(DType dtype) { return dtype == DType::float32 ? 4 : 8; }
/// True for float32 and float64.
inline bool is_floating(DType dtype) { return dtype == DType::float32 || dtype == DType::float64; }

/// The DType of a C++ element type.
template <typename T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::float32;
  else if constexpr (std::is_same_v<T, double>) return DType::float64;
  else {
    static_assert(std::is_same_v<T, int64_t>, "tapegrad tensors hold float, double or int64_t");
    return DType::int64;
  }
}

/// Calls `f.template operator()<T>()` with T the C++ type of `dtype`.
template <typename F>
decltype(auto) dispatch(DType dtype, F&& f) {
  switch (dtype) {
    case DType::float32: return f.template operator()<float>();
    case DType::float64: return f.template operator()<double>();
    case DType::int64: return f.template operator()<int64_t>();
  }
  return f.template operator()<float>();
}

/// Calls `f.template operator()<T>()` for float32 or float64; other dtypes are an error of `op`.
template <typename F>
decltype(auto) dispatch_floating(DType dtype, const char* op, F&& f) {
  if (dtype == DType::float64) return f.template operator()<double>();
  if (dtype != DType::float32) fail("{}: expected a float32 or float64 tensor, got {}", op, dtype_name(dtype));
  return f.template operator()<float>();
}

namespace detail {
/// The shared block behind Tensor handles: header, then the elements in the same allocation.
struct TensorImpl {
  std::atomic<int32_t> refcount{1};
  DType dtype;
  Shape shape;
  int64_t numel;  // shape.numel(), kept: kernels ask for it on every call
  uint64_t id;
  size_t block_bytes;
  void* data;
};
}  // namespace detail

/// A half-open range of one axis, for `Tensor::with`; `all` covers the whole axis.
struct Range {
  int64_t start = 0;
  int64_t stop = INT64_MAX;
};
/// The whole of an axis.
inline constexpr Range all{};

/// An n-dimensional, contiguous, row-major array whose values never change once shared: the code that
/// makes one (`empty`, then a kernel) fills it through its only handle, and `mutable_data` fails from
/// the first copy on. Copying a Tensor copies a handle (a reference count), not the elements.
class Tensor {
 public:
  /// An undefined tensor: what `gradient` returns for an unconnected source.
  Tensor() = default;
  /// A tensor holding `values` (row-major, e.g. a std::vector<double>) with `shape`; the counts must agree.
  Tensor(std::span<const double> values, const Shape& shape, DType dtype = DType::float32);
  /// A tensor holding float `values` (e.g. a std::vector<float>) with `shape`, float32 unless told otherwise.
  Tensor(std::span<const float> values, const Shape& shape, DType dtype = DType::float32);
  /// A tensor holding int64 `values` (e.g. a std::vector<int64_t> of labels) with `shape`, int64 unless
  /// told otherwise; every value is kept exactly.
  Tensor(std::span<const int64_t> values, const Shape& shape, DType dtype = DType::int64);
  /// A 1-d tensor of `values` (a std::vector<double>), float32 unless told otherwise.
  explicit Tensor(std::span<const double> values, DType dtype = DType::float32);
  /// A 1-d tensor of float `values`, float32 unless told otherwise.
  explicit Tensor(std::span<const float> values, DType dtype = DType::float32);
  /// A 1-d tensor of int64 `values`, int64 unless told otherwise.
  explicit Tensor(std::span<const int64_t> values, DType dtype = DType::int64);
  /// A tensor from a braced list of values and a shape.
  Tensor(std::initializer_list<double> values, const Shape& shape, DType dtype = DType::float32);
  /// A 1-d tensor from a braced list of values: Tensor({3, 1, 2}, DType::int64).
  Tensor(std::initializer_list<double> values, DType dtype);
  /// A 0-d tensor holding one value.
  static Tensor scalar(double value, DType dtype = DType::float32);
  /// A tensor of `shape` whose elements are uninitialised; filled by kernels before anyone reads it.
  static Tensor empty(const Shape& shape, DType dtype);

  // Copies and destructions happen on every op, so their common case is inline.
  Tensor(const Tensor& other) noexcept : impl_(other.impl_) {
    if (impl_ != nullptr) impl_->refcount.fetch_add(1, std::memory_order_relaxed);
  }
  Tensor(Tensor&& other) noexcept : impl_(other.impl_) { other.impl_ = nullptr; }
  Tensor& operator=(const Tensor& other) noexcept {
    Tensor copy(other);
    std::swap(impl_, copy.impl_);
    return *this;
  }
  Tensor& operator=(Tensor&& other) noexcept {
    std::swap(impl_, other.impl_);
    return *this;
  }
  // The last handle frees its block without a locked instruction: when the count reads 1, no other
  // handle exists that could change it meanwhile (the acquire load pairs with the release of the
  // handles dropped before). Most tensors are temporaries, dropped while unique.
  [[gnu::always_inline]] ~Tensor() {
    if (impl_ == nullptr) return;
    if (impl_->refcount.load(std::memory_order_acquire) == 1 ||
        impl_->refcount.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      free_block(impl_);
    }
  }

  /// False for a default-constructed (undefined) tensor.
  bool defined() const { return impl_ != nullptr; }
  /// The shape.
  const Shape& shape() const { return checked().shape; }
  /// The element type.
  DType dtype() const { return checked().dtype; }
  /// The number of dimensions.
  int rank() const { return shape().rank(); }
  /// The number of elements.
  int64_t numel() const { return checked().numel; }
  /// A number unique to this tensor among all tensors of the process; tapes key on it.
  uint64_t id() const { return checked().id; }
  /// True when no other handle shares this tensor's elements.
  bool unique() const { return impl_ != nullptr && impl_->refcount.load(std::memory_order_acquire) == 1; }
  /// A copy, for a caller that alone can reach this handle (its local, its by-value parameter, its
  /// thread_local). When it is the only handle, nobody else can change the count, so the count is
  /// raised without a locked instruction. Any other copy must use the copy constructor: two threads
  /// may copy one shared handle at once.
  Tensor copy_of_own() const {
    if (impl_ == nullptr || impl_->refcount.load(std::memory_order_relaxed) != 1) return *this;
    impl_->refcount.store(2, std::memory_order_relaxed);
    return Tensor(impl_);
  }

  /// The elements, typed; T must match dtype().
  template <typename T>
  std::span<const T> data() const {
    if (dtype_of<T>() != dtype()) [[unlikely]]
      fail_dtype("data", dtype_of<T>());
    return {static_cast<const T*>(impl_->data), static_cast<size_t>(impl_->numel)};
  }
  /// Writable elements, for a kernel filling a tensor it just made with `empty`; fails when another
  /// handle shares the tensor (its values never change once shared).
  template <typename T>
  T* mutable_data() const {
    if (dtype_of<T>() != dtype()) [[unlikely]]
      fail_dtype("mutable_data", dtype_of<T>());
    return static_cast<T*>(mutable_raw_data());
  }
  /// The raw element bytes.
  const void* raw_data() const { return checked().data; }
  /// Writable raw bytes, as `mutable_data`.
  void* mutable_raw_data() const {
    if (!unique()) [[unlikely]]
      fail("Tensor::mutable_data: the {} tensor is shared with another handle, and a shared tensor's values "
           "never change; write into a new tensor",
           checked().shape);
    return impl_->data;
  }

  /// The element at a multi-index, as a double.
  double at(std::initializer_list<int64_t> index) const;
  /// The element at a flat row-major position, as a double.
  double flat(int64_t position) const;
  /// The value of a one-element tensor.
  double item() const;
  /// All elements as doubles, row-major.
  std::vector<double> to_vector() const;

  /// A copy with the box `ranges` (one Range per axis) set to `value`: ones({6, 8}).with({all, {2, 6}}, 0).
  Tensor with(std::initializer_list<Range> ranges, double value) const;
  /// A copy converted to `dtype` (not recorded on tapes).
  Tensor to(DType dtype) const;
  /// The same elements under another shape of equal size (not recorded; see `reshape` for the op).
  Tensor reshaped(const Shape& shape) const;

 private:
  const detail::TensorImpl& checked() const {
    if (impl_ == nullptr) [[unlikely]]
      fail_undefined();
    return *impl_;
  }
  [[noreturn]] static void fail_undefined();
  // The error of data<T> or mutable_data<T> (`member`) asked for another dtype than the tensor's.
  [[noreturn, gnu::cold]] void fail_dtype(const char* member, DType asked) const;
  static void free_block(detail::TensorImpl* impl) noexcept;
  explicit Tensor(detail::TensorImpl* impl) : impl_(impl) {}
  detail::TensorImpl* impl_ = nullptr;
};

/// A tensor of zeros.
Tensor zeros(const Shape& shape, DType dtype = DType::float32);
/// A tensor of ones.
Tensor ones(const Shape& shape, DType dtype = DType::float32);
/// A tensor of `value` everywhere.
Tensor full(const Shape& shape, double value, DType dtype = DType::float32);
/// Zeros with the shape and dtype of `like`.
Tensor zeros_like(const Tensor& like);
/// Ones with the shape and dtype of `like`.
Tensor ones_like(const Tensor& like);
/// start, start + step, ... below stop, as a 1-d tensor.
Tensor arange(double start, double stop, double step = 1.0, DType dtype = DType::float32);
/// 0, 1, ..., stop - 1, as a 1-d tensor.
Tensor arange(double stop, DType dtype = DType::float32);

/// How a tensor prints, as NumPy's print options: beyond `threshold` elements, each axis shows
/// only its first and last `edgeitems` entries around "...".
struct PrintOptions {
  int64_t threshold = 1000;  ///< print elided when the tensor has more elements than this
  int64_t edgeitems = 3;     ///< entries kept at each end of an elided axis
};

/// The nested-list text of a tensor: [[19, 25], [37, 43]]; elided beyond 1000 elements.
std::string to_string(const Tensor& tensor);
/// As above, elided as `options` say: to_string(x, {.threshold = 4, .edgeitems = 1}) is [1, ..., 6].
std::string to_string(const Tensor& tensor, const PrintOptions& options);
/// Writes `to_string(tensor)`.
std::ostream& operator<<(std::ostream& out, const Tensor& tensor);

}  // namespace tapegrad

template <>
struct fmt::formatter<tapegrad::DType> : fmt::formatter<std::string_view> {
  auto format(tapegrad::DType dtype, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(tapegrad::dtype_name(dtype), ctx);
  }
};

template <>
struct fmt::formatter<tapegrad::Tensor> : fmt::formatter<std::string> {
  auto format(const tapegrad::Tensor& tensor, format_context& ctx) const {
    return fmt::formatter<std::string>::format(tapegrad::to_string(tensor), ctx);
  }
};
