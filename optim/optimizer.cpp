#include <tapegrad/optim/optimizer.hpp>

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/tape.hpp>

#include <cmath>

namespace tapegrad::optim {

Optimizer::Optimizer(std::string name, double learning_rate) : name_(std::move(name)), learning_rate_(0.0) {
  set_learning_rate(learning_rate);
}

void Optimizer::set_learning_rate(double learning_rate) {
  if (!std::isfinite(learning_rate)) fail("{}: learning rate must be a finite number, got {}", name_, learning_rate);
  learning_rate_ = learning_rate;
}

void Optimizer::apply_gradients(const std::vector<Tensor>& gradients, const std::vector<Variable>& variables) {
  if (gradients.size() != variables.size()) {
    fail("{}.apply_gradients: {} gradients for {} variables; expected one gradient per variable", name_,
         gradients.size(), variables.size());
  }
  for (size_t i = 0; i < variables.size(); ++i) {
    if (!variables[i].defined()) fail("{}.apply_gradients: variable {} is an empty handle", name_, i);
    const Tensor& g = gradients[i];
    if (!g.defined()) continue;
    if (g.shape() != variables[i].shape() || g.dtype() != variables[i].dtype()) {
      fail("{}.apply_gradients: gradient {} is {} {}, but variable '{}' is {} {}", name_, i, g.shape(),
           dtype_name(g.dtype()), variables[i].name(), variables[i].shape(), dtype_name(variables[i].dtype()));
    }
  }
  const StopRecording not_recorded;  // an update is not part of any computation a tape differentiates
  for (size_t i = 0; i < variables.size(); ++i) {
    if (!gradients[i].defined()) continue;
    VariableState& state = state_.try_emplace(variables[i].id(), VariableState{variables[i], {}}).first->second;
    update_step(state.variable, gradients[i], state.slots);
  }
  ++iterations_;
}

Tensor Optimizer::get_slot(const Variable& variable, const std::string& slot) const {
  const auto state = state_.find(variable.id());
  if (state == state_.end()) return {};
  const auto found = state->second.slots.find(slot);
  return found == state->second.slots.end() ? Tensor{} : found->second;
}

}  // namespace tapegrad::optim
