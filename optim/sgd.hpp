#pragma once

#include <tapegrad/optim/optimizer.hpp>

namespace tapegrad::optim {

/// Options of `SGD`; the defaults give plain gradient descent.
struct SGDOptions {
  double momentum = 0.0;      ///< in [0, 1]; 0: no velocity is kept
  bool nesterov = false;      ///< Nesterov's momentum (needs momentum > 0)
  double weight_decay = 0.0;  ///< L2 penalty: g <- g + weight_decay * w, as PyTorch's SGD
};

/// Stochastic gradient descent, with Keras's momentum formula:
///   plain:    w <- w - learning_rate * g
///   momentum: v <- momentum * v - learning_rate * g;  w <- w + v
///   Nesterov: v <- momentum * v - learning_rate * g;  w <- w + momentum * v - learning_rate * g
/// v starts at 0 (slot "momentum", kept per variable). Plain SGD computes the product in the
/// variable's dtype, then subtracts it, exactly as the book's hand-written update `w - lr * g`,
/// so both give the same bits.
// NOTE: weight_decay follows PyTorch's SGD, an L2 term added to the gradient before everything
// else (so it goes through the momentum too): g <- g + weight_decay * w. Keras's `weight_decay`
// is instead decoupled (w <- w - learning_rate * weight_decay * w, as Adam's here); for plain SGD
// the two are the same.
class SGD : public Optimizer {
 public:
  /// SGD with `learning_rate`, a constant (Keras's default 0.01) or a schedule (`optim::ExponentialDecay(...)`).
  explicit SGD(LearningRate learning_rate = 0.01, SGDOptions options = {});

  /// The options the optimizer was made with (or that `load_state` restored).
  const SGDOptions& options() const { return options_; }
  std::map<std::string, double, std::less<>> hyper_parameters() const override;

 protected:
  void update_step(Variable& variable, const Tensor& gradient, Slots& slots) override;
  void set_hyper_parameters(const std::map<std::string, double, std::less<>>& values) override;

 private:
  SGDOptions options_;
};

}  // namespace tapegrad::optim
