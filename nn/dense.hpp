#pragma once

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/nn/initializers.hpp>
#include <tapegrad/nn/module.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace tapegrad::nn {

/// Options of `Dense`, in Keras's order and with its defaults (Glorot uniform kernel, zero bias).
// NOTE: every member has a default member initializer (see Conv2DLayerOptions).
struct DenseOptions {
  Activation activation = Activation::linear;        ///< applied to the output: linear (none), relu or sigmoid
  bool use_bias = true;                              ///< add a bias per unit
  Initializer kernel_initializer = GlorotUniform();  ///< the kernel's first values
  Initializer bias_initializer = Zeros();            ///< the bias's first values
  std::optional<uint64_t> seed{};                    ///< fixes the initial weights; default: the default generator
  DType dtype = DType::float32;                      ///< dtype of the weights and of the inputs
  std::string name{};                                ///< default: "dense", "dense_1", ...
};

/// A fully connected layer, as Keras's Dense: y = activation(x @ kernel + bias), x (batch, features); the
/// kernel (features, units) is made on the first call from the input's last axis; the bias has
/// shape (units).
class Dense : public Module {
 public:
  /// The options type (lets `Sequential::add<Dense>(10, {...})` take a braced list).
  using Options = DenseOptions;

  /// A layer of `units` outputs.
  explicit Dense(int64_t units, DenseOptions options = {});

  /// The kernel (features, units); the layer must be built.
  const Variable& kernel() const;
  /// The bias (units); the layer must be built with use_bias.
  const Variable& bias() const;
  /// The number of outputs.
  int64_t units() const { return units_; }
  /// The options the layer was made with.
  const DenseOptions& options() const { return options_; }
  /// "Dense".
  std::string class_name() const override { return "Dense"; }

 protected:
  void build(const Shape& input_shape) override;
  Tensor call(const Tensor& x) override;

 private:
  void check_input(const Shape& input_shape) const;
  int64_t units_;
  DenseOptions options_;
  Variable kernel_;
  Variable bias_;
};

}  // namespace tapegrad::nn
