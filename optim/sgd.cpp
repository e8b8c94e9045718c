#include <tapegrad/optim/sgd.hpp>

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/ops.hpp>

#include <cmath>

namespace tapegrad::optim {

namespace {

void check(const SGDOptions& options) {
  if (!(options.momentum >= 0.0 && options.momentum <= 1.0)) {
    fail("SGD: momentum must be in [0, 1], got {}", options.momentum);
  }
  if (options.nesterov && options.momentum == 0.0) fail("SGD: nesterov needs a momentum > 0, got momentum 0");
  if (!(options.weight_decay >= 0.0 && std::isfinite(options.weight_decay))) {
    fail("SGD: weight_decay must be a finite number >= 0, got {}", options.weight_decay);
  }
}

}  // namespace

SGD::SGD(LearningRate learning_rate, SGDOptions options)
    : Optimizer("SGD", std::move(learning_rate)), options_(options) {
  check(options_);
}

std::map<std::string, double, std::less<>> SGD::hyper_parameters() const {
  return {{"momentum", options_.momentum},
          {"nesterov", options_.nesterov ? 1.0 : 0.0},
          {"weight_decay", options_.weight_decay}};
}

void SGD::set_hyper_parameters(const std::map<std::string, double, std::less<>>& values) {
  const double nesterov = values.at("nesterov");
  if (nesterov != 0.0 && nesterov != 1.0) fail("SGD: nesterov must be 0 or 1, got {}", nesterov);
  const SGDOptions options{
      .momentum = values.at("momentum"), .nesterov = nesterov == 1.0, .weight_decay = values.at("weight_decay")};
  check(options);
  options_ = options;
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
