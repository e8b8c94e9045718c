// Reductions: sum over axes (the primitive) and mean (sum divided by the count).

#include <tapegrad/autograd/ops.hpp>
#include "autograd/detail/checked.hpp"
#include "autograd/kernels/kernels.hpp"
#include "autograd/ops/op_registry.hpp"
#include "autograd/ops/record.hpp"

#include <cmath>

namespace tapegrad {

namespace {
// The attributes of sum, reduce_max and logsumexp: which of the input's axes are reduced.
struct ReduceAttrs {
  AxisMask axes;
  std::string print() const { return fmt::format("axes=[{}]", fmt::join(axes_of(axes), ", ")); }
};

// x's shape with the reduced axes set to 1 (keepdims) or removed.
Shape reduced_shape(const Shape& shape, const AxisMask& reduce, bool keepdims) {
  Shape out;
  for (int k = 0; k < shape.rank(); ++k) {
    if (!reduce[k]) out.push_back(shape.dims()[k]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

// Which axes to reduce; an empty list means all of them.
AxisMask axis_mask(const Shape& shape, const std::vector<int>& axes, const char* op) {
  AxisMask reduce{};
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
// The input's shape with the reduced axes kept as size 1.
Shape kept_shape(const Shape& in, const AxisMask& reduced) {
  Shape kept;
  for (int k = 0; k < in.rank(); ++k) kept.push_back(reduced[k] ? 1 : in.dims()[k]);
  return kept;
}

int64_t reduced_count(const Shape& shape, const AxisMask& reduce) {
  int64_t count = 1;
  for (int k = 0; k < shape.rank(); ++k) count *= reduce[k] ? shape.dims()[k] : 1;
  return count;
}

// x as float64 when it is int64 (NumPy's mean of integers), else x itself.
Tensor floating(const Tensor& x) { return x.dtype() == DType::int64 ? x.to(DType::float64) : x; }
}  // namespace

constexpr const char* kSum = "sum";
Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  detail::check_defined(kSum, {x});
  const auto reduce = axis_mask(x.shape(), axes, kSum);
  // NOTE: an int64 sum is exact (an overflow is an error) and, as every int64 result, not differentiable:
  // nothing is recorded.
  if (x.dtype() == DType::int64)
    return kernels::reduce_sum_int64(x, reduce, kSum).reshaped(reduced_shape(x.shape(), reduce, keepdims));
  Tensor y = kernels::reduce_sum(x, reduce).reshaped(reduced_shape(x.shape(), reduce, keepdims));
  return record(
      kSum, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        const Shape& in = args.input_shape(0);
        return {broadcast_to(reshape(args.grad, kept_shape(in, args.attrs<ReduceAttrs>().axes)), in)};
      },
      ReduceAttrs{reduce}, InputUse::shapes);
}

Tensor sum(const Tensor& x) { return sum(x, std::vector<int>{}, false); }

Tensor sum(const Tensor& x, int axis, bool keepdims) { return sum(x, std::vector<int>{axis}, keepdims); }

Tensor mean(const Tensor& x) {
  detail::check_defined("mean", {x});
  if (x.numel() == 0) fail("mean: the mean of an empty tensor ({}) is undefined", x.shape());
  return sum(floating(x)) / static_cast<double>(x.numel());
}

Tensor mean(const Tensor& x, int axis, bool keepdims) {
  detail::check_defined("mean", {x});
  const int64_t count = x.shape()[normalize_axis(axis, x.rank(), "mean")];
  if (count == 0) fail("mean: axis {} of shape {} is empty", axis, x.shape());
  return sum(floating(x), axis, keepdims) / static_cast<double>(count);
}

Tensor reduce_sum(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  detail::check_defined("reduce_sum", {x});
  axis_mask(x.shape(), axes, "reduce_sum");  // the axes' errors name reduce_sum
  return sum(x, axes, keepdims);
}

Tensor reduce_mean(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  detail::check_defined("reduce_mean", {x});
  const int64_t count = reduced_count(x.shape(), axis_mask(x.shape(), axes, "reduce_mean"));
  if (count == 0) fail("reduce_mean: the mean over no elements (shape {}) is undefined", x.shape());
  return sum(floating(x), axes, keepdims) / static_cast<double>(count);
}

constexpr const char* kReduceMax = "reduce_max";
Tensor reduce_max(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  detail::check_defined(kReduceMax, {x});
  const auto reduce = axis_mask(x.shape(), axes, kReduceMax);
  if (reduced_count(x.shape(), reduce) == 0)
    fail("reduce_max: the maximum over no elements (shape {}) is undefined", x.shape());
  Tensor y = kernels::reduce_max(x, reduce).reshaped(reduced_shape(x.shape(), reduce, keepdims));
  if (x.dtype() == DType::int64) return y;  // exact, and not differentiable: nothing is recorded
  // NOTE: tied maxima share the gradient equally, as in TensorFlow.
  return record(
      kReduceMax, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        const Tensor& in = args.input(0);
        const AxisMask& axes = args.attrs<ReduceAttrs>().axes;
        const Shape kept = kept_shape(in.shape(), axes);
        const Tensor winners = equal(in, reshape(stop_gradient(args.output), kept));
        const Tensor share = winners / sum(winners, axes_of(axes), true);
        return {reshape(args.grad, kept) * share};
      },
      ReduceAttrs{reduce});
}

constexpr const char* kLogsumexp = "logsumexp";
Tensor logsumexp(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  detail::check_defined(kLogsumexp, {x});
  if (!is_floating(x.dtype()))
    fail("logsumexp: expected a float32 or float64 tensor, got {} {}", x.shape(), dtype_name(x.dtype()));
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
      [](const BackwardArgs& args) -> Grads {
        const Tensor& in = args.input(0);
        const Shape kept = kept_shape(in.shape(), args.attrs<ReduceAttrs>().axes);
        return {reshape(args.grad, kept) * exp(in - reshape(args.output, kept))};
      },
      ReduceAttrs{reduce});
}

// The ops defined above, for differentiable_ops().
std::vector<const char*> detail::reduce_ops() { return {kSum, kReduceMax, kLogsumexp}; }

}  // namespace tapegrad
