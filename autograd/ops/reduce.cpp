// Reductions: sum over axes (the primitive) and mean (sum divided by the count).

#include <tapegrad/autograd/ops.hpp>
#include "autograd/kernels/kernels.hpp"
#include "autograd/ops/op_registry.hpp"
#include "autograd/ops/record.hpp"

#include <cmath>

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

// Which axes to reduce; an empty list means all of them.
std::array<bool, Shape::kMaxRank> axis_mask(const Shape& shape, const std::vector<int>& axes, const char* op) {
  std::array<bool, Shape::kMaxRank> reduce{};
  if (axes.empty()) {
    for (int k = 0; k < shape.rank(); ++k) reduce[k] = true;
    return reduce;
  }
  for (int axis : axes) {
    const int k = normalize_axis(axis, shape.rank(), op);
    if (reduce[k]) fail("{}: axis {} appears twice for shape {}", op, axis, shape);
    reduce[k] = true;
  }
  return reduce;
}
std::vector<double> mask_attrs(const std::array<bool, Shape::kMaxRank>& reduce, int rank) {
  std::vector<double> attrs;
  for (int k = 0; k < rank; ++k) attrs.push_back(reduce[k] ? 1.0 : 0.0);
  return attrs;
}

// The input's shape with the reduced axes (attrs[k] != 0) kept as size 1.
Shape kept_shape(const Shape& in, std::span<const double> attrs) {
  Shape kept;
  for (int k = 0; k < in.rank(); ++k) kept.push_back(attrs[static_cast<size_t>(k)] != 0.0 ? 1 : in.dims()[k]);
  return kept;
}

std::vector<int> reduced_axes(std::span<const double> attrs) {
  std::vector<int> axes;
  for (size_t k = 0; k < attrs.size(); ++k) {
    if (attrs[k] != 0.0) axes.push_back(static_cast<int>(k));
  }
  return axes;
}

int64_t reduced_count(const Shape& shape, const std::array<bool, Shape::kMaxRank>& reduce) {
  int64_t count = 1;
  for (int k = 0; k < shape.rank(); ++k) count *= reduce[k] ? shape.dims()[k] : 1;
  return count;
}
}  // namespace

const char* const kSum = register_op("sum");
Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  const auto reduce = axis_mask(x.shape(), axes, kSum);
  Tensor y = kernels::reduce_sum(x, reduce).reshaped(reduced_shape(x.shape(), reduce, keepdims));
  return record(
      kSum, {x}, std::move(y),
      [](const BackwardArgs& g) -> Grads {
        const Shape& in = g.input_shape(0);
        return {broadcast_to(reshape(g.grad, kept_shape(in, g.attrs)), in)};
      },
      mask_attrs(reduce, x.rank()), InputUse::shapes);
}

Tensor sum(const Tensor& x) { return sum(x, std::vector<int>{}, false); }

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

Tensor reduce_sum(const Tensor& x, const std::vector<int>& axes, bool keepdims) { return sum(x, axes, keepdims); }

Tensor reduce_mean(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  const int64_t count = reduced_count(x.shape(), axis_mask(x.shape(), axes, "reduce_mean"));
  if (count == 0) fail("reduce_mean: the mean over no elements (shape {}) is undefined", x.shape());
  return sum(x, axes, keepdims) / static_cast<double>(count);
}

const char* const kReduceMax = register_op("reduce_max");
Tensor reduce_max(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  const auto reduce = axis_mask(x.shape(), axes, kReduceMax);
  if (reduced_count(x.shape(), reduce) == 0)
    fail("reduce_max: the maximum over no elements (shape {}) is undefined", x.shape());
  Tensor y = kernels::reduce_max(x, reduce).reshaped(reduced_shape(x.shape(), reduce, keepdims));
  // NOTE: tied maxima share the gradient equally, as in TensorFlow.
  return record(
      kReduceMax, {x}, std::move(y),
      [](const BackwardArgs& g) -> Grads {
        const Tensor& in = g.input(0);
        const Shape kept = kept_shape(in.shape(), g.attrs);
        const Tensor winners = equal(in, reshape(stop_gradient(g.output), kept));
        const Tensor share = winners / sum(winners, reduced_axes(g.attrs), true);
        return {reshape(g.grad, kept) * share};
      },
      mask_attrs(reduce, x.rank()));
}

const char* const kLogsumexp = register_op("logsumexp");
Tensor logsumexp(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  const auto reduce = axis_mask(x.shape(), axes, kLogsumexp);
  if (reduced_count(x.shape(), reduce) == 0) fail("logsumexp: no elements to reduce in shape {}", x.shape());
  Tensor y;
  {
    StopRecording forward_only;  // log(sum(exp(x - m))) + m with m the maximum: no overflow
    Tensor m = kernels::reduce_max(x, reduce);
    m = kernels::map(m, kLogsumexp, [](auto v) { return std::isfinite(v) ? v : decltype(v){0}; });
    const Tensor kept = log(kernels::reduce_sum(exp(x - m), reduce)) + m;
    y = kept.reshaped(reduced_shape(x.shape(), reduce, keepdims));
  }
  return record(
      kLogsumexp, {x}, std::move(y),
      [](const BackwardArgs& g) -> Grads {
        const Tensor& in = g.input(0);
        const Shape kept = kept_shape(in.shape(), g.attrs);
        return {reshape(g.grad, kept) * exp(in - reshape(g.output, kept))};
      },
      mask_attrs(reduce, x.rank()));
}

}  // namespace tapegrad
