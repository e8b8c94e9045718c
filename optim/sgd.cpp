#include "optim/sgd.hpp"

#include "autograd/ops.hpp"

namespace tapegrad::optim {

SGD::SGD(double learning_rate) : Optimizer("SGD", learning_rate) {}

void SGD::update_step(Variable& variable, const Tensor& gradient, Slots& /*slots*/) {
  variable.assign_sub(learning_rate() * gradient);
}

}  // namespace tapegrad::optim
