// Reductions: sum over axes (the primitive) and mean (sum divided by the count).

#include "autograd/kernels.hpp"
#include "autograd/op_registry.hpp"
#include "autograd/ops.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {

using detail::register_op;

namespace {
// x's shape with the reduced axes set to 1 (keepdims) or removed.
Shape reduced_shape(const Shape& shape, const std::array<bool, Shape::kMaxRank>& reduce, bool keepdims) {
  Shape out;
  for (int k = 0; k < shape.rank(); ++k) {
    if (!reduce[k]) out.push_back(shape.dims()[k]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

std::array<bool, Shape::kMaxRank> axis_mask(const Shape& shape, const std::vector<int>& axes, const char* op) {
  std::array<bool, Shape::kMaxRank> reduce{};
  for (int axis : axes) {
    const int k = normalize_axis(axis, shape.rank(), op);
    if (reduce[k]) fail("{}: axis {} appears twice for shape {}", op, axis, shape);
    reduce[k] = true;
  }
  return reduce;
}
}  // namespace

const char* const kSum = register_op("sum");
Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  const auto reduce = axis_mask(x.shape(), axes, kSum);
  Tensor y = kernels::reduce_sum(x, reduce).reshaped(reduced_shape(x.shape(), reduce, keepdims));
  std::vector<double> attrs;
  for (int k = 0; k < x.rank(); ++k) attrs.push_back(reduce[k] ? 1.0 : 0.0);
  return record(
      kSum, {x}, y,
      [](const BackwardArgs& g) -> Grads {
        const Shape& in = g.input(0).shape();
        Shape kept;
        for (int k = 0; k < in.rank(); ++k) kept.push_back(g.attrs[static_cast<size_t>(k)] != 0.0 ? 1 : in.dims()[k]);
        return {broadcast_to(reshape(g.grad, kept), in)};
      },
      std::move(attrs));
}

Tensor sum(const Tensor& x) {
  std::vector<int> axes(static_cast<size_t>(x.rank()));
  for (int k = 0; k < x.rank(); ++k) axes[static_cast<size_t>(k)] = k;
  return sum(x, axes, false);
}

Tensor sum(const Tensor& x, int axis, bool keepdims) { return sum(x, std::vector<int>{axis}, keepdims); }

Tensor mean(const Tensor& x) {
  if (x.numel() == 0) fail("mean: the mean of an empty tensor ({}) is undefined", x.shape());
  return sum(x) / static_cast<double>(x.numel());
}

Tensor mean(const Tensor& x, int axis, bool keepdims) {
  const int64_t count = x.shape()[normalize_axis(axis, x.rank(), "mean")];
  if (count == 0) fail("mean: axis {} of shape {} is empty", axis, x.shape());
  return sum(x, axis, keepdims) / static_cast<double>(count);
}

}  // namespace tapegrad
