// Batch normalization over every axis but the last (the channels, as Keras's axis=-1 after Dense
// and NHWC convolutions): in training with the batch's statistics, in inference with given ones.

#include <tapegrad/autograd/ops.hpp>
#include "autograd/kernels/kernels.hpp"
#include "autograd/ops/op_registry.hpp"
#include "autograd/ops/record.hpp"

#include <cmath>
#include <numeric>

namespace tapegrad {

namespace {

// The attributes of the batch normalizations: the epsilon added to the variance.
struct BatchNormAttrs {
  double epsilon;
  std::string print() const { return fmt::format("epsilon={}", epsilon); }
};

// x's rows and channels, after checking x and each per-channel tensor (shape (channels), x's dtype).
kernels::BatchNormGeometry batch_norm_geometry(const Tensor& x, double epsilon, const char* op,
                                               std::initializer_list<std::pair<const char*, const Tensor*>> params) {
  if (!x.defined() || !is_floating(x.dtype())) {
    fail("{}: x is {}; expected a float32 or float64 tensor", op,
         x.defined() ? fmt::format("{} {}", x.shape(), dtype_name(x.dtype())) : std::string("undefined"));
  }
  if (x.rank() < 2) {
    fail("{}: x is {}; expected at least rank 2 (batch, ..., channels): it normalizes over every axis but the last", op,
         x.shape());
  }
  const int64_t channels = x.shape()[-1];
  for (const auto& [name, t] : params) {
    if (!t->defined() || t->shape() != Shape{channels} || t->dtype() != x.dtype()) {
      fail("{}: {} is {}; expected {} {}, one value per channel (the last axis) of x {}", op, name,
           t->defined() ? fmt::format("{} {}", t->shape(), dtype_name(t->dtype())) : std::string("undefined"),
           Shape{channels}, dtype_name(x.dtype()), x.shape());
    }
  }
  if (!(epsilon >= 0) || !std::isfinite(epsilon))
    fail("{}: epsilon is {}; expected a finite epsilon >= 0", op, epsilon);
  const int64_t rows = channels == 0 ? 0 : x.numel() / channels;
  if (rows == 0 || channels == 0) fail("{}: x is {}; expected at least one row and one channel", op, x.shape());
  return {rows, channels, epsilon};
}

// The axes a batch normalization reduces: all but the last.
std::vector<int> batch_axes(const Shape& shape) {
  std::vector<int> axes(static_cast<size_t>(shape.rank() - 1));
  std::iota(axes.begin(), axes.end(), 0);
  return axes;
}

}  // namespace

constexpr const char* kBatchNormTraining = "batch_norm_training";
BatchNormTrainingResult batch_norm_training(const Tensor& x, const Tensor& gamma, const Tensor& beta, double epsilon) {
  const auto geom = batch_norm_geometry(x, epsilon, kBatchNormTraining, {{"gamma", &gamma}, {"beta", &beta}});
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor mean = Tensor::empty(Shape{geom.channels}, x.dtype());
  Tensor variance = Tensor::empty(Shape{geom.channels}, x.dtype());
  kernels::batch_norm_training_forward(x, gamma, beta, y, mean, variance, geom);
  // The batch's mean and variance ride along as inputs the backward reads; no gradient flows into them.
  y = record(
      kBatchNormTraining, {x, gamma, beta, mean, variance}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        const Tensor& x = args.input(0);
        const Tensor& gamma = args.input(1);
        const double epsilon = args.attrs<BatchNormAttrs>().epsilon;
        if (!any_tape_tracks({args.grad, x, gamma})) {
          // No tape records this backward: the gradients in two fused passes.
          const int64_t channels = x.shape()[-1];
          const Tensor dx = args.needs(0) ? Tensor::empty(x.shape(), x.dtype()) : Tensor{};
          const Tensor dgamma = args.needs(1) ? Tensor::empty(Shape{channels}, x.dtype()) : Tensor{};
          const Tensor dbeta = args.needs(2) ? Tensor::empty(Shape{channels}, x.dtype()) : Tensor{};
          kernels::batch_norm_training_backward(args.grad, x, gamma, args.input(3), args.input(4), dx, dgamma, dbeta,
                                                {x.numel() / channels, channels, epsilon});
          return {dx, dgamma, dbeta, Tensor{}, Tensor{}};
        }
        // NOTE: an outer tape records this backward (a gradient of a gradient): the same gradients as
        // differentiable ops, the mean and variance recomputed from x so that their dependence on x is
        // differentiated too.
        const std::vector<int> axes = batch_axes(x.shape());
        const Tensor& g = args.grad;
        const Tensor centered = x - reduce_mean(x, axes, true);
        const Tensor rstd = pow(reduce_mean(square(centered), axes, true) + epsilon, -0.5);
        const Tensor xhat = centered * rstd;
        return {args.needs(0)
                    ? (gamma * rstd) * (g - reduce_mean(g, axes, true) - xhat * reduce_mean(g * xhat, axes, true))
                    : Tensor{},
                args.needs(1) ? reduce_sum(g * xhat, axes) : Tensor{}, args.needs(2) ? reduce_sum(g, axes) : Tensor{},
                Tensor{}, Tensor{}};
      },
      BatchNormAttrs{epsilon});
  return {std::move(y), std::move(mean), std::move(variance)};
}

constexpr const char* kBatchNorm = "batch_norm";
Tensor batch_norm(const Tensor& x, const Tensor& mean, const Tensor& variance, const Tensor& gamma, const Tensor& beta,
                  double epsilon) {
  const auto geom = batch_norm_geometry(x, epsilon, kBatchNorm,
                                        {{"mean", &mean}, {"variance", &variance}, {"gamma", &gamma}, {"beta", &beta}});
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  kernels::batch_norm_forward(x, mean, variance, gamma, beta, y, geom);
  return record(
      kBatchNorm, {x, mean, variance, gamma, beta}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        const Tensor& x = args.input(0);
        const Tensor& mean = args.input(1);
        const Tensor& variance = args.input(2);
        const Tensor& gamma = args.input(3);
        const Tensor& g = args.grad;
        const double epsilon = args.attrs<BatchNormAttrs>().epsilon;
        const std::vector<int> axes = batch_axes(x.shape());
        const Tensor rstd = pow(variance + epsilon, -0.5);
        Grads grads{args.needs(0) ? g * (gamma * rstd) : Tensor{}, Tensor{}, Tensor{}, Tensor{}, Tensor{}};
        if (args.needs(1) || args.needs(4)) {
          const Tensor sum_g = reduce_sum(g, axes);
          if (args.needs(1)) grads[1] = -(sum_g * gamma * rstd);
          if (args.needs(4)) grads[4] = sum_g;
        }
        if (args.needs(2) || args.needs(3)) {
          const Tensor sum_g_centered = reduce_sum(g * (x - mean), axes);
          if (args.needs(2)) grads[2] = sum_g_centered * gamma * -0.5 * pow(variance + epsilon, -1.5);
          if (args.needs(3)) grads[3] = sum_g_centered * rstd;
        }
        return grads;
      },
      BatchNormAttrs{epsilon});
}

// The ops defined above, for differentiable_ops().
std::vector<const char*> detail::normalization_ops() { return {kBatchNormTraining, kBatchNorm}; }

}  // namespace tapegrad
