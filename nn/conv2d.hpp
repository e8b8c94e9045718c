#pragma once

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/nn/initializers.hpp>
#include <tapegrad/nn/module.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace tapegrad::nn {

/// Options of `Conv2D`, in Keras's order and with its defaults, except the kernel initializer:
/// random normal (stddev 0.05), as the book's layers start.
// NOTE: every member has a default member initializer, `{}` included: GCC 12 warns
// (-Wmissing-field-initializers) when a designated initializer such as {.use_bias = false} leaves
// out a member that has none.
struct Conv2DLayerOptions {
  Size2 strides = 1;                                ///< step of the window (height, width)
  Padding padding = Padding::valid();               ///< "valid" (none), "same", or explicit zeros
  Size2 dilation_rate = 1;                          ///< spacing of the kernel's taps (height, width)
  Activation activation = Activation::linear;       ///< applied to the output: linear (none), relu or sigmoid
  bool use_bias = true;                             ///< add a bias per filter
  Initializer kernel_initializer = RandomNormal();  ///< the kernel's first values
  Initializer bias_initializer = Zeros();           ///< the bias's first values
  std::optional<uint64_t> seed{};                   ///< fixes the initial weights; default: the default generator
  DType dtype = DType::float32;                     ///< dtype of the weights and of the inputs
  std::string name{};                               ///< default: "conv2d", "conv2d_1", ...
};

/// A 2-D convolution layer, as Keras's Conv2D: y = activation(conv2d(x, kernel) + bias), x NHWC
/// (batch, height, width, channels); the kernel (HWIO: height, width, in channels, filters) is
/// made on the first call from the input's channel count; the bias has shape (filters). With a bias,
/// one fused op (conv2d_bias_activation) computes it, activation or none, with the same bits.
class Conv2D : public Module {
 public:
  /// The options type (lets `Sequential::add<Conv2D>(6, 5, {...})` take a braced list).
  using Options = Conv2DLayerOptions;

  /// `filters` output channels, a kernel of `kernel_size` (height, width; one int for both, as Keras).
  Conv2D(int64_t filters, Size2 kernel_size, Conv2DLayerOptions options = {});

  /// The kernel (HWIO); the layer must be built.
  const Variable& kernel() const;
  /// The bias (filters); the layer must be built with use_bias.
  const Variable& bias() const;
  /// The number of output channels.
  int64_t filters() const { return filters_; }
  /// The kernel's height and width.
  const Size2& kernel_size() const { return kernel_size_; }
  /// The options the layer was made with.
  const Conv2DLayerOptions& options() const { return options_; }
  /// "Conv2D".
  std::string class_name() const override { return "Conv2D"; }

 protected:
  void build(const Shape& input_shape) override;
  Tensor call(const Tensor& x) override;

 private:
  void check_input(const Shape& input_shape) const;
  int64_t filters_;
  Size2 kernel_size_;
  Conv2DLayerOptions options_;
  Variable kernel_;
  Variable bias_;
};

}  // namespace tapegrad::nn
