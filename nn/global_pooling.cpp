#include <tapegrad/nn/global_pooling.hpp>

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tapegrad::nn {

GlobalAveragePooling2D::GlobalAveragePooling2D(GlobalPooling2DOptions options)
    : Module("global_average_pooling2d", options.name), options_(std::move(options)) {}

Tensor GlobalAveragePooling2D::call(const Tensor& x) {
  if (!is_floating(x.dtype())) {
    fail("{}: input is {} {}, expected float32 or float64", name(), x.shape(), dtype_name(x.dtype()));
  }
  if (x.rank() != 4 || x.shape()[1] == 0 || x.shape()[2] == 0) {
    fail("{}: input is {}, expected rank 4 (batch, height, width, channels) with at least one pixel", name(),
         x.shape());
  }
  return reduce_mean(x, {1, 2}, options_.keepdims);
}

}  // namespace tapegrad::nn
