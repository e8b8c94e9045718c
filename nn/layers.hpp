#pragma once

// The layers without weights: Flatten, the activations and the pooling layers. They compute in
// their input's dtype (float32 or float64).

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/nn/module.hpp>

#include <cstdint>
#include <string>

namespace tapegrad::nn {

/// Flattens each example, as Keras's Flatten: (N, d1, d2, ...) -> (N, d1 * d2 * ...); (N) -> (N, 1).
class Flatten : public Module {
 public:
  /// A Flatten layer named `name` (default "flatten", "flatten_1", ...).
  explicit Flatten(std::string name = {});
  /// "Flatten".
  std::string class_name() const override { return "Flatten"; }

 protected:
  Tensor call(const Tensor& x) override;
  bool checks_input_dtype() const override { return false; }
};

/// y = relu(x) = max(x, 0), as Keras's ReLU layer.
class ReLU : public Module {
 public:
  /// A ReLU layer named `name` (default "re_lu", "re_lu_1", ..., as Keras names it).
  explicit ReLU(std::string name = {});
  /// "ReLU".
  std::string class_name() const override { return "ReLU"; }

 protected:
  Tensor call(const Tensor& x) override;
  bool checks_input_dtype() const override { return false; }
};

/// y = sigmoid(x) = 1 / (1 + e^-x).
class Sigmoid : public Module {
 public:
  /// A Sigmoid layer named `name` (default "sigmoid", "sigmoid_1", ...).
  explicit Sigmoid(std::string name = {});
  /// "Sigmoid".
  std::string class_name() const override { return "Sigmoid"; }

 protected:
  Tensor call(const Tensor& x) override;
  bool checks_input_dtype() const override { return false; }
};

/// y = tanh(x).
class Tanh : public Module {
 public:
  /// A Tanh layer named `name` (default "tanh", "tanh_1", ...).
  explicit Tanh(std::string name = {});
  /// "Tanh".
  std::string class_name() const override { return "Tanh"; }

 protected:
  Tensor call(const Tensor& x) override;
  bool checks_input_dtype() const override { return false; }
};

/// Options of `MaxPool2D` and `AvgPool2D` after the pool size, with Keras's defaults: strides
/// equal to the pool size, no padding.
// NOTE: every member has a default member initializer (see Conv2DLayerOptions).
struct Pool2DLayerOptions {
  OptionalSize2 strides{};             ///< step of the window; default: pool_size
  Padding padding = Padding::valid();  ///< "valid" (none), "same", or explicit
  /// AvgPool2D only: average over the whole window, padding included (PyTorch's count_include_pad);
  /// false (Keras's) averages over the window's pixels inside the input. MaxPool2D rejects true.
  bool count_include_pad = false;
  std::string name{};  ///< default: the layer kind, made unique
};

/// 2-D max pooling over NHWC inputs, per channel, as Keras's MaxPool2D: y = max_pool2d(x).
class MaxPool2D : public Module {
 public:
  /// The options type (lets `Sequential::add<MaxPool2D>(3, {...})` take a braced list).
  using Options = Pool2DLayerOptions;
  /// A max-pooling layer over windows of `pool_size` (one int for both axes, as Keras), default
  /// name "max_pooling2d", as Keras names it.
  explicit MaxPool2D(Size2 pool_size = 2, Pool2DLayerOptions options = {});
  /// The window (height, width).
  const Size2& pool_size() const { return pool_size_; }
  /// The options the layer was made with.
  const Pool2DLayerOptions& options() const { return options_; }
  /// "MaxPool2D".
  std::string class_name() const override { return "MaxPool2D"; }

 protected:
  Tensor call(const Tensor& x) override;
  bool checks_input_dtype() const override { return false; }

 private:
  Size2 pool_size_;
  Pool2DLayerOptions options_;
};

/// 2-D average pooling over NHWC inputs, per channel, as Keras's AvgPool2D: y = avg_pool2d(x)
/// (padding is not counted in the average unless count_include_pad).
class AvgPool2D : public Module {
 public:
  /// The options type (lets `Sequential::add<AvgPool2D>(3, {...})` take a braced list).
  using Options = Pool2DLayerOptions;
  /// An average-pooling layer over windows of `pool_size` (one int for both axes, as Keras),
  /// default name "average_pooling2d", as Keras names it.
  explicit AvgPool2D(Size2 pool_size = 2, Pool2DLayerOptions options = {});
  /// The window (height, width).
  const Size2& pool_size() const { return pool_size_; }
  /// The options the layer was made with.
  const Pool2DLayerOptions& options() const { return options_; }
  /// "AvgPool2D".
  std::string class_name() const override { return "AvgPool2D"; }

 protected:
  Tensor call(const Tensor& x) override;
  bool checks_input_dtype() const override { return false; }

 private:
  Size2 pool_size_;
  Pool2DLayerOptions options_;
};

}  // namespace tapegrad::nn
