#include <tapegrad/nn/dense.hpp>

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tapegrad::nn {

Dense::Dense(int64_t units, DenseOptions options)
    : Module("dense", options.name, options.dtype, options.seed), units_(units), options_(std::move(options)) {
  if (units_ < 1) fail("{}: units must be at least 1, got {}", name(), units_);
  activation_name(options_.activation, name().c_str());  // a value outside the enum is an error
}

const Variable& Dense::kernel() const {
  if (!built()) fail("{}: the kernel is made on the layer's first call; call the layer first", name());
  return kernel_;
}

const Variable& Dense::bias() const {
  if (!options_.use_bias) fail("{}: the layer has no bias (use_bias is false)", name());
  if (!built()) fail("{}: the bias is made on the layer's first call; call the layer first", name());
  return bias_;
}

void Dense::check_input(const Shape& input_shape) const {
  if (input_shape.rank() != 2) {
    fail("{}: input is {}, expected rank 2 (batch, features); put a Flatten layer before it", name(), input_shape);
  }
  if (kernel_.defined() && input_shape[1] != kernel_.shape()[0]) {
    fail("{}: input {} has {} features, but the layer was built for {}", name(), input_shape, input_shape[1],
         kernel_.shape()[0]);
  }
}

void Dense::build(const Shape& input_shape) {
  check_input(input_shape);
  Variable kernel = add_weight("kernel", Shape{input_shape[1], units_}, options_.kernel_initializer);
  if (options_.use_bias) bias_ = add_weight("bias", Shape{units_}, options_.bias_initializer);
  kernel_ = kernel;  // last, so a failed build leaves the layer unbuilt
}

Tensor Dense::call(const Tensor& x) {
  check_input(x.shape());
  const Tensor y = matmul(x, kernel_.read());
  return apply_activation(options_.use_bias ? y + bias_.read() : y, options_.activation);
}

}  // namespace tapegrad::nn
