#pragma once

#include <tapegrad/autograd/random.hpp>
#include <tapegrad/autograd/safetensors.hpp>
#include <tapegrad/autograd/tensor.hpp>
#include <tapegrad/autograd/variable.hpp>
#include <tapegrad/nn/initializers.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tapegrad::nn {

/// The base of every layer, as Keras's Layer: it owns named variables ("conv2d/kernel"), creates
/// them on the first call from the input's shape (`build`), then computes (`call`).
/// A module is neither copied nor moved: its variables and sub-modules are shared by reference.
///
/// Sub-modules: a module called inside another module's `call` becomes that module's sub-module on
/// the call (in call order; `track` does it ahead of time), so a user module that holds layers as
/// members lists their variables after its own without naming them, and `named_weights` gives
/// them paths ("resnet/block_1/conv2d/kernel"). A sub-module must outlive its parent's calls: hold it
/// as a member, or own it.
///
/// Training and inference, as Keras's `training` argument: `model(x, true)` calls in training
/// (Dropout drops, BatchNormalization uses the batch's statistics and updates its moving ones);
/// `model(x)` and `model(x, false)` in inference. A module called inside another's `call` without
/// the argument inherits the caller's mode; called from outside any module, it runs in inference,
/// as a Keras layer called outside `fit`. `training()` tells `call` which mode it runs in.
class Module {
 public:
  virtual ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// The module's name, unique per kind unless given: "conv2d", "conv2d_1", ...
  const std::string& name() const { return name_; }
  /// The dtype the module's variables are made in and its inputs must have (a module whose
  /// `checks_input_dtype` is false computes in its input's dtype).
  DType dtype() const { return dtype_; }
  /// True once `build` has run (after the first call).
  bool built() const { return built_; }
  /// False once frozen with `set_trainable(false)`.
  bool trainable() const { return trainable_; }
  /// Freezes (false) or unfreezes (true) the module and its sub-modules, as Keras's
  /// `layer.trainable = False`: a frozen module lists no trainable variables (its trainable
  /// weights count as non-trainable, so an optimizer given `trainable_variables()` leaves them
  /// alone), and a frozen BatchNormalization runs in inference even when called in training (its
  /// moving statistics are kept), as Keras's does. Sub-modules tracked later (on a user module's
  /// first call, or added to a frozen Sequential) are frozen as they are tracked.
  void set_trainable(bool trainable);

  /// Every variable: this module's own in creation order, then each tracked sub-module's.
  std::vector<Variable> weights() const;
  /// The trainable ones among `weights()`, in the same order: none of a frozen module's (see
  /// `set_trainable`).
  std::vector<Variable> trainable_variables() const;
  /// The non-trainable ones among `weights()` (such as BatchNormalization's moving statistics),
  /// in the same order: training updates them, optimizers do not.
  std::vector<Variable> non_trainable_variables() const;
  /// The number of scalars in `weights()` (Keras's count_params); 0 before the first call.
  int64_t count_params() const;
  /// The values of `weights()`, in the same order (Keras's get_weights).
  std::vector<Tensor> get_weights() const;
  /// Assigns `values` to `weights()`, in order; the count, each shape and each dtype must match,
  /// else nothing is assigned and a tapegrad::Error names the layer, the variable and the shapes.
  void set_weights(const std::vector<Tensor>& values);

  /// Each of `weights()` with its path from this module: "sequential/conv2d/kernel" (the variable's
  /// name, "conv2d/kernel", after the names of the modules above it), trainable and non-trainable.
  NamedTensors named_weights() const;
  /// The variables of `weights()`, each with its path, as `named_weights` names them.
  std::vector<std::pair<std::string, Variable>> named_variables() const;
  /// Assigns `weights` by path (as `named_weights` names them), strictly: every variable must be given,
  /// with its shape, and nothing else; otherwise one Error lists every missing, unexpected and
  /// mis-shaped name, and nothing is assigned. Floating values are converted to the variable's dtype.
  /// On a model not built yet (not called yet), the values wait for the build: each variable takes
  /// its value when it is made, and the first call ends with the same check, after the model is built.
  void load_named_weights(const NamedTensors& weights);
  /// Writes `named_weights()` to a safetensors file (atomically, see tapegrad::save); the model must be
  /// built.
  void save_weights(const std::string& path) const;
  /// Reads a file that `save_weights` (or any safetensors writer using the same names) wrote, and
  /// assigns it as `load_named_weights` does; errors name the file.
  void load_weights(const std::string& path);

  /// y = call(x), after build(x.shape()) on the first call (Keras's __call__). `training`: true for
  /// training, false for inference, nothing to inherit the calling module's mode (inference when
  /// called from outside any module), as Keras's `training` argument.
  Tensor operator()(const Tensor& x, std::optional<bool> training = std::nullopt);

  /// The layer's type as `summary` shows it, e.g. "Conv2D"; by default the module's default name.
  virtual std::string class_name() const { return kind_; }

  /// The shape of the module's output at its last call, or nothing before the first call.
  const std::optional<Shape>& output_shape() const { return output_shape_; }
  /// The sub-modules (tracked, or called inside this module's `call`), in order.
  std::vector<const Module*> submodules() const { return {children_.begin(), children_.end()}; }

  /// A table as Keras's model.summary(): each sub-module's name and type, output shape (the batch
  /// axis shown as None) and parameter count, then the totals: all, trainable, non-trainable (such
  /// as BatchNormalization's moving statistics). Shapes and counts are known after the first call;
  /// before it they show as "?".
  std::string summary() const;

 protected:
  /// A module named `name`, or, when `name` is empty, `default_name` made unique ("conv2d_1").
  /// Variables are made in `dtype`; `seed` fixes the generator of `add_weight`'s initializers
  /// (without one, it is seeded from the process-wide default generator, see `set_seed`).
  explicit Module(std::string_view default_name, std::string name = {}, DType dtype = DType::float32,
                  std::optional<uint64_t> seed = std::nullopt);

  /// Creates the variables for inputs of `input_shape`; runs once, before the first `call`.
  virtual void build(const Shape& input_shape);
  /// The forward computation, written with tapegrad's ops.
  virtual Tensor call(const Tensor& x) = 0;
  /// True when inputs must have the module's dtype (layers with weights); a layer without weights,
  /// such as an activation, returns false and computes in its input's dtype.
  virtual bool checks_input_dtype() const { return true; }
  /// True while `call` runs in training mode (see the class comment); false outside a call.
  bool training() const;
  /// Runs `compute` as one call of this module, as `operator()` runs `call`: the training mode set,
  /// the module tracked by its caller, built from `input`'s shape on the first call, the output
  /// shape kept. For modules that take other inputs than one tensor (Add takes several).
  Tensor run_call(const Tensor& input, std::optional<bool> training, const std::function<Tensor()>& compute);

  /// A new variable "<module name>/<name>" holding `initial`; names are unique within a module.
  Variable add_weight(const std::string& name, const Tensor& initial, bool trainable = true);
  /// A new variable of `shape` in the module's dtype, filled by `initializer` from `generator()`.
  Variable add_weight(const std::string& name, const Shape& shape, const Initializer& initializer,
                      bool trainable = true);
  /// The generator of this module's initial values, made on first use (from the seed, or from
  /// the default generator).
  Generator& generator();
  /// Includes `child`'s variables in `weights()` after this module's own, ahead of the first call (a
  /// child called inside `call` is tracked on that call without it). `child` must outlive this
  /// module's calls (hold it as a member, or own it); destroyed first, it leaves this module.
  void track(Module& child);

 private:
  std::string kind_;
  std::string name_;
  DType dtype_;
  std::optional<uint64_t> seed_;
  std::optional<Generator> generator_;
  std::vector<Variable> own_;
  std::vector<Module*> children_;
  std::vector<Module*> parents_;  // the modules that track this one (a child leaves them when destroyed)
  std::optional<Shape> output_shape_;
  bool built_ = false;
  bool trainable_ = true;

  // Values loaded before the build, shared by the module that loaded them and every module below it.
  struct PendingWeights;
  std::shared_ptr<PendingWeights> pending_;
  std::string pending_prefix_;  // the names of the modules between the loading one and this one, "a/b/"
  bool fully_built() const;
  void wait_for_build(const std::shared_ptr<PendingWeights>& pending, const std::string& prefix);
  void load_named(const NamedTensors& weights, std::string_view source);
  void finish_pending_load();
};

/// Forgets the names handed out so far, so the next "conv2d" is "conv2d" again (as Keras's
/// clear_session does for layer names).
void reset_names();

}  // namespace tapegrad::nn
