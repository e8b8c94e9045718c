// Shape ops: reshape, transpose, broadcast, slice, pad, flip. Each forward is one strided copy.

#include <tapegrad/autograd/ops.hpp>
#include "autograd/detail/checked.hpp"
#include "autograd/kernels/kernels.hpp"
#include "autograd/ops/op_registry.hpp"
#include "autograd/ops/record.hpp"

#include <algorithm>
#include <numeric>

namespace tapegrad {

namespace {

std::string join(std::span<const int64_t> values) { return fmt::format("[{}]", fmt::join(values, ", ")); }
std::string join(const std::vector<int>& values) { return fmt::format("[{}]", fmt::join(values, ", ")); }

// x placed at `dst_view` inside zeros of `shape`.
Tensor embed(const Tensor& x, const Shape& shape, const kernels::StridedView& dst_view) {
  Tensor y = zeros(shape, x.dtype());
  kernels::strided_copy(x, kernels::dense_view(x.shape()), y, dst_view, x.shape());
  return y;
}

// A copy of x through `src_view` into a fresh tensor of `shape`.
Tensor gather_view(const Tensor& x, const kernels::StridedView& src_view, const Shape& shape) {
  Tensor y = Tensor::empty(shape, x.dtype());
  kernels::strided_copy(x, src_view, y, kernels::dense_view(shape), shape);
  return y;
}

// Slices with Python's rules resolved: begin and end within [0, size], end >= begin.
struct ResolvedSlices {
  std::vector<Slice> slices;
  Shape shape;
  kernels::StridedView view;
};

ResolvedSlices resolve_slices(const Shape& shape, const std::vector<Slice>& slices, const char* op) {
  if (static_cast<int>(slices.size()) > shape.rank()) {
    fail("{}: {} slices given for a tensor of shape {} (expected at most one per axis)", op, slices.size(), shape);
  }
  ResolvedSlices r;
  const auto strides = shape.strides();
  for (int k = 0; k < shape.rank(); ++k) {
    Slice s = k < static_cast<int>(slices.size()) ? slices[k] : Slice{};
    const int64_t size = shape.dims()[k];
    if (s.step <= 0)
      fail("{}: step {} on axis {} of shape {}; expected a positive step (use flip to reverse)", op, s.step, k, shape);
    if (s.begin < 0) s.begin += size;
    if (s.end < 0) s.end += size;
    s.begin = std::clamp<int64_t>(s.begin, 0, size);
    s.end = std::clamp<int64_t>(s.end, s.begin, size);
    // A step past the end takes the first element alone, as Python: x[0:5:huge] has 1. Such a step
    // is kept as the slice's length, which selects the same element and keeps the stride in range.
    const int64_t length = s.end - s.begin;
    s.step = std::min(s.step, std::max<int64_t>(length, 1));
    r.shape.push_back(length == 0 ? 0 : (length - 1) / s.step + 1);
    r.view.offset += s.begin * strides[k];
    r.view.strides[k] = s.step * strides[k];
    r.slices.push_back(s);
  }
  return r;
}

// The attributes of slice and unslice: one resolved slice per axis, printed as Python writes them.
struct SliceAttrs {
  std::array<Slice, Shape::kMaxRank> slices{};
  int rank;
  explicit SliceAttrs(const std::vector<Slice>& resolved) : rank(static_cast<int>(resolved.size())) {
    std::ranges::copy(resolved, slices.begin());
  }
  std::vector<Slice> list() const { return {slices.begin(), slices.begin() + rank}; }
  std::string print() const {
    std::vector<std::string> each;
    for (const Slice& s : list()) {
      each.push_back(s.step == 1 ? fmt::format("{}:{}", s.begin, s.end)
                                 : fmt::format("{}:{}:{}", s.begin, s.end, s.step));
    }
    return fmt::format("slices=[{}]", fmt::join(each, ", "));
  }
};

// The attributes of transpose: output axis k is input axis permutation[k].
struct TransposeAttrs {
  std::array<int, Shape::kMaxRank> permutation{};
  int rank;
  explicit TransposeAttrs(const std::vector<int>& p) : rank(static_cast<int>(p.size())) {
    std::ranges::copy(p, permutation.begin());
  }
  std::string print() const {
    return fmt::format("permutation=[{}]", fmt::join(permutation.begin(), permutation.begin() + rank, ", "));
  }
};

// The attributes of pad: zeros before and after each axis.
struct PadAttrs {
  std::array<int64_t, Shape::kMaxRank> before{}, after{};
  int rank;
  PadAttrs(const std::vector<int64_t>& b, const std::vector<int64_t>& a) : rank(static_cast<int>(b.size())) {
    std::ranges::copy(b, before.begin());
    std::ranges::copy(a, after.begin());
  }
  std::string print() const {
    return fmt::format("before=[{}], after=[{}]", fmt::join(before.begin(), before.begin() + rank, ", "),
                       fmt::join(after.begin(), after.begin() + rank, ", "));
  }
};

// The attributes of flip: the axes reversed.
struct FlipAttrs {
  AxisMask axes;
  std::string print() const { return fmt::format("axes=[{}]", fmt::join(axes_of(axes), ", ")); }
};

}  // namespace

constexpr const char* kReshape = "reshape";
Tensor reshape(const Tensor& x, const Shape& shape) {
  detail::check_defined(kReshape, {x});
  if (shape.numel() != x.numel())
    fail("reshape: cannot reshape {} ({} elements) to {} ({} elements)", x.shape(), x.numel(), shape, shape.numel());
  if (shape == x.shape()) return x;
  return record(
      kReshape, {x}, x.reshaped(shape),
      [](const BackwardArgs& args) -> Grads { return {reshape(args.grad, args.input_shape(0))}; }, {},
      InputUse::shapes);
}

Tensor reshape(const Tensor& x, std::span<const int64_t> dims) {
  const auto listed = [&] { return fmt::format("[{}]", fmt::join(dims, ", ")); };
  if (dims.size() > static_cast<size_t>(Shape::kMaxRank))
    fail("reshape: {} has {} dimensions; at most {}", listed(), dims.size(), Shape::kMaxRank);
  std::array<int64_t, Shape::kMaxRank> resolved{};
  int inferred = -1;
  int64_t known = 1;  // the product of the dimensions other than the -1
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = dims[i];
    resolved[i] = d;
    if (d == -1) {
      if (inferred >= 0) fail("reshape: {} has more than one -1; at most one dimension can be inferred", listed());
      inferred = static_cast<int>(i);
    } else if (d < 0) {
      fail("reshape: dimension {} of {} is negative; expected sizes >= 0, or one -1 to infer", d, listed());
    } else if (__builtin_mul_overflow(known, d, &known)) {
      fail("reshape: {} holds more elements than an int64 counts", listed());
    }
  }
  if (inferred >= 0) {
    if (known == 0 || x.numel() % known != 0) {
      fail(
          "reshape: cannot infer -1 in {} for {} ({} elements): the other dimensions hold {}, which does not divide {}",
          listed(), x.shape(), x.numel(), known, x.numel());
    }
    resolved[static_cast<size_t>(inferred)] = x.numel() / known;
  }
  return reshape(x, Shape(std::span<const int64_t>(resolved.data(), dims.size())));
}

Tensor reshape(const Tensor& x, std::initializer_list<int64_t> dims) {
  return reshape(x, std::span<const int64_t>(dims.begin(), dims.size()));
}

constexpr const char* kTranspose = "transpose";
Tensor transpose(const Tensor& x, const std::vector<int>& permutation) {
  detail::check_defined(kTranspose, {x});
  const Shape& shape = x.shape();
  std::vector<int> sorted = permutation;
  std::ranges::sort(sorted);
  std::vector<int> identity(static_cast<size_t>(shape.rank()));
  std::iota(identity.begin(), identity.end(), 0);
  if (sorted != identity) {
    fail("transpose: permutation {} does not reorder the {} axes of shape {}", join(permutation), shape.rank(), shape);
  }
  const auto strides = shape.strides();
  Shape out;
  kernels::StridedView view;
  for (int k = 0; k < shape.rank(); ++k) {
    out.push_back(shape.dims()[permutation[k]]);
    view.strides[k] = strides[permutation[k]];
  }
  Tensor y = gather_view(x, view, out);
  return record(
      kTranspose, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        const TransposeAttrs& attrs = args.attrs<TransposeAttrs>();
        std::vector<int> inverse(static_cast<size_t>(attrs.rank));
        for (int k = 0; k < attrs.rank; ++k) inverse[static_cast<size_t>(attrs.permutation[k])] = k;
        return {transpose(args.grad, inverse)};
      },
      TransposeAttrs(permutation), InputUse::shapes);
}

Tensor transpose(const Tensor& x) {
  detail::check_defined(kTranspose, {x});
  if (x.rank() != 2)
    fail("transpose: expected a matrix (rank 2), got shape {}; pass a permutation for other ranks", x.shape());
  return transpose(x, {1, 0});
}

constexpr const char* kBroadcastTo = "broadcast_to";
Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  detail::check_defined(kBroadcastTo, {x});
  if (x.rank() > shape.rank() || broadcast_shapes(x.shape(), shape, "broadcast_to") != shape) {
    fail("broadcast_to: cannot broadcast {} to {} (expected sizes equal or 1, aligned from the right)", x.shape(),
         shape);
  }
  if (x.shape() == shape) return x;
  Tensor y = gather_view(x, kernels::broadcast_view(x.shape(), shape), shape);
  return record(
      kBroadcastTo, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads { return {sum_to(args.grad, args.input_shape(0))}; }, {}, InputUse::shapes);
}

constexpr const char* kSumTo = "sum_to";
Tensor sum_to(const Tensor& x, const Shape& shape) {
  detail::check_defined(kSumTo, {x});
  if (shape.rank() > x.rank() || broadcast_shapes(shape, x.shape(), "sum_to") != x.shape()) {
    fail("sum_to: cannot sum {} down to {} (expected {} to broadcast to {})", x.shape(), shape, shape, x.shape());
  }
  if (x.shape() == shape) return x;
  if (!is_floating(x.dtype()))
    fail("sum_to: expected a float32 or float64 tensor, got {} {}", x.shape(), dtype_name(x.dtype()));
  AxisMask reduce{};
  const int lead = x.rank() - shape.rank();
  for (int k = 0; k < x.rank(); ++k) reduce[k] = k < lead || (shape.dims()[k - lead] == 1 && x.shape().dims()[k] != 1);
  Tensor y = kernels::reduce_sum(x, reduce).reshaped(shape);
  return record(
      kSumTo, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads { return {broadcast_to(args.grad, args.input_shape(0))}; }, {},
      InputUse::shapes);
}

constexpr const char* kSlice = "slice";
Tensor slice(const Tensor& x, const std::vector<Slice>& slices) {
  detail::check_defined(kSlice, {x});
  const ResolvedSlices r = resolve_slices(x.shape(), slices, kSlice);
  Tensor y = gather_view(x, r.view, r.shape);
  return record(
      kSlice, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        return {unslice(args.grad, args.input_shape(0), args.attrs<SliceAttrs>().list())};
      },
      SliceAttrs(r.slices), InputUse::shapes);
}

Tensor rows(const Tensor& x, int64_t start, int64_t stop) {
  detail::check_defined("rows", {x});
  if (x.rank() != 2) fail("rows: expected a matrix (rank 2), got shape {}", x.shape());
  return slice(x, {{start, stop, 1}});
}

Tensor cols(const Tensor& x, int64_t start, int64_t stop) {
  detail::check_defined("cols", {x});
  if (x.rank() != 2) fail("cols: expected a matrix (rank 2), got shape {}", x.shape());
  return slice(x, {{}, {start, stop, 1}});
}

constexpr const char* kUnslice = "unslice";
Tensor unslice(const Tensor& x, const Shape& shape, const std::vector<Slice>& slices) {
  detail::check_defined(kUnslice, {x});
  const ResolvedSlices r = resolve_slices(shape, slices, kUnslice);
  if (r.shape != x.shape())
    fail("unslice: the slice of {} is {}, but the tensor given is {}", shape, r.shape, x.shape());
  Tensor y = embed(x, shape, r.view);
  return record(
      kUnslice, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads { return {slice(args.grad, args.attrs<SliceAttrs>().list())}; },
      SliceAttrs(r.slices), InputUse::shapes);
}

constexpr const char* kPad = "pad";
Tensor pad(const Tensor& x, const std::vector<int64_t>& before, const std::vector<int64_t>& after) {
  detail::check_defined(kPad, {x});
  const Shape& shape = x.shape();
  if (static_cast<int>(before.size()) != shape.rank() || static_cast<int>(after.size()) != shape.rank() ||
      std::ranges::any_of(before, [](int64_t p) { return p < 0; }) ||
      std::ranges::any_of(after, [](int64_t p) { return p < 0; })) {
    fail("pad: padding {} before and {} after for shape {}; expected one non-negative size per axis", join(before),
         join(after), shape);
  }
  std::array<int64_t, Shape::kMaxRank> padded{};
  for (int k = 0; k < shape.rank(); ++k) {
    const detail::CheckedInt size = detail::CheckedInt(before[k]) + shape.dims()[k] + after[k];
    if (size.overflow) {
      fail("pad: {} before and {} after axis {} of shape {} make more than an int64 counts", before[k], after[k], k,
           shape);
    }
    padded[k] = size.value;
  }
  const Shape out = detail::checked_shape({padded.data(), static_cast<size_t>(shape.rank())}, kPad);
  kernels::StridedView inside = kernels::dense_view(out);
  for (int k = 0; k < shape.rank(); ++k) inside.offset += before[k] * inside.strides[k];
  Tensor y = embed(x, out, inside);
  return record(
      kPad, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        std::vector<Slice> inner;
        const Shape& in = args.input_shape(0);
        const auto& before = args.attrs<PadAttrs>().before;
        for (int k = 0; k < in.rank(); ++k) inner.push_back({before[k], before[k] + in.dims()[k], 1});
        return {slice(args.grad, inner)};
      },
      PadAttrs(before, after), InputUse::shapes);
}

constexpr const char* kFlip = "flip";
Tensor flip(const Tensor& x, const std::vector<int>& axes) {
  detail::check_defined(kFlip, {x});
  const Shape& shape = x.shape();
  const auto strides = shape.strides();
  kernels::StridedView view;
  for (int k = 0; k < shape.rank(); ++k) view.strides[k] = strides[k];
  AxisMask flipped{};
  for (int axis : axes) {
    const int k = normalize_axis(axis, shape.rank(), kFlip);
    if (flipped[k]) fail("flip: axis {} appears twice in {}", axis, join(axes));
    flipped[k] = true;
    if (shape.dims()[k] > 0) view.offset += (shape.dims()[k] - 1) * strides[k];
    view.strides[k] = -strides[k];
  }
  Tensor y = gather_view(x, view, shape);
  return record(
      kFlip, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads { return {flip(args.grad, axes_of(args.attrs<FlipAttrs>().axes))}; },
      FlipAttrs{flipped}, InputUse::shapes);
}

// The ops defined above, for differentiable_ops().
std::vector<const char*> detail::shape_ops() {
  return {kReshape, kTranspose, kBroadcastTo, kSumTo, kSlice, kUnslice, kPad, kFlip};
}

}  // namespace tapegrad
