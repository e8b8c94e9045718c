#include <tapegrad/nn/layers.hpp>

#include <tapegrad/autograd/error.hpp>

namespace tapegrad::nn {

namespace {

void check_floating(const Module& layer, const Tensor& x) {
  if (!is_floating(x.dtype())) {
    fail("{}: input is {} {}, expected float32 or float64", layer.name(), x.shape(), dtype_name(x.dtype()));
  }
}

void check_pool_options(const Module& layer, Size2 pool_size, const Pool2DLayerOptions& options) {
  const auto [ph, pw] = pool_size;
  const auto [sh, sw] = options.strides.value_or(pool_size);
  if (ph < 1 || pw < 1 || sh < 1 || sw < 1) {
    fail("{}: pool_size {}x{} and strides {}x{}; expected each at least 1", layer.name(), ph, pw, sh, sw);
  }
}

void check_pool_input(const Module& layer, const Tensor& x) {
  check_floating(layer, x);
  if (x.rank() != 4) fail("{}: input is {}, expected rank 4 (batch, height, width, channels)", layer.name(), x.shape());
}

Pool2DOptions pool_options(Size2 pool_size, const Pool2DLayerOptions& options) {
  return {pool_size, options.strides, options.padding, options.count_include_pad};
}

}  // namespace

Flatten::Flatten(std::string name) : Module("flatten", std::move(name)) {}

Tensor Flatten::call(const Tensor& x) {
  if (x.rank() < 1) fail("{}: input is a scalar, expected at least rank 1 (batch, ...)", name());
  int64_t features = 1;
  for (int axis = 1; axis < x.rank(); ++axis) features *= x.shape()[axis];
  return reshape(x, Shape{x.shape()[0], features});
}

ReLU::ReLU(std::string name) : Module("re_lu", std::move(name)) {}
Tensor ReLU::call(const Tensor& x) { return relu(x); }

Sigmoid::Sigmoid(std::string name) : Module("sigmoid", std::move(name)) {}
Tensor Sigmoid::call(const Tensor& x) { return sigmoid(x); }

Tanh::Tanh(std::string name) : Module("tanh", std::move(name)) {}
Tensor Tanh::call(const Tensor& x) { return tanh(x); }

MaxPool2D::MaxPool2D(Size2 pool_size, Pool2DLayerOptions options)
    : Module("max_pooling2d", options.name), pool_size_(pool_size), options_(std::move(options)) {
  check_pool_options(*this, pool_size_, options_);
  if (options_.count_include_pad) fail("{}: count_include_pad applies to AvgPool2D only", name());
}

Tensor MaxPool2D::call(const Tensor& x) {
  check_pool_input(*this, x);
  return max_pool2d(x, pool_options(pool_size_, options_));
}

AvgPool2D::AvgPool2D(Size2 pool_size, Pool2DLayerOptions options)
    : Module("average_pooling2d", options.name), pool_size_(pool_size), options_(std::move(options)) {
  check_pool_options(*this, pool_size_, options_);
}

Tensor AvgPool2D::call(const Tensor& x) {
  check_pool_input(*this, x);
  return avg_pool2d(x, pool_options(pool_size_, options_));
}

}  // namespace tapegrad::nn
