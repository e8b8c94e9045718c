#include <tapegrad/nn/sequential.hpp>

#include <tapegrad/autograd/error.hpp>

#include <algorithm>

namespace tapegrad::nn {

Sequential::Sequential(std::string name) : Module("sequential", std::move(name)) {}

Module& Sequential::add(std::unique_ptr<Module> layer) {
  if (layer == nullptr) fail("{}: add: got no layer (a null pointer)", name());
  Module& added = *layer;
  track(added);
  layers_.push_back(std::move(layer));
  output_shapes_.emplace_back();
  return added;
}

Module& Sequential::layer(size_t i) {
  if (i >= layers_.size()) fail("{}: layer {} asked for, but the model has {} layers", name(), i, layers_.size());
  return *layers_[i];
}

const Module& Sequential::layer(size_t i) const {
  if (i >= layers_.size()) fail("{}: layer {} asked for, but the model has {} layers", name(), i, layers_.size());
  return *layers_[i];
}

std::optional<Shape> Sequential::output_shape(size_t i) const {
  if (i >= layers_.size()) fail("{}: layer {} asked for, but the model has {} layers", name(), i, layers_.size());
  return output_shapes_[i];
}

Tensor Sequential::call(const Tensor& x) {
  Tensor y = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    y = (*layers_[i])(y);
    output_shapes_[i] = y.shape();
  }
  return y;
}

}  // namespace tapegrad::nn
