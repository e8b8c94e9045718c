#pragma once

#include <tapegrad/nn/module.hpp>

#include <string>

namespace tapegrad::nn {

/// Options of `GlobalAveragePooling2D`, with Keras's defaults.
// NOTE: every member has a default member initializer (see Conv2DLayerOptions).
struct GlobalPooling2DOptions {
  bool keepdims = false;  ///< keep the spatial axes with size 1: (N, 1, 1, C) rather than (N, C)
  std::string name{};     ///< default: "global_average_pooling2d", ...
};

/// The mean of each channel over the whole image, as Keras's GlobalAveragePooling2D: x NHWC
/// (batch, height, width, channels) -> (batch, channels); y = reduce_mean(x, {1, 2}). Computes in its
/// input's dtype.
class GlobalAveragePooling2D : public Module {
 public:
  /// The options type (lets `Sequential::add<GlobalAveragePooling2D>({...})` take a braced list).
  using Options = GlobalPooling2DOptions;
  /// A global average pooling layer.
  explicit GlobalAveragePooling2D(GlobalPooling2DOptions options = {});
  /// "GlobalAveragePooling2D".
  std::string class_name() const override { return "GlobalAveragePooling2D"; }

 protected:
  Tensor call(const Tensor& x) override;
  bool checks_input_dtype() const override { return false; }

 private:
  GlobalPooling2DOptions options_;
};

}  // namespace tapegrad::nn
