#include <tapegrad/optim/adam.hpp>

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/ops.hpp>

#include <cmath>

namespace tapegrad::optim {

namespace {

void check(const AdamOptions& options) {
  const auto check_beta = [](const char* what, double beta) {
    if (!(beta >= 0.0 && beta < 1.0)) fail("Adam: {} must be in [0, 1), got {}", what, beta);
  };
  check_beta("beta_1", options.beta_1);
  check_beta("beta_2", options.beta_2);
  if (!(options.epsilon >= 0.0 && std::isfinite(options.epsilon))) {
    fail("Adam: epsilon must be a finite number >= 0, got {}", options.epsilon);
  }
  if (!(options.weight_decay >= 0.0 && std::isfinite(options.weight_decay))) {
    fail("Adam: weight_decay must be a finite number >= 0, got {}", options.weight_decay);
  }
}

}  // namespace

Adam::Adam(LearningRate learning_rate, AdamOptions options)
    : Optimizer("Adam", std::move(learning_rate)), options_(options) {
  check(options_);
}

std::map<std::string, double, std::less<>> Adam::hyper_parameters() const {
  return {{"beta_1", options_.beta_1},
          {"beta_2", options_.beta_2},
          {"epsilon", options_.epsilon},
          {"weight_decay", options_.weight_decay},
          {"amsgrad", options_.amsgrad ? 1.0 : 0.0}};
}

void Adam::set_hyper_parameters(const std::map<std::string, double, std::less<>>& values) {
  const double amsgrad = values.at("amsgrad");
  if (amsgrad != 0.0 && amsgrad != 1.0) fail("Adam: amsgrad must be 0 or 1, got {}", amsgrad);
  const AdamOptions options{.beta_1 = values.at("beta_1"),
                            .beta_2 = values.at("beta_2"),
                            .epsilon = values.at("epsilon"),
                            .weight_decay = values.at("weight_decay"),
                            .amsgrad = amsgrad == 1.0};
  check(options);
  options_ = options;
}

void Adam::update_step(Variable& variable, const Tensor& gradient, Slots& slots) {
  const auto& [beta_1, beta_2, epsilon, weight_decay, amsgrad] = options_;
  const double lr = learning_rate();
  Tensor& step = slots.try_emplace("step", Tensor::scalar(0, DType::int64)).first->second;
  Tensor& m = slots.try_emplace("m", zeros_like(gradient)).first->second;
  Tensor& v = slots.try_emplace("v", zeros_like(gradient)).first->second;

  const double t = step.item() + 1;
  step = Tensor::scalar(t, DType::int64);
  m = beta_1 * m + (1.0 - beta_1) * gradient;
  v = beta_2 * v + (1.0 - beta_2) * square(gradient);
  Tensor second = v;
  if (amsgrad) {
    Tensor& vhat = slots.try_emplace("vhat", zeros_like(gradient)).first->second;
    vhat = maximum(vhat, v);
    second = vhat;
  }
  const Tensor m_hat = m / (1.0 - std::pow(beta_1, t));
  const Tensor v_hat = second / (1.0 - std::pow(beta_2, t));
  if (weight_decay != 0.0) variable.assign_sub((lr * weight_decay) * variable.value());
  variable.assign_sub(lr * m_hat / (sqrt(v_hat) + epsilon));
}

}  // namespace tapegrad::optim
