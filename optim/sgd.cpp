#include <tapegrad/optim/sgd.hpp>

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/ops.hpp>

#include <cmath>

namespace tapegrad::optim {

SGD::SGD(double learning_rate, SGDOptions options) : Optimizer("SGD", learning_rate), options_(options) {
  if (!(options_.momentum >= 0.0 && options_.momentum <= 1.0)) {
    fail("SGD: momentum must be in [0, 1], got {}", options_.momentum);
  }
  if (options_.nesterov && options_.momentum == 0.0) fail("SGD: nesterov needs a momentum > 0, got momentum 0");
  if (!(options_.weight_decay >= 0.0 && std::isfinite(options_.weight_decay))) {
    fail("SGD: weight_decay must be a finite number >= 0, got {}", options_.weight_decay);
  }
}

void SGD::update_step(Variable& variable, const Tensor& gradient, Slots& slots) {
  const double lr = learning_rate();
  const Tensor g = options_.weight_decay == 0.0 ? gradient : gradient + options_.weight_decay * variable.value();
  if (options_.momentum == 0.0) {
    variable.assign_sub(lr * g);
    return;
  }
  Tensor& velocity = slots.try_emplace("momentum", zeros_like(g)).first->second;
  velocity = options_.momentum * velocity - lr * g;
  variable.assign_add(options_.nesterov ? options_.momentum * velocity - lr * g : velocity);
}

}  // namespace tapegrad::optim
