#pragma once

#include <tapegrad/nn/module.hpp>

#include <optional>
#include <string>
#include <vector>

namespace tapegrad::nn {

/// The sum of its inputs, as Keras's Add: y = inputs[0] + inputs[1] + ..., all of one shape (a
/// residual block's main path and shortcut). Called with a list: `add({main, shortcut})`. Computes in
/// its inputs' dtype.
class Add : public Module {
 public:
  /// An Add layer named `name` (default "add", "add_1", ...).
  explicit Add(std::string name = {});
  /// The sum of `inputs` (at least two, one shape and dtype); `training` as Module's call.
  Tensor operator()(const std::vector<Tensor>& inputs, std::optional<bool> training = std::nullopt);
  /// "Add".
  std::string class_name() const override { return "Add"; }

 protected:
  /// An error: Add takes a list of tensors.
  Tensor call(const Tensor& x) override;
  bool checks_input_dtype() const override { return false; }
};

}  // namespace tapegrad::nn
