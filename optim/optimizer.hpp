#pragma once

#include <tapegrad/autograd/safetensors.hpp>
#include <tapegrad/autograd/tensor.hpp>
#include <tapegrad/autograd/variable.hpp>
#include <tapegrad/optim/schedules.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace tapegrad::optim {

/// The base of the optimizers, as Keras's: it sees variables and their gradients, never layers,
/// and keeps per-variable state (slots such as momentum) between steps.
class Optimizer {
 public:
  virtual ~Optimizer() = default;

  /// One step: updates variables[i] with gradients[i], at the learning rate of this step (a
  /// schedule's value at `iterations()`), then counts the iteration. The lists must be of one length,
  /// each variable given once; an undefined gradient (a variable the loss does not depend on) leaves
  /// its variable alone, as TensorFlow does with a None gradient, but a step whose every gradient is
  /// undefined is an Error, as TensorFlow's "No gradients provided for any variable" (the loss
  /// reaches none of them: a mistake, never a step); each gradient must have its variable's shape
  /// and dtype, and the learning rate must be finite and >= 0. Everything is checked before any
  /// variable changes, and a step that fails counts no iteration. Empty lists are a step that does
  /// nothing and is not counted, as in Keras.
  void apply_gradients(const std::vector<Tensor>& gradients, const std::vector<Variable>& variables);

  /// What `apply_gradients` passes the checked gradients through before the update, as Keras's
  /// `gradient_aggregator`: gradients in, gradients of the same shapes and dtypes out (an undefined one
  /// stays undefined), e.g. their mean across processes (tapegrad::distributed::DistributedOptimizer).
  using GradientAggregator =
      std::function<std::vector<Tensor>(const std::vector<Tensor>& gradients, const std::vector<Variable>& variables)>;
  /// Sets the aggregator; an empty function (the default) applies the gradients as given.
  void set_gradient_aggregator(GradientAggregator aggregator) { aggregator_ = std::move(aggregator); }
  /// Whether gradients go through an aggregator.
  bool has_gradient_aggregator() const { return static_cast<bool>(aggregator_); }

  /// The learning rate of the next step: the constant, or the schedule's value at `iterations()`.
  double learning_rate() const { return learning_rate_(iterations_); }
  /// The learning rate as given: a constant or a schedule.
  const LearningRate& learning_rate_setting() const { return learning_rate_; }
  /// Replaces the learning rate by a constant (finite and >= 0, else an Error) or a schedule.
  void set_learning_rate(LearningRate learning_rate);
  /// The number of `apply_gradients` calls so far (Keras's `iterations`).
  int64_t iterations() const { return iterations_; }
  /// The optimizer's name, e.g. "SGD".
  const std::string& name() const { return name_; }
  /// The slot `slot` of `variable` (e.g. "momentum"), or an undefined tensor when it has none.
  Tensor get_slot(const Variable& variable, const std::string& slot) const;

  /// The hyper-parameters besides the learning rate, by name (SGD: momentum, nesterov, weight_decay);
  /// none by default.
  virtual std::map<std::string, double, std::less<>> hyper_parameters() const { return {}; }
  /// The whole state, for a checkpoint: "iterations" (int64), "learning_rate" (the next step's) and
  /// each hyper-parameter ("hyper/momentum", float64 scalars), and each variable's slots
  /// ("slots/conv2d/kernel/momentum"), keyed by the variable's name. Saved and restored, the optimizer
  /// continues bit for bit. A schedule is not state but configuration, as the other constructor
  /// arguments: an optimizer made with a schedule keeps it in `load_state` (the restored iteration
  /// count puts it where it was) and ignores "learning_rate"; one with a constant takes the value.
  NamedTensors state() const;
  /// Restores what `state()` returned, strictly (an unknown, missing or malformed entry is an Error
  /// that lists them, and nothing changes). The iteration count and hyper-parameters are set at once;
  /// the slots wait for the next `apply_gradients`, which gives them to its variables by name (so
  /// the model need not be built yet), and is an Error when one of the slots' variables is not in it.
  void load_state(const NamedTensors& state);

 protected:
  /// An optimizer called `name` (in its errors) with a learning rate: a constant or a schedule.
  Optimizer(std::string name, LearningRate learning_rate);

  /// A variable's state between steps: named tensors, made by the optimizer on the first step.
  using Slots = std::map<std::string, Tensor, std::less<>>;
  /// Updates one variable with its gradient (of the same shape and dtype); `slots` is that
  /// variable's state, empty before its first step.
  virtual void update_step(Variable& variable, const Tensor& gradient, Slots& slots) = 0;
  /// Sets the hyper-parameters from `hyper_parameters()`'s names (all of them, checked as the
  /// constructor checks them); called by `load_state`. An optimizer with hyper-parameters overrides both.
  virtual void set_hyper_parameters(const std::map<std::string, double, std::less<>>& /*values*/) {}

 private:
  void take_pending_slots(const std::vector<Variable>& variables);
  struct VariableState {
    Variable variable;  // keeps the id in use while the state exists
    Slots slots;
  };
  std::string name_;
  LearningRate learning_rate_;
  GradientAggregator aggregator_;
  int64_t iterations_ = 0;
  std::unordered_map<uint64_t, VariableState> state_;        // by Variable::id()
  std::map<std::string, Slots, std::less<>> pending_slots_;  // by variable name, from load_state
};

}  // namespace tapegrad::optim
