#include <tapegrad/nn/normalization.hpp>

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/ops.hpp>

#include <cmath>

namespace tapegrad::nn {

BatchNormalization::BatchNormalization(BatchNormalizationOptions options)
    : Module("batch_normalization", options.name, options.dtype), options_(std::move(options)) {
  if (!(options_.momentum >= 0 && options_.momentum <= 1)) {
    fail("{}: momentum is {}; expected 0 <= momentum <= 1", name(), options_.momentum);
  }
  if (!(options_.epsilon > 0) || !std::isfinite(options_.epsilon)) {
    fail("{}: epsilon is {}; expected a finite epsilon > 0", name(), options_.epsilon);
  }
}

const Variable& BatchNormalization::gamma() const {
  if (!options_.scale) fail("{}: the layer has no gamma (scale is false)", name());
  if (!built()) fail("{}: gamma is made on the layer's first call; call the layer first", name());
  return gamma_;
}

const Variable& BatchNormalization::beta() const {
  if (!options_.center) fail("{}: the layer has no beta (center is false)", name());
  if (!built()) fail("{}: beta is made on the layer's first call; call the layer first", name());
  return beta_;
}

const Variable& BatchNormalization::moving_mean() const {
  if (!built()) fail("{}: moving_mean is made on the layer's first call; call the layer first", name());
  return moving_mean_;
}

const Variable& BatchNormalization::moving_variance() const {
  if (!built()) fail("{}: moving_variance is made on the layer's first call; call the layer first", name());
  return moving_variance_;
}

void BatchNormalization::check_input(const Shape& input_shape) const {
  if (input_shape.rank() < 2) {
    fail("{}: input is {}, expected at least rank 2 (batch, ..., channels)", name(), input_shape);
  }
  if (input_shape.numel() == 0) {
    fail("{}: input is {}; expected at least one example and one channel", name(), input_shape);
  }
  const int rank = input_shape.rank();
  if (options_.axis != -1 && options_.axis != rank - 1) {
    fail("{}: axis is {} for input {}; only the last axis (-1 or {}) is supported, as after Dense and NHWC Conv2D",
         name(), options_.axis, input_shape, rank - 1);
  }
  if (moving_mean_.defined() && input_shape[-1] != moving_mean_.shape()[0]) {
    fail("{}: input {} has {} channels, but the layer was built for {}", name(), input_shape, input_shape[-1],
         moving_mean_.shape()[0]);
  }
}

void BatchNormalization::build(const Shape& input_shape) {
  check_input(input_shape);
  const Shape channels{input_shape[-1]};
  if (options_.scale) {
    gamma_ = add_weight("gamma", channels, options_.gamma_initializer);
  } else {
    ones_ = tapegrad::ones(channels, dtype());
  }
  if (options_.center) {
    beta_ = add_weight("beta", channels, options_.beta_initializer);
  } else {
    zeros_ = tapegrad::zeros(channels, dtype());
  }
  Variable mean = add_weight("moving_mean", channels, options_.moving_mean_initializer, /*trainable=*/false);
  moving_variance_ = add_weight("moving_variance", channels, options_.moving_variance_initializer, false);
  moving_mean_ = mean;  // last, so a failed build leaves the layer unbuilt
}

Tensor BatchNormalization::call(const Tensor& x) {
  check_input(x.shape());
  const Tensor gamma = options_.scale ? gamma_.read() : ones_;
  const Tensor beta = options_.center ? beta_.read() : zeros_;
  if (!training() || !trainable()) {  // a frozen layer keeps its statistics, as Keras's
    return batch_norm(x, moving_mean_.read(), moving_variance_.read(), gamma, beta, options_.epsilon);
  }
  BatchNormTrainingResult result = batch_norm_training(x, gamma, beta, options_.epsilon);
  const double momentum = options_.momentum;
  moving_mean_.assign(moving_mean_.value() * momentum + result.mean * (1.0 - momentum));
  moving_variance_.assign(moving_variance_.value() * momentum + result.variance * (1.0 - momentum));
  return std::move(result.output);
}

}  // namespace tapegrad::nn
