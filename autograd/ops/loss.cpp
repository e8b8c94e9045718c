// Softmax, log-softmax and the losses built on them.

#include <tapegrad/autograd/ops.hpp>
#include "autograd/kernels/kernels.hpp"
#include "autograd/ops/op_registry.hpp"
#include "autograd/ops/record.hpp"

namespace tapegrad {

constexpr const char* kSoftmax = "softmax";
Tensor softmax(const Tensor& x, int axis) {
  if (!is_floating(x.dtype()))
    fail("softmax: expected a float32 or float64 tensor, got {} {}", x.shape(), dtype_name(x.dtype()));
  const int k = normalize_axis(axis, x.rank(), kSoftmax);
  Tensor y;
  {
    StopRecording forward_only;  // e^(x - max) never overflows
    const Tensor e = exp(x - reduce_max(x, {k}, true));
    y = e / sum(e, k, true);
  }
  return record(
      kSoftmax, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        const int axis_k = args.attrs<AxisAttrs>().axis;
        return {args.output * (args.grad - sum(args.grad * args.output, axis_k, true))};
      },
      AxisAttrs{k}, InputUse::shapes);
}

constexpr const char* kLogSoftmax = "log_softmax";
Tensor log_softmax(const Tensor& x, int axis) {
  if (!is_floating(x.dtype()))
    fail("log_softmax: expected a float32 or float64 tensor, got {} {}", x.shape(), dtype_name(x.dtype()));
  const int k = normalize_axis(axis, x.rank(), kLogSoftmax);
  Tensor y;
  {
    StopRecording forward_only;
    y = x - logsumexp(x, {k}, true);
  }
  return record(
      kLogSoftmax, {x}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        const int axis_k = args.attrs<AxisAttrs>().axis;
        return {args.grad - exp(args.output) * sum(args.grad, axis_k, true)};
      },
      AxisAttrs{k}, InputUse::shapes);
}

namespace {
Tensor reduce_loss(const Tensor& per_example, Reduction reduction) {
  switch (reduction) {
    case Reduction::mean: return mean(per_example);
    case Reduction::sum: return sum(per_example);
    case Reduction::none: return per_example;
  }
  return per_example;
}
}  // namespace

Tensor mse(const Tensor& prediction, const Tensor& target, Reduction reduction) {
  if (prediction.shape() != target.shape()) {
    fail("mse: prediction {} and target {} differ; expected one shape", prediction.shape(), target.shape());
  }
  const NameScope scope("mse");  // its entries form one group in the printouts
  return reduce_loss(square(prediction - target), reduction);
}

Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels, Reduction reduction) {
  if (logits.rank() == 0) fail("softmax_cross_entropy: logits are a scalar; expected classes on the last axis");
  const int64_t classes = logits.shape()[-1];
  Tensor targets;
  if (labels.dtype() == DType::int64) {
    if (Shape(logits.shape().dims().first(static_cast<size_t>(logits.rank() - 1))) != labels.shape()) {
      fail("softmax_cross_entropy: logits {} and int64 labels {}; expected labels of the logits' shape without its "
           "last axis",
           logits.shape(), labels.shape());
    }
    for (int64_t label : labels.data<int64_t>()) {
      if (label < 0 || label >= classes)
        fail("softmax_cross_entropy: label {} is out of range for {} classes", label, classes);
    }
    targets = one_hot(labels, classes, logits.dtype());
  } else {
    if (labels.shape() != logits.shape() || labels.dtype() != logits.dtype()) {
      fail("softmax_cross_entropy: logits {} {} and labels {} {}; expected int64 class labels or probabilities of the "
           "logits' shape and dtype",
           logits.shape(), dtype_name(logits.dtype()), labels.shape(), dtype_name(labels.dtype()));
    }
    targets = labels;
  }
  const NameScope scope("softmax_cross_entropy");  // its entries form one group in the printouts
  return reduce_loss(-sum(targets * log_softmax(logits, -1), -1), reduction);
}

// The ops defined above, for differentiable_ops().
std::vector<const char*> detail::loss_ops() { return {kSoftmax, kLogSoftmax}; }

}  // namespace tapegrad
