#pragma once

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/nn/module.hpp>

#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tapegrad::nn {

/// A layer type with an `Options` type, constructible from `Args...` then its options
/// (lets `Sequential::add` take the options as a braced list, which a template cannot deduce).
template <typename Layer, typename... Args>
concept MadeWithOptions =
    std::derived_from<Layer, Module> && std::constructible_from<Layer, Args..., typename Layer::Options>;

/// A stack of layers, each fed the previous one's output, as Keras's Sequential. It owns its
/// layers; `weights()` lists theirs in layer order ("conv2d/kernel", "conv2d/bias", "dense/kernel",
/// ...). Each layer builds on its first call, from the shape the layer before it produces.
class Sequential : public Module {
 public:
  /// An empty stack named `name` (default "sequential", "sequential_1", ...).
  explicit Sequential(std::string name = {});

  /// Makes a `Layer` from `args`, appends it and returns it: `model.add<Dense>(10)`.
  template <std::derived_from<Module> Layer, typename... Args>
  Layer& add(Args&&... args) {
    static_assert(std::constructible_from<Layer, Args...>, "Sequential::add<Layer>(args...): no such constructor");
    return append(std::make_unique<Layer>(std::forward<Args>(args)...));
  }
  /// As above, for a layer made from its options alone, given as a braced list:
  /// `model.add<Dense>({...})`.
  template <MadeWithOptions Layer>
  Layer& add(typename Layer::Options options) {
    return append(std::make_unique<Layer>(std::move(options)));
  }
  /// As above, for a layer made from a size and options: `model.add<Dense>(10, {.use_bias = false})`.
  template <MadeWithOptions<int64_t> Layer>
  Layer& add(int64_t size, typename Layer::Options options) {
    return append(std::make_unique<Layer>(size, std::move(options)));
  }
  /// As above, for a layer made from a size given as a braced list, and options:
  /// `model.add<MaxPool2D>({3, 2}, {.strides = 1})`.
  template <MadeWithOptions<Size2> Layer>
  Layer& add(Size2 size, typename Layer::Options options) {
    return append(std::make_unique<Layer>(size, std::move(options)));
  }
  /// As above, for a layer made from a count, a window and options, given as braced lists:
  /// `model.add<Conv2D>(6, 5, {.padding = Padding::same()})`, `model.add<Conv2D>(6, {5, 3})`.
  template <MadeWithOptions<int64_t, Size2> Layer>
  Layer& add(int64_t count, Size2 window, typename Layer::Options options = {}) {
    return append(std::make_unique<Layer>(count, window, std::move(options)));
  }
  /// Appends a layer made elsewhere and takes ownership of it; returns it.
  Module& add(std::unique_ptr<Module> layer);

  /// The number of layers.
  size_t size() const { return layers_.size(); }
  /// Layer `i` (0-based).
  Module& layer(size_t i);
  /// Layer `i` (0-based).
  const Module& layer(size_t i) const;

  /// The output shape of layer `i` at the last call, or nothing before the first call.
  std::optional<Shape> output_shape(size_t i) const;
  using Module::output_shape;

  /// "Sequential".
  std::string class_name() const override { return "Sequential"; }

 protected:
  Tensor call(const Tensor& x) override;
  // Each layer checks its own input's dtype.
  bool checks_input_dtype() const override { return false; }

 private:
  template <typename Layer>
  Layer& append(std::unique_ptr<Layer> layer) {
    Layer& added = *layer;
    add(std::unique_ptr<Module>(std::move(layer)));
    return added;
  }
  std::vector<std::unique_ptr<Module>> layers_;
  std::vector<std::optional<Shape>> output_shapes_;
};

}  // namespace tapegrad::nn
