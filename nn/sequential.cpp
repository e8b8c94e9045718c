#include <tapegrad/nn/sequential.hpp>

#include <tapegrad/autograd/error.hpp>

#include <algorithm>

namespace tapegrad::nn {

namespace {

// Keras's output shape: the batch axis is None, as it may differ from call to call.
std::string keras_shape(const std::optional<Shape>& shape) {
  if (!shape) return "?";
  std::string text = "(";
  const auto dims = shape->dims();
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) text += ", ";
    text += i == 0 ? std::string("None") : fmt::format("{}", dims[i]);
  }
  return text + (dims.size() == 1 ? ",)" : ")");
}

}  // namespace

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

std::string Sequential::summary() const {
  struct Row {
    std::string layer, shape, params;
  };
  std::vector<Row> rows;
  int64_t total = 0, trainable = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Module& layer = *layers_[i];
    const bool known = layer.built() || output_shapes_[i].has_value();
    rows.push_back({fmt::format("{} ({})", layer.name(), layer.class_name()), keras_shape(output_shapes_[i]),
                    known ? fmt::format("{}", layer.count_params()) : std::string("?")});
    total += layer.count_params();
    for (const Variable& v : layer.trainable_variables()) trainable += v.shape().numel();
  }
  size_t name_width = std::string_view("Layer (type)").size(), shape_width = std::string_view("Output Shape").size();
  for (const Row& row : rows) {
    name_width = std::max(name_width, row.layer.size());
    shape_width = std::max(shape_width, row.shape.size());
  }
  name_width += 2;
  shape_width += 2;
  const size_t width = name_width + shape_width + 10;
  const std::string thin(width, '_'), thick(width, '=');

  std::string text = fmt::format("Model: \"{}\"\n{}\n", name(), thin);
  text +=
      fmt::format("{:<{}}{:<{}}{}\n{}\n", "Layer (type)", name_width, "Output Shape", shape_width, "Param #", thick);
  for (const Row& row : rows) {
    text += fmt::format("{:<{}}{:<{}}{}\n", row.layer, name_width, row.shape, shape_width, row.params);
  }
  text += fmt::format("{}\nTotal params: {}\nTrainable params: {}\nNon-trainable params: {}\n{}\n", thick, total,
                      trainable, total - trainable, thin);
  if (!built()) text += "(not built yet: shapes and counts are known after the model's first call)\n";
  return text;
}

}  // namespace tapegrad::nn
