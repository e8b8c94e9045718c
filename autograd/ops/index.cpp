// Joining, indexing and axis bookkeeping: concat, stack, gather, one_hot, expand_dims, squeeze, argmax.

#include <tapegrad/autograd/ops.hpp>
#include "autograd/detail/checked.hpp"
#include "autograd/kernels/kernels.hpp"
#include "autograd/ops/op_registry.hpp"
#include "autograd/ops/record.hpp"

namespace tapegrad {

namespace {
// The sizes before and after `axis`, as products: x viewed as (outer, dim, inner).
struct AxisView {
  int64_t outer = 1, dim = 1, inner = 1;
};
AxisView view_around(const Shape& shape, int axis) {
  AxisView v;
  for (int k = 0; k < axis; ++k) v.outer *= shape.dims()[k];
  v.dim = shape.dims()[axis];
  for (int k = axis + 1; k < shape.rank(); ++k) v.inner *= shape.dims()[k];
  return v;
}

void check_indices(const Tensor& indices, int64_t dim, const char* op, const Shape& shape, int axis) {
  if (indices.dtype() != DType::int64) fail("{}: indices are {}, expected int64", op, dtype_name(indices.dtype()));
  for (int64_t i : indices.data<int64_t>()) {
    if (i < 0 || i >= dim)
      fail("{}: index {} is out of range for axis {} of shape {} (size {})", op, i, axis, shape, dim);
  }
}

// shape with axis replaced by the axes of `middle`; too many axes or elements are `op`'s error.
Shape splice(const Shape& shape, int axis, const Shape& middle, const char* op) {
  std::vector<int64_t> dims(shape.dims().begin(), shape.dims().begin() + axis);
  dims.insert(dims.end(), middle.dims().begin(), middle.dims().end());
  dims.insert(dims.end(), shape.dims().begin() + axis + 1, shape.dims().end());
  return detail::checked_shape(dims, op);
}
}  // namespace

constexpr const char* kConcat = "concat";
Tensor concat(const std::vector<Tensor>& tensors, int axis) {
  if (tensors.empty()) fail("concat: expected at least one tensor, got none");
  detail::check_defined(kConcat, tensors);
  const Tensor& first = tensors.front();
  const int k = normalize_axis(axis, first.rank(), kConcat);
  detail::CheckedInt total = 0;
  for (const Tensor& t : tensors) {
    if (t.dtype() != first.dtype() || t.rank() != first.rank() || t.shape().with(k, 0) != first.shape().with(k, 0)) {
      fail("concat: {} {} does not fit {} {} along axis {} (expected one dtype and equal sizes off that axis)",
           t.shape(), dtype_name(t.dtype()), first.shape(), dtype_name(first.dtype()), axis);
    }
    total = total + t.shape()[k];
  }
  if (total.overflow) fail("concat: {} tensors along axis {} make more than an int64 counts", tensors.size(), axis);
  std::vector<int64_t> dims(first.shape().dims().begin(), first.shape().dims().end());
  dims[static_cast<size_t>(k)] = total.value;
  const Shape out_shape = detail::checked_shape(dims, kConcat);
  Tensor y = Tensor::empty(out_shape, first.dtype());
  const int64_t axis_stride = out_shape.strides()[k];
  int64_t start = 0;
  for (const Tensor& t : tensors) {
    kernels::strided_copy(t, kernels::dense_view(t.shape()), y, kernels::dense_view(out_shape, start * axis_stride),
                          t.shape());
    start += t.shape()[k];
  }
  return record(
      kConcat, tensors, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        const int axis_k = args.attrs<AxisAttrs>().axis;
        Grads grads;
        int64_t begin = 0;
        for (size_t i = 0; i < args.inputs.size(); ++i) {
          const int64_t size = args.input_shape(i)[axis_k];
          std::vector<Slice> slices(static_cast<size_t>(axis_k) + 1);
          slices.back() = {begin, begin + size, 1};
          grads.push_back(args.needs(i) ? slice(args.grad, slices) : Tensor{});
          begin += size;
        }
        return grads;
      },
      AxisAttrs{k}, InputUse::shapes);
}

Tensor stack(const std::vector<Tensor>& tensors, int axis) {
  detail::check_defined("stack", tensors);
  if (tensors.empty()) fail("stack: expected at least one tensor, got none");
  const Tensor& first = tensors.front();
  const int k = normalize_axis(axis, first.rank() + 1, "stack");
  std::vector<Tensor> expanded;
  for (const Tensor& t : tensors) {
    if (t.shape() != first.shape() || t.dtype() != first.dtype()) {
      fail("stack: {} {} and {} {} differ; expected one shape and one dtype", first.shape(), dtype_name(first.dtype()),
           t.shape(), dtype_name(t.dtype()));
    }
    expanded.push_back(expand_dims(t, k));
  }
  return concat(expanded, k);
}

constexpr const char* kGather = "gather";
Tensor gather(const Tensor& x, const Tensor& indices, int axis) {
  detail::check_defined(kGather, {x, indices});
  const int k = normalize_axis(axis, x.rank(), kGather);
  const AxisView v = view_around(x.shape(), k);
  check_indices(indices, v.dim, kGather, x.shape(), axis);
  Tensor y = Tensor::empty(splice(x.shape(), k, indices.shape(), kGather), x.dtype());
  kernels::gather(x, indices, y, v.outer, v.dim, v.inner);
  return record(
      kGather, {x, indices}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        return {scatter_add(args.grad, args.input(1), args.attrs<AxisAttrs>().axis, args.input(0).shape()), Tensor{}};
      },
      AxisAttrs{k});
}

constexpr const char* kScatterAdd = "scatter_add";
Tensor scatter_add(const Tensor& dy, const Tensor& indices, int axis, const Shape& shape) {
  detail::check_defined(kScatterAdd, {dy, indices});
  const int k = normalize_axis(axis, shape.rank(), kScatterAdd);
  const AxisView v = view_around(shape, k);
  check_indices(indices, v.dim, kScatterAdd, shape, axis);
  if (dy.shape() != splice(shape, k, indices.shape(), kScatterAdd)) {
    fail("scatter_add: values {} do not match {} gathered at indices {} along axis {} (expected {})", dy.shape(), shape,
         indices.shape(), axis, splice(shape, k, indices.shape(), kScatterAdd));
  }
  Tensor y = Tensor::empty(shape, dy.dtype());
  kernels::scatter_add(dy, indices, y, v.outer, v.dim, v.inner);
  return record(
      kScatterAdd, {dy, indices}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        return {gather(args.grad, args.input(1), args.attrs<AxisAttrs>().axis), Tensor{}};
      },
      AxisAttrs{k});
}

Tensor one_hot(const Tensor& indices, int64_t depth, DType dtype) {
  detail::check_defined("one_hot", {indices});
  if (indices.dtype() != DType::int64) fail("one_hot: indices are {}, expected int64", dtype_name(indices.dtype()));
  if (depth < 0) fail("one_hot: depth {} is negative", depth);
  std::vector<int64_t> dims(indices.shape().dims().begin(), indices.shape().dims().end());
  dims.push_back(depth);
  const Shape shape = detail::checked_shape(dims, "one_hot");
  Tensor y = zeros(shape, dtype);
  dispatch_floating(dtype, "one_hot", [&]<typename T>() {
    T* out = y.mutable_data<T>();
    int64_t row = 0;
    // NOTE: an index outside [0, depth) gives a row of zeros, as TensorFlow's one_hot.
    for (int64_t i : indices.data<int64_t>()) {
      if (i >= 0 && i < depth) out[row * depth + i] = T{1};
      ++row;
    }
  });
  return y;
}

Tensor expand_dims(const Tensor& x, int axis) {
  detail::check_defined("expand_dims", {x});
  const int k = normalize_axis(axis, x.rank() + 1, "expand_dims");
  Shape shape;
  for (int i = 0; i < x.rank(); ++i) {
    if (i == k) shape.push_back(1);
    shape.push_back(x.shape().dims()[i]);
  }
  if (k == x.rank()) shape.push_back(1);
  return reshape(x, shape);
}

Tensor squeeze(const Tensor& x, const std::vector<int>& axes) {
  detail::check_defined("squeeze", {x});
  std::array<bool, Shape::kMaxRank> drop{};
  for (int axis : axes) {
    const int k = normalize_axis(axis, x.rank(), "squeeze");
    if (x.shape().dims()[k] != 1)
      fail("squeeze: axis {} of shape {} has size {}, expected 1", axis, x.shape(), x.shape().dims()[k]);
    drop[k] = true;
  }
  Shape shape;
  for (int k = 0; k < x.rank(); ++k) {
    const bool dropped = axes.empty() ? x.shape().dims()[k] == 1 : drop[k];
    if (!dropped) shape.push_back(x.shape().dims()[k]);
  }
  return reshape(x, shape);
}

Tensor argmax(const Tensor& x, int axis) {
  detail::check_defined("argmax", {x});
  const int k = normalize_axis(axis, x.rank(), "argmax");
  const AxisView v = view_around(x.shape(), k);
  if (v.dim == 0) fail("argmax: axis {} of shape {} is empty", axis, x.shape());
  Shape shape;
  for (int i = 0; i < x.rank(); ++i) {
    if (i != k) shape.push_back(x.shape().dims()[i]);
  }
  Tensor out = Tensor::empty(shape, DType::int64);
  kernels::argmax(x, out, v.outer, v.dim, v.inner);
  return out;
}

// The ops defined above, for differentiable_ops().
std::vector<const char*> detail::index_ops() { return {kConcat, kGather, kScatterAdd}; }

}  // namespace tapegrad
