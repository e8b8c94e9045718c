// Shape ops: reshape, transpose, broadcast, slice, pad, flip. Each forward is one strided copy.

#include <tapegrad/autograd/ops.hpp>
#include "autograd/kernels/kernels.hpp"
#include "autograd/ops/op_registry.hpp"
#include "autograd/ops/record.hpp"

#include <algorithm>
#include <numeric>

namespace tapegrad {

using detail::register_op;

namespace {

std::vector<double> as_attrs(std::span<const int64_t> values) { return {values.begin(), values.end()}; }

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
    r.shape.push_back((s.end - s.begin + s.step - 1) / s.step);
    r.view.offset += s.begin * strides[k];
    r.view.strides[k] = s.step * strides[k];
    r.slices.push_back(s);
  }
  return r;
}

std::vector<double> slice_attrs(const std::vector<Slice>& slices) {
  std::vector<double> attrs;
  for (const Slice& s : slices) attrs.insert(attrs.end(), {double(s.begin), double(s.end), double(s.step)});
  return attrs;
}

std::vector<Slice> slices_from_attrs(std::span<const double> attrs) {
  std::vector<Slice> slices;
  for (size_t i = 0; i + 2 < attrs.size(); i += 3) {
    slices.push_back(
        {static_cast<int64_t>(attrs[i]), static_cast<int64_t>(attrs[i + 1]), static_cast<int64_t>(attrs[i + 2])});
  }
  return slices;
}

}  // namespace

const char* const kReshape = register_op("reshape");
Tensor reshape(const Tensor& x, const Shape& shape) {
  if (shape.numel() != x.numel())
    fail("reshape: cannot reshape {} ({} elements) to {} ({} elements)", x.shape(), x.numel(), shape, shape.numel());
  if (shape == x.shape()) return x;
  return record(
      kReshape, {x}, x.reshaped(shape),
      [](const BackwardArgs& g) -> Grads { return {reshape(g.grad, g.input_shape(0))}; }, {}, InputUse::shapes);
}

const char* const kTranspose = register_op("transpose");
Tensor transpose(const Tensor& x, const std::vector<int>& permutation) {
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
  std::vector<double> attrs(permutation.begin(), permutation.end());
  return record(
      kTranspose, {x}, std::move(y),
      [](const BackwardArgs& g) -> Grads {
        std::vector<int> inverse(g.attrs.size());
        for (size_t k = 0; k < g.attrs.size(); ++k) inverse[static_cast<size_t>(g.attrs[k])] = static_cast<int>(k);
        return {transpose(g.grad, inverse)};
      },
      std::move(attrs), InputUse::shapes);
}

Tensor transpose(const Tensor& x) {
  if (x.rank() != 2)
    fail("transpose: expected a matrix (rank 2), got shape {}; pass a permutation for other ranks", x.shape());
  return transpose(x, {1, 0});
}

const char* const kBroadcastTo = register_op("broadcast_to");
Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  if (x.rank() > shape.rank() || broadcast_shapes(x.shape(), shape, "broadcast_to") != shape) {
    fail("broadcast_to: cannot broadcast {} to {} (expected sizes equal or 1, aligned from the right)", x.shape(),
         shape);
  }
  if (x.shape() == shape) return x;
  Tensor y = gather_view(x, kernels::broadcast_view(x.shape(), shape), shape);
  return record(
      kBroadcastTo, {x}, std::move(y),
      [](const BackwardArgs& g) -> Grads { return {sum_to(g.grad, g.input_shape(0))}; }, {}, InputUse::shapes);
}

const char* const kSumTo = register_op("sum_to");
Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (shape.rank() > x.rank() || broadcast_shapes(shape, x.shape(), "sum_to") != x.shape()) {
    fail("sum_to: cannot sum {} down to {} (expected {} to broadcast to {})", x.shape(), shape, shape, x.shape());
  }
  if (x.shape() == shape) return x;
  std::array<bool, Shape::kMaxRank> reduce{};
  const int lead = x.rank() - shape.rank();
  for (int k = 0; k < x.rank(); ++k) reduce[k] = k < lead || (shape.dims()[k - lead] == 1 && x.shape().dims()[k] != 1);
  Tensor y = kernels::reduce_sum(x, reduce).reshaped(shape);
  return record(
      kSumTo, {x}, std::move(y),
      [](const BackwardArgs& g) -> Grads { return {broadcast_to(g.grad, g.input_shape(0))}; }, {}, InputUse::shapes);
}

const char* const kSlice = register_op("slice");
Tensor slice(const Tensor& x, const std::vector<Slice>& slices) {
  const ResolvedSlices r = resolve_slices(x.shape(), slices, kSlice);
  Tensor y = gather_view(x, r.view, r.shape);
  return record(
      kSlice, {x}, std::move(y),
      [](const BackwardArgs& g) -> Grads { return {unslice(g.grad, g.input_shape(0), slices_from_attrs(g.attrs))}; },
      slice_attrs(r.slices), InputUse::shapes);
}

Tensor rows(const Tensor& x, int64_t start, int64_t stop) {
  if (x.rank() != 2) fail("rows: expected a matrix (rank 2), got shape {}", x.shape());
  return slice(x, {{start, stop, 1}});
}

Tensor cols(const Tensor& x, int64_t start, int64_t stop) {
  if (x.rank() != 2) fail("cols: expected a matrix (rank 2), got shape {}", x.shape());
  return slice(x, {{}, {start, stop, 1}});
}

const char* const kUnslice = register_op("unslice");
Tensor unslice(const Tensor& x, const Shape& shape, const std::vector<Slice>& slices) {
  const ResolvedSlices r = resolve_slices(shape, slices, kUnslice);
  if (r.shape != x.shape())
    fail("unslice: the slice of {} is {}, but the tensor given is {}", shape, r.shape, x.shape());
  Tensor y = embed(x, shape, r.view);
  return record(
      kUnslice, {x}, std::move(y),
      [](const BackwardArgs& g) -> Grads { return {slice(g.grad, slices_from_attrs(g.attrs))}; }, slice_attrs(r.slices),
      InputUse::shapes);
}

const char* const kPad = register_op("pad");
Tensor pad(const Tensor& x, const std::vector<int64_t>& before, const std::vector<int64_t>& after) {
  const Shape& shape = x.shape();
  if (static_cast<int>(before.size()) != shape.rank() || static_cast<int>(after.size()) != shape.rank() ||
      std::ranges::any_of(before, [](int64_t p) { return p < 0; }) ||
      std::ranges::any_of(after, [](int64_t p) { return p < 0; })) {
    fail("pad: padding {} before and {} after for shape {}; expected one non-negative size per axis", join(before),
         join(after), shape);
  }
  Shape out;
  for (int k = 0; k < shape.rank(); ++k) out.push_back(before[k] + shape.dims()[k] + after[k]);
  kernels::StridedView inside = kernels::dense_view(out);
  for (int k = 0; k < shape.rank(); ++k) inside.offset += before[k] * inside.strides[k];
  Tensor y = embed(x, out, inside);
  return record(
      kPad, {x}, std::move(y),
      [](const BackwardArgs& g) -> Grads {
        std::vector<Slice> inner;
        const Shape& in = g.input_shape(0);
        for (int k = 0; k < in.rank(); ++k) {
          const auto b = static_cast<int64_t>(g.attrs[static_cast<size_t>(k)]);
          inner.push_back({b, b + in.dims()[k], 1});
        }
        return {slice(g.grad, inner)};
      },
      as_attrs(before), InputUse::shapes);
}

const char* const kFlip = register_op("flip");
Tensor flip(const Tensor& x, const std::vector<int>& axes) {
  const Shape& shape = x.shape();
  const auto strides = shape.strides();
  kernels::StridedView view;
  for (int k = 0; k < shape.rank(); ++k) view.strides[k] = strides[k];
  std::array<bool, Shape::kMaxRank> flipped{};
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
      [](const BackwardArgs& g) -> Grads { return {flip(g.grad, std::vector<int>(g.attrs.begin(), g.attrs.end()))}; },
      std::vector<double>(axes.begin(), axes.end()), InputUse::shapes);
}

}  // namespace tapegrad
