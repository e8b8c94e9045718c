#pragma once

#include <tapegrad/optim/optimizer.hpp>

namespace tapegrad::optim {

/// Options of `Adam`, with Keras's defaults.
struct AdamOptions {
  double beta_1 = 0.9;        ///< decay of the first moment, in [0, 1)
  double beta_2 = 0.999;      ///< decay of the second moment, in [0, 1)
  double epsilon = 1e-7;      ///< added to sqrt(v_hat); Keras's default (PyTorch's is 1e-8)
  double weight_decay = 0.0;  ///< decoupled weight decay (AdamW): w <- w - learning_rate * weight_decay * w
  bool amsgrad = false;       ///< AMSGrad: divide by the largest second moment seen so far
};

/// Adam (Kingma and Ba, Algorithm 1), per variable, with t its number of updates:
///   m <- beta_1 m + (1 - beta_1) g;   v <- beta_2 v + (1 - beta_2) g^2
///   m_hat = m / (1 - beta_1^t);       v_hat = v / (1 - beta_2^t)
///   w <- w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)
/// With amsgrad, v_hat = vhat / (1 - beta_2^t), where vhat = max(vhat, v) over the steps. Slots:
/// "m", "v", "vhat" (amsgrad) and "step" (t, an int64 scalar).
// NOTE: epsilon is added to sqrt(v_hat) as in the paper's Algorithm 1 and PyTorch; Keras adds it
// to sqrt(v) and folds the bias corrections into the learning rate, which differs by about
// epsilon. The default epsilon is Keras's 1e-7 (PyTorch: 1e-8).
// NOTE: t counts the updates of each variable (as PyTorch), not the optimizer's iterations (as
// Keras): a variable first updated at a later step still gets the bias correction of its first.
// NOTE: weight_decay is decoupled, as AdamW (Loshchilov and Hutter) and Keras's weight_decay:
// w <- w - learning_rate * weight_decay * w, with w before the step; it does not enter m or v.
class Adam : public Optimizer {
 public:
  /// Adam with `learning_rate`, a constant (Keras's default 0.001) or a schedule (`optim::CosineDecay(...)`).
  explicit Adam(LearningRate learning_rate = 0.001, AdamOptions options = {});

  /// The options the optimizer was made with (or that `load_state` restored).
  const AdamOptions& options() const { return options_; }
  std::map<std::string, double, std::less<>> hyper_parameters() const override;

 protected:
  void update_step(Variable& variable, const Tensor& gradient, Slots& slots) override;
  void set_hyper_parameters(const std::map<std::string, double, std::less<>>& values) override;

 private:
  AdamOptions options_;
};

}  // namespace tapegrad::optim
