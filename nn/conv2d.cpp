#include <tapegrad/nn/conv2d.hpp>

#include <tapegrad/autograd/error.hpp>

namespace tapegrad::nn {

Conv2D::Conv2D(int64_t filters, Size2 kernel_size, Conv2DLayerOptions options)
    : Module("conv2d", options.name, options.dtype, options.seed),
      filters_(filters),
      kernel_size_(kernel_size),
      options_(std::move(options)) {
  if (filters_ < 1) fail("{}: filters must be at least 1, got {}", name(), filters_);
  activation_name(options_.activation, name().c_str());  // a value outside the enum is an error
  if (kernel_size_[0] < 1 || kernel_size_[1] < 1) {
    fail("{}: kernel_size must be at least 1x1, got {}x{}", name(), kernel_size_[0], kernel_size_[1]);
  }
  const auto [sh, sw] = options_.strides;
  const auto [dh, dw] = options_.dilation_rate;
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1) {
    fail("{}: strides {}x{} and dilation_rate {}x{}; expected each at least 1", name(), sh, sw, dh, dw);
  }
}

const Variable& Conv2D::kernel() const {
  if (!built()) fail("{}: the kernel is made on the layer's first call; call the layer first", name());
  return kernel_;
}

const Variable& Conv2D::bias() const {
  if (!options_.use_bias) fail("{}: the layer has no bias (use_bias is false)", name());
  if (!built()) fail("{}: the bias is made on the layer's first call; call the layer first", name());
  return bias_;
}

void Conv2D::check_input(const Shape& input_shape) const {
  if (input_shape.rank() != 4) {
    fail("{}: input is {}, expected rank 4 (batch, height, width, channels)", name(), input_shape);
  }
  if (kernel_.defined() && input_shape[3] != kernel_.shape()[2]) {
    fail("{}: input {} has {} channels, but the layer was built for {}", name(), input_shape, input_shape[3],
         kernel_.shape()[2]);
  }
}

void Conv2D::build(const Shape& input_shape) {
  check_input(input_shape);
  const Shape kernel_shape{kernel_size_[0], kernel_size_[1], input_shape[3], filters_};
  Variable kernel = add_weight("kernel", kernel_shape, options_.kernel_initializer);
  if (options_.use_bias) bias_ = add_weight("bias", Shape{filters_}, options_.bias_initializer);
  kernel_ = kernel;  // last, so a failed build leaves the layer unbuilt
}

Tensor Conv2D::call(const Tensor& x) {
  check_input(x.shape());
  const Conv2DOptions conv{options_.strides, options_.padding, options_.dilation_rate};
  if (options_.use_bias) return conv2d_bias_activation(x, kernel_.read(), bias_.read(), options_.activation, conv);
  return apply_activation(conv2d(x, kernel_.read(), conv), options_.activation);
}

}  // namespace tapegrad::nn
