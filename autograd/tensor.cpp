#include <tapegrad/autograd/tensor.hpp>

#include <tapegrad/autograd/allocator.hpp>
#include <tapegrad/autograd/variable.hpp>

#include <fmt/ostream.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <new>
#include <ostream>

namespace tapegrad {

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::int64: return "int64";
  }
  return "unknown";
}

namespace {
constexpr size_t kHeaderBytes = (sizeof(detail::TensorImpl) + 63) / 64 * 64;

// v as a T; a NaN, an infinity or a value out of range has no int64 and is an error of `op`.
template <typename T, typename From>
T convert(From v, const char* op) {
  if constexpr (std::is_integral_v<T> && !std::is_integral_v<From>) {
    if (!(v >= -0x1p63 && v < 0x1p63)) fail("{}: {} has no int64 value", op, v);
  }
  return static_cast<T>(v);
}
}  // namespace

uint64_t next_id() {
  // Each thread takes ids from the shared counter a block at a time: one locked instruction per
  // block instead of one per tensor. Ids stay unique; they are not in creation order across threads.
  constexpr uint64_t kBlock = 1024;
  static std::atomic<uint64_t> counter{1};
  thread_local uint64_t next = 0, end = 0;
  if (next == end) {
    next = counter.fetch_add(kBlock, std::memory_order_relaxed);
    end = next + kBlock;
  }
  return next++;
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  const int64_t numel = shape.numel();
  size_t data_bytes = 0;
  if (__builtin_mul_overflow(static_cast<size_t>(numel), dtype_size(dtype), &data_bytes) ||
      data_bytes > SIZE_MAX - kHeaderBytes) [[unlikely]] {
    fail("Tensor: {} {} has more bytes than memory addresses", shape, dtype_name(dtype));
  }
  if (data_bytes > (size_t{1} << 62)) [[unlikely]] {
    fail("Tensor: {} {} is more than the 2^62 bytes tapegrad allocates", shape, dtype_name(dtype));
  }
  size_t block_bytes = 0;
  void* block = allocate(kHeaderBytes + data_bytes, &block_bytes);
  return Tensor(new (block) detail::TensorImpl{
      {1}, dtype, shape, numel, next_id(), block_bytes, static_cast<char*>(block) + kHeaderBytes});
}

namespace {
// A tensor of `dtype` holding `values` converted, row-major, with `shape`.
template <typename From>
Tensor from_values(std::span<const From> values, const Shape& shape, DType dtype) {
  if (static_cast<int64_t>(values.size()) != shape.numel()) {
    fail("Tensor: {} values given for shape {}, which holds {}", values.size(), shape, shape.numel());
  }
  Tensor out = Tensor::empty(shape, dtype);
  dispatch(dtype, [&]<typename T>() {
    std::ranges::transform(values, out.mutable_data<T>(), [](From v) { return convert<T>(v, "Tensor"); });
  });
  return out;
}

// The 1-d shape of `count` values.
Shape vector_shape(size_t count) { return Shape{static_cast<int64_t>(count)}; }
}  // namespace

Tensor::Tensor(std::span<const double> values, const Shape& shape, DType dtype)
    : Tensor(from_values(values, shape, dtype)) {}
Tensor::Tensor(std::span<const float> values, const Shape& shape, DType dtype)
    : Tensor(from_values(values, shape, dtype)) {}
Tensor::Tensor(std::span<const int64_t> values, const Shape& shape, DType dtype)
    : Tensor(from_values(values, shape, dtype)) {}
Tensor::Tensor(std::span<const double> values, DType dtype)
    : Tensor(from_values(values, vector_shape(values.size()), dtype)) {}
Tensor::Tensor(std::span<const float> values, DType dtype)
    : Tensor(from_values(values, vector_shape(values.size()), dtype)) {}
Tensor::Tensor(std::span<const int64_t> values, DType dtype)
    : Tensor(from_values(values, vector_shape(values.size()), dtype)) {}

Tensor::Tensor(std::initializer_list<double> values, const Shape& shape, DType dtype)
    : Tensor(std::span<const double>(values.begin(), values.size()), shape, dtype) {}
Tensor::Tensor(std::initializer_list<double> values, DType dtype)
    : Tensor(std::span<const double>(values.begin(), values.size()), dtype) {}

Tensor Tensor::scalar(double value, DType dtype) { return full(Shape{}, value, dtype); }

void Tensor::free_block(detail::TensorImpl* impl) noexcept {
  const size_t block_bytes = impl->block_bytes;
  impl->~TensorImpl();
  deallocate(impl, block_bytes);
}

void Tensor::fail_dtype(const char* member, DType asked) const {
  fail("Tensor::{}: tensor is {}, asked for {}", member, dtype_name(dtype()), dtype_name(asked));
}

void Tensor::fail_undefined() { fail("Tensor: used an undefined tensor (for example an unconnected gradient)"); }

double Tensor::flat(int64_t position) const {
  if (position < 0 || position >= numel())
    fail("Tensor::flat: position {} is outside a tensor of shape {}", position, shape());
  return dispatch(dtype(), [&]<typename T>() { return static_cast<double>(data<T>()[position]); });
}

double Tensor::at(std::initializer_list<int64_t> index) const {
  const Shape& s = shape();
  if (static_cast<int>(index.size()) != s.rank()) {
    fail("Tensor::at: {} indices given for a tensor of shape {}", index.size(), s);
  }
  const auto strides = s.strides();
  int64_t position = 0;
  int axis = 0;
  for (int64_t i : index) {
    if (i < 0 || i >= s.dims()[axis]) fail("Tensor::at: index {} is out of range on axis {} of shape {}", i, axis, s);
    position += i * strides[axis++];
  }
  return flat(position);
}

double Tensor::item() const {
  if (numel() != 1) fail("Tensor::item: expected a one-element tensor, got shape {}", shape());
  return flat(0);
}

std::vector<double> Tensor::to_vector() const {
  return dispatch(dtype(), [&]<typename T>() {
    std::vector<double> values(static_cast<size_t>(numel()));
    std::ranges::transform(data<T>(), values.begin(), [](T v) { return static_cast<double>(v); });
    return values;
  });
}

Tensor Tensor::with(std::initializer_list<Range> ranges, double value) const {
  const Shape& s = shape();
  if (static_cast<int>(ranges.size()) != s.rank()) {
    fail("Tensor::with: {} ranges given for a tensor of shape {} (expected one per axis)", ranges.size(), s);
  }
  std::array<int64_t, Shape::kMaxRank> start{}, stop{};
  int axis = 0;
  for (const Range& r : ranges) {
    start[axis] = std::clamp<int64_t>(r.start, 0, s.dims()[axis]);
    stop[axis] = std::clamp<int64_t>(r.stop, start[axis], s.dims()[axis]);
    ++axis;
  }
  Tensor copy = to(dtype());
  dispatch(dtype(), [&]<typename T>() {
    T* out = copy.mutable_data<T>();
    const auto strides = s.strides();
    for (int64_t position = 0; position < s.numel(); ++position) {
      bool inside = true;
      for (int a = 0; a < s.rank() && inside; ++a) {
        const int64_t i = position / strides[a] % s.dims()[a];
        inside = i >= start[a] && i < stop[a];
      }
      if (inside) out[position] = convert<T>(value, "Tensor::with");
    }
  });
  return copy;
}

Tensor Tensor::to(DType target) const {
  Tensor out = empty(shape(), target);
  dispatch(dtype(), [&]<typename From>() {
    dispatch(target, [&]<typename To>() {
      std::ranges::transform(data<From>(), out.mutable_data<To>(), [](From v) { return convert<To>(v, "Tensor::to"); });
    });
  });
  return out;
}

Tensor Tensor::reshaped(const Shape& shape) const {
  if (shape.numel() != numel()) fail("reshaped: cannot view {} ({} elements) as {}", this->shape(), numel(), shape);
  if (shape == this->shape()) return *this;
  Tensor out = empty(shape, dtype());
  std::memcpy(out.mutable_raw_data(), raw_data(), static_cast<size_t>(numel()) * dtype_size(dtype()));
  return out;
}

Tensor full(const Shape& shape, double value, DType dtype) {
  Tensor out = Tensor::empty(shape, dtype);
  dispatch(dtype, [&]<typename T>() { std::fill_n(out.mutable_data<T>(), shape.numel(), convert<T>(value, "full")); });
  return out;
}

Tensor zeros(const Shape& shape, DType dtype) { return full(shape, 0.0, dtype); }
Tensor ones(const Shape& shape, DType dtype) { return full(shape, 1.0, dtype); }
Tensor zeros_like(const Tensor& like) { return zeros(like.shape(), like.dtype()); }
Tensor ones_like(const Tensor& like) { return ones(like.shape(), like.dtype()); }

Tensor arange(double start, double stop, double step, DType dtype) {
  if (step == 0 || !std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step)) {
    fail("arange: expected finite start, stop and a non-zero step, got {}, {}, {}", start, stop, step);
  }
  // NOTE: 2^60 elements at most, as any op's output (autograd/detail/checked.hpp); the count is
  // compared as a double before it becomes an integer (a larger double has no int64).
  const double steps = std::max(0.0, std::ceil((stop - start) / step));
  if (!(steps <= 0x1p60)) {
    fail("arange: from {} to {} by {} is {} elements; expected at most 2^60", start, stop, step, steps);
  }
  const auto count = static_cast<int64_t>(steps);
  Tensor out = Tensor::empty(Shape{count}, dtype);
  dispatch(dtype, [&]<typename T>() {
    T* values = out.mutable_data<T>();
    for (int64_t i = 0; i < count; ++i) values[i] = convert<T>(start + static_cast<double>(i) * step, "arange");
  });
  return out;
}

Tensor arange(double stop, DType dtype) { return arange(0.0, stop, 1.0, dtype); }

namespace {

template <typename T>
void append_nested(std::string& out, const T* values, const Shape& shape, int axis, int64_t offset,
                   const std::array<int64_t, Shape::kMaxRank>& strides, int64_t edgeitems) {
  if (axis == shape.rank()) {
    fmt::format_to(std::back_inserter(out), "{}", values[offset]);
    return;
  }
  const int64_t size = shape.dims()[axis];
  out += '[';
  for (int64_t i = 0; i < size; ++i) {
    if (edgeitems >= 0 && size > 2 * edgeitems && i == edgeitems) {
      out += "...";
      i = size - edgeitems;
      if (i == size) break;
      out += ", ";
    }
    append_nested(out, values, shape, axis + 1, offset + i * strides[axis], strides, edgeitems);
    if (i + 1 < size) out += ", ";
  }
  out += ']';
}

}  // namespace

std::string to_string(const Tensor& tensor) { return to_string(tensor, PrintOptions{}); }

std::string to_string(const Tensor& tensor, const PrintOptions& options) {
  if (!tensor.defined()) return "(undefined)";
  if (options.threshold < 0 || options.edgeitems < 0) {
    fail("to_string: print options threshold={}, edgeitems={}; expected both >= 0", options.threshold,
         options.edgeitems);
  }
  // -1: no axis is elided.
  const int64_t edgeitems = tensor.numel() > options.threshold ? options.edgeitems : -1;
  std::string out;
  dispatch(tensor.dtype(), [&]<typename T>() {
    append_nested(out, tensor.data<T>().data(), tensor.shape(), 0, 0, tensor.shape().strides(), edgeitems);
  });
  return out;
}

std::ostream& operator<<(std::ostream& out, const Tensor& tensor) { return out << to_string(tensor); }

}  // namespace tapegrad
