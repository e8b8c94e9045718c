#pragma once

#include <tapegrad/nn/initializers.hpp>
#include <tapegrad/nn/module.hpp>

#include <string>

namespace tapegrad::nn {

/// Options of `BatchNormalization`, in Keras's order and with its defaults.
// NOTE: every member has a default member initializer (see Conv2DLayerOptions).
struct BatchNormalizationOptions {
  int axis = -1;                                     ///< the channels' axis: the last (-1, or rank - 1)
  double momentum = 0.99;                            ///< moving = moving * momentum + batch * (1 - momentum)
  double epsilon = 1e-3;                             ///< added to the variance
  bool center = true;                                ///< learn an offset beta
  bool scale = true;                                 ///< learn a scale gamma
  Initializer beta_initializer = Zeros();            ///< beta's first values
  Initializer gamma_initializer = Ones();            ///< gamma's first values
  Initializer moving_mean_initializer = Zeros();     ///< moving_mean's first values
  Initializer moving_variance_initializer = Ones();  ///< moving_variance's first values
  DType dtype = DType::float32;                      ///< dtype of the weights and of the inputs
  std::string name{};                                ///< default: "batch_normalization", ...
};

/// Batch normalization, as Keras's BatchNormalization: per channel (the last axis, so it follows
/// Dense and NHWC Conv2D), y = (x - mean) / sqrt(variance + epsilon) * gamma + beta.
/// In training (`model(x, true)`) mean and variance are the batch's (over every other axis, the
/// variance biased, as Keras), and the moving statistics are updated:
/// moving_mean = moving_mean * momentum + mean * (1 - momentum), the same for moving_variance.
/// In inference (`model(x)`) they are moving_mean and moving_variance. Variables, in Keras's order:
/// gamma and beta (trainable, when scale and center), moving_mean and moving_variance (non-trainable),
/// each of shape (channels).
class BatchNormalization : public Module {
 public:
  /// The options type (lets `Sequential::add<BatchNormalization>({...})` take a braced list).
  using Options = BatchNormalizationOptions;

  /// A batch normalization layer with `options` (Keras's defaults: momentum 0.99, epsilon 1e-3).
  explicit BatchNormalization(BatchNormalizationOptions options = {});

  /// gamma (channels); the layer must be built with scale.
  const Variable& gamma() const;
  /// beta (channels); the layer must be built with center.
  const Variable& beta() const;
  /// The moving mean (channels), non-trainable; the layer must be built.
  const Variable& moving_mean() const;
  /// The moving variance (channels), non-trainable; the layer must be built.
  const Variable& moving_variance() const;
  /// The options the layer was made with.
  const BatchNormalizationOptions& options() const { return options_; }
  /// "BatchNormalization".
  std::string class_name() const override { return "BatchNormalization"; }

 protected:
  void build(const Shape& input_shape) override;
  Tensor call(const Tensor& x) override;

 private:
  void check_input(const Shape& input_shape) const;
  BatchNormalizationOptions options_;
  Variable gamma_, beta_, moving_mean_, moving_variance_;
  Tensor ones_, zeros_;  // gamma and beta without scale or center
};

}  // namespace tapegrad::nn
