// Softmax, log-softmax and the losses built on them.

#include <tapegrad/autograd/ops.hpp>
#include "autograd/detail/checked.hpp"
#include "autograd/kernels/kernels.hpp"
#include "autograd/ops/op_registry.hpp"
#include "autograd/ops/record.hpp"

namespace tapegrad {

namespace {
void check_float(const Tensor& x, const char* op) {
  if (!is_floating(x.dtype()))
    fail("{}: expected a float32 or float64 tensor, got {} {}", op, x.shape(), dtype_name(x.dtype()));
}

// softmax and log_softmax normalize over at least one element (an empty axis has no maximum).
void check_not_empty(const Tensor& x, int axis, const char* op) {
  if (x.shape()[axis] == 0)
    fail("{}: axis {} of shape {} is empty; expected elements to normalize over", op, axis, x.shape());
}
}  // namespace

constexpr const char* kSoftmaxCrossEntropy = "softmax_cross_entropy";
constexpr const char* kSoftmax = "softmax";
Tensor softmax(const Tensor& x, int axis) {
  detail::check_defined(kSoftmax, {x});
  check_float(x, kSoftmax);
  const int k = normalize_axis(axis, x.rank(), kSoftmax);
  check_not_empty(x, k, kSoftmax);
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
  detail::check_defined(kLogSoftmax, {x});
  check_float(x, kLogSoftmax);
  const int k = normalize_axis(axis, x.rank(), kLogSoftmax);
  check_not_empty(x, k, kLogSoftmax);
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
  detail::check_defined("mse", {prediction, target});
  check_float(prediction, "mse");
  if (prediction.numel() == 0 && reduction == Reduction::mean) {
    fail("mse: prediction {} is empty, and the mean over no elements is undefined (use Reduction::sum or none)",
         prediction.shape());
  }
  if (prediction.shape() != target.shape()) {
    fail("mse: prediction {} and target {} differ; expected one shape", prediction.shape(), target.shape());
  }
  const NameScope scope("mse");  // its entries form one group in the printouts
  return reduce_loss(square(prediction - target), reduction);
}

Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels, Reduction reduction) {
  detail::check_defined(kSoftmaxCrossEntropy, {logits, labels});
  check_float(logits, kSoftmaxCrossEntropy);
  if (logits.rank() == 0) fail("softmax_cross_entropy: logits are a scalar; expected classes on the last axis");
  if (logits.shape()[-1] == 0) fail("softmax_cross_entropy: logits {} have no classes (last axis 0)", logits.shape());
  if (logits.numel() == 0 && reduction == Reduction::mean) {
    fail("softmax_cross_entropy: logits {} hold no examples, and the mean over none is undefined (use Reduction::sum "
         "or none)",
         logits.shape());
  }
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
