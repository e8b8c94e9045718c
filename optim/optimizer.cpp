#include <tapegrad/optim/optimizer.hpp>

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/tape.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

namespace tapegrad::optim {

Optimizer::Optimizer(std::string name, LearningRate learning_rate) : name_(std::move(name)), learning_rate_(0.0) {
  set_learning_rate(std::move(learning_rate));
}

void Optimizer::set_learning_rate(LearningRate learning_rate) {
  if (learning_rate.schedule() == nullptr) {
    const double value = learning_rate(0);
    if (!(std::isfinite(value) && value >= 0.0)) {
      fail("{}: learning rate must be a finite number >= 0, got {}", name_, value);
    }
  }
  learning_rate_ = std::move(learning_rate);
}

namespace {

// "(2, 3) float32", or "undefined".
std::string describe(const Tensor& tensor) {
  return tensor.defined() ? fmt::format("{} {}", tensor.shape(), dtype_name(tensor.dtype())) : "undefined";
}

}  // namespace

void Optimizer::apply_gradients(const std::vector<Tensor>& gradients, const std::vector<Variable>& variables) {
  if (gradients.size() != variables.size()) {
    fail("{}.apply_gradients: {} gradients for {} variables; expected one gradient per variable", name_,
         gradients.size(), variables.size());
  }
  if (variables.empty()) return;                        // nothing to do, and not a step (Keras)
  std::unordered_map<uint64_t, size_t> first_position;  // by Variable::id()
  bool any_gradient = false;
  for (size_t i = 0; i < variables.size(); ++i) {
    if (!variables[i].defined()) fail("{}.apply_gradients: variable {} is an empty handle", name_, i);
    const auto [seen, fresh] = first_position.try_emplace(variables[i].id(), i);
    if (!fresh) {
      fail("{}.apply_gradients: variable '{}' is given twice (at {} and {}); each variable may appear once in a step",
           name_, variables[i].name(), seen->second, i);
    }
    const Tensor& g = gradients[i];
    if (!g.defined()) continue;
    any_gradient = true;
    if (g.shape() != variables[i].shape() || g.dtype() != variables[i].dtype()) {
      fail("{}.apply_gradients: gradient {} is {} {}, but variable '{}' is {} {}", name_, i, g.shape(),
           dtype_name(g.dtype()), variables[i].name(), variables[i].shape(), dtype_name(variables[i].dtype()));
    }
  }
  if (!any_gradient) {
    std::vector<std::string> names;
    for (const Variable& v : variables) names.push_back(fmt::format("'{}'", v.name()));
    fail("{}.apply_gradients: No gradients provided for any variable: [{}]; every gradient is undefined, so the loss "
         "does not depend on these variables (was the loss computed from them, under the tape?)",
         name_, fmt::join(names, ", "));
  }
  const double rate = learning_rate();
  if (!(std::isfinite(rate) && rate >= 0.0)) {
    const LearningRateSchedule* schedule = learning_rate_.schedule();
    fail("{}.apply_gradients: the learning rate is {}{}; expected a finite number >= 0", name_, rate,
         schedule != nullptr ? fmt::format(" ({} at iteration {})", schedule->name(), iterations_) : "");
  }
  if (!pending_slots_.empty()) take_pending_slots(variables);
  const StopRecording not_recorded;  // an update is not part of any computation a tape differentiates
  std::vector<Tensor> aggregated;
  if (aggregator_) {
    aggregated = aggregator_(gradients, variables);
    if (aggregated.size() != gradients.size()) {
      fail("{}.apply_gradients: the gradient aggregator returned {} gradients for {}", name_, aggregated.size(),
           gradients.size());
    }
    for (size_t i = 0; i < gradients.size(); ++i) {
      const Tensor& a = aggregated[i];
      if (a.defined() != gradients[i].defined() ||
          (a.defined() && (a.shape() != gradients[i].shape() || a.dtype() != gradients[i].dtype()))) {
        fail("{}.apply_gradients: the gradient aggregator changed gradient {} of variable '{}' from {} to {}", name_, i,
             variables[i].name(), describe(gradients[i]), describe(a));
      }
    }
  }
  const std::vector<Tensor>& applied = aggregator_ ? aggregated : gradients;
  for (size_t i = 0; i < variables.size(); ++i) {
    if (!applied[i].defined()) continue;
    VariableState& state = state_.try_emplace(variables[i].id(), VariableState{variables[i], {}}).first->second;
    update_step(state.variable, applied[i], state.slots);
  }
  ++iterations_;
}

Tensor Optimizer::get_slot(const Variable& variable, const std::string& slot) const {
  const auto state = state_.find(variable.id());
  if (state == state_.end()) return {};
  const auto found = state->second.slots.find(slot);
  return found == state->second.slots.end() ? Tensor{} : found->second;
}

namespace {

Tensor scalar_f64(double value) { return Tensor::scalar(value, DType::float64); }

// The value of a float64 or int64 scalar of a state; an Error naming the entry otherwise.
double scalar_of(const std::string& optimizer, const std::string& name, const Tensor& value, DType dtype) {
  if (!value.defined() || value.rank() != 0 || value.dtype() != dtype) {
    fail("{}.load_state: '{}' must be a {} scalar, got {}", optimizer, name, dtype_name(dtype),
         value.defined() ? fmt::format("{} {}", value.shape(), dtype_name(value.dtype())) : "an undefined tensor");
  }
  return dtype == DType::int64 ? static_cast<double>(value.data<int64_t>()[0]) : value.data<double>()[0];
}

}  // namespace

NamedTensors Optimizer::state() const {
  NamedTensors state;
  state.emplace_back("iterations", Tensor::scalar(static_cast<double>(iterations_), DType::int64));
  state.emplace_back("learning_rate", scalar_f64(learning_rate()));
  for (const auto& [name, value] : hyper_parameters()) state.emplace_back("hyper/" + name, scalar_f64(value));
  // The slots by variable name, in name order (the map by id has no order of its own).
  std::map<std::string, const Slots*, std::less<>> by_name;
  for (const auto& [id, variable_state] : state_) {
    if (!by_name.emplace(variable_state.variable.name(), &variable_state.slots).second) {
      fail("{}.state: two variables are named '{}'; give the layers distinct names", name_,
           variable_state.variable.name());
    }
  }
  for (const auto& [name, slots] : pending_slots_) by_name.emplace(name, &slots);
  for (const auto& [variable, slots] : by_name) {
    for (const auto& [slot, value] : *slots) state.emplace_back(fmt::format("slots/{}/{}", variable, slot), value);
  }
  return state;
}

void Optimizer::load_state(const NamedTensors& state) {
  // Read and check everything first, so that a bad state changes nothing.
  std::optional<int64_t> iterations;
  std::optional<double> learning_rate;
  std::map<std::string, double, std::less<>> hyper = hyper_parameters();
  std::set<std::string, std::less<>> hyper_given;
  std::map<std::string, Slots, std::less<>> slots;
  std::vector<std::string> unknown;
  for (const auto& [name, value] : state) {
    if (name == "iterations") {
      const double count = scalar_of(name_, name, value, DType::int64);
      if (count < 0) fail("{}.load_state: iterations is {}, expected at least 0", name_, count);
      iterations = value.data<int64_t>()[0];
    } else if (name == "learning_rate") {
      learning_rate = scalar_of(name_, name, value, DType::float64);
    } else if (name.starts_with("hyper/") && hyper.contains(std::string_view(name).substr(6))) {
      hyper[name.substr(6)] = scalar_of(name_, name, value, DType::float64);
      hyper_given.insert(name.substr(6));
    } else if (const size_t slash = name.rfind('/');
               name.starts_with("slots/") && slash > 6 && slash + 1 < name.size()) {
      if (!value.defined()) fail("{}.load_state: '{}' is undefined", name_, name);
      slots[name.substr(6, slash - 6)][name.substr(slash + 1)] = value;
    } else {
      unknown.push_back(name);
    }
  }
  std::vector<std::string> missing;
  if (!iterations) missing.emplace_back("iterations");
  if (!learning_rate) missing.emplace_back("learning_rate");
  for (const auto& [name, value] : hyper) {
    if (!hyper_given.contains(name)) missing.push_back("hyper/" + name);
  }
  if (!unknown.empty() || !missing.empty()) {
    fail("{}.load_state: the state is not a {} optimizer's:{}{}", name_, name_,
         unknown.empty() ? "" : fmt::format(" unexpected: {};", fmt::join(unknown, ", ")),
         missing.empty() ? "" : fmt::format(" missing: {}", fmt::join(missing, ", ")));
  }
  const bool constant = learning_rate_.schedule() == nullptr;
  if (constant && !(std::isfinite(*learning_rate) && *learning_rate >= 0.0)) {
    fail("{}.load_state: learning rate is {}, expected a finite number >= 0", name_, *learning_rate);
  }
  set_hyper_parameters(hyper);  // checks, then sets all; the last check that can fail
  if (constant) learning_rate_ = LearningRate(*learning_rate);
  iterations_ = *iterations;
  state_.clear();
  pending_slots_ = std::move(slots);
}

void Optimizer::take_pending_slots(const std::vector<Variable>& variables) {
  std::vector<std::string> absent;
  for (const auto& [name, slots] : pending_slots_) {
    const auto found =
        std::ranges::find_if(variables, [&wanted = name](const Variable& v) { return v.name() == wanted; });
    if (found == variables.end()) {
      absent.push_back(name);
      continue;
    }
    for (const auto& [slot, value] : slots) {
      if (value.rank() != 0 && value.shape() != found->shape()) {
        fail("{}.apply_gradients: restored slot '{}' of '{}' is {}, but the variable is {}", name_, slot, name,
             value.shape(), found->shape());
      }
    }
  }
  if (!absent.empty()) {
    fail("{}.apply_gradients: the restored state has slots for {}, which are not among the {} variables given", name_,
         fmt::join(absent, ", "), variables.size());
  }
  for (auto& [name, slots] : pending_slots_) {
    const auto found =
        std::ranges::find_if(variables, [&wanted = name](const Variable& v) { return v.name() == wanted; });
    state_.insert_or_assign(found->id(), VariableState{*found, std::move(slots)});
  }
  pending_slots_.clear();
}

}  // namespace tapegrad::optim
