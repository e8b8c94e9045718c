#pragma once

#include <tapegrad/nn/module.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace tapegrad::nn {

/// Dropout, as Keras's Dropout: in training, each element is zeroed with probability `rate` and the
/// kept ones scaled by 1 / (1 - rate) (tapegrad::dropout); in inference, the identity. Computes in its
/// input's dtype.
class Dropout : public Module {
 public:
  /// Drops `rate` of the elements in training (0 <= rate < 1). `seed` fixes which elements are
  /// dropped, call after call (default: seeded from the default generator, see `set_seed`).
  explicit Dropout(double rate, std::optional<uint64_t> seed = std::nullopt, std::string name = {});
  /// The fraction dropped in training.
  double rate() const { return rate_; }
  /// "Dropout".
  std::string class_name() const override { return "Dropout"; }

 protected:
  Tensor call(const Tensor& x) override;
  bool checks_input_dtype() const override { return false; }

 private:
  double rate_;
};

}  // namespace tapegrad::nn
