#pragma once

#include "optim/optimizer.hpp"

namespace tapegrad::optim {

/// Plain stochastic gradient descent: w <- w - learning_rate * g. The product is computed in the
/// variable's dtype, then subtracted, exactly as the book's hand-written update `w - lr * g`, so
/// both give the same bits.
class SGD : public Optimizer {
 public:
  /// SGD with `learning_rate` (Keras's default 0.01).
  explicit SGD(double learning_rate = 0.01);

 protected:
  void update_step(Variable& variable, const Tensor& gradient, Slots& slots) override;
};

}  // namespace tapegrad::optim
