#include <tapegrad/nn/module.hpp>

#include <tapegrad/autograd/error.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

namespace tapegrad::nn {

namespace {

// Keras's layer names: the first "conv2d", then "conv2d_1", "conv2d_2", ...
struct NameCounters {
  std::mutex mutex;
  std::map<std::string, int64_t> next;
};

NameCounters& name_counters() {
  static NameCounters instance;
  return instance;
}

std::string unique_name(std::string_view base) {
  NameCounters& counters = name_counters();
  const std::lock_guard lock(counters.mutex);
  const int64_t n = counters.next[std::string(base)]++;
  return n == 0 ? std::string(base) : fmt::format("{}_{}", base, n);
}

// The modules being called on this thread, innermost last, each with its training mode.
struct CallFrame {
  Module* module;
  bool training;
};
std::vector<CallFrame>& call_stack() {
  thread_local std::vector<CallFrame> stack;
  return stack;
}

// Keras's output shape: the batch axis is None, as it may differ from call to call.
std::string keras_shape(const std::optional<Shape>& shape) {
  if (!shape) return "?";
  std::string text = "(";
  const auto dims = shape->dims();
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) text += ", ";
    text += i == 0 ? std::string("None") : fmt::format("{}", dims[i]);
  }
  return text + (dims.size() == 1 ? ",)" : ")");
}

std::string describe(const Tensor& t) {
  return t.defined() ? fmt::format("{} {}", t.shape(), dtype_name(t.dtype())) : "an undefined tensor";
}

// A loaded value fits a variable: the same shape, and a dtype it converts to without surprise (any
// floating dtype to the variable's floating dtype).
bool fits(const Tensor& value, const Tensor& variable) {
  return value.defined() && value.shape() == variable.shape() &&
         (value.dtype() == variable.dtype() || (is_floating(value.dtype()) && is_floating(variable.dtype())));
}

Tensor converted(const Tensor& value, DType dtype) { return value.dtype() == dtype ? value : value.to(dtype); }

std::string mismatch(const std::string& path, const Tensor& loaded, const Tensor& variable) {
  return fmt::format("{} (file: {}, model: {})", path, describe(loaded), describe(variable));
}

// One error for everything that does not match; nothing when all does.
void report(std::string_view module, std::string_view source, const std::vector<std::string>& missing,
            const std::vector<std::string>& unexpected, const std::vector<std::string>& mis_shaped) {
  std::vector<std::string> parts;
  if (!missing.empty()) parts.push_back(fmt::format("missing: {}", fmt::join(missing, ", ")));
  if (!unexpected.empty()) parts.push_back(fmt::format("unexpected: {}", fmt::join(unexpected, ", ")));
  if (!mis_shaped.empty()) parts.push_back(fmt::format("mis-shaped: {}", fmt::join(mis_shaped, ", ")));
  if (!parts.empty()) {
    fail("{}: load_weights: the model and {} differ; {}", module, source, fmt::join(parts, "; "));
  }
}

}  // namespace

void reset_names() {
  NameCounters& counters = name_counters();
  const std::lock_guard lock(counters.mutex);
  counters.next.clear();
}

Module::Module(std::string_view default_name, std::string name, DType dtype, std::optional<uint64_t> seed)
    : kind_(default_name),
      name_(name.empty() ? unique_name(default_name) : std::move(name)),
      dtype_(dtype),
      seed_(seed) {
  if (!is_floating(dtype)) fail("{}: a layer's dtype must be float32 or float64, got {}", name_, dtype_name(dtype));
}

Module::~Module() {
  for (Module* child : children_) std::erase(child->parents_, this);
  for (Module* parent : parents_) std::erase(parent->children_, this);
}

void Module::build(const Shape& /*input_shape*/) {}

std::vector<Variable> Module::weights() const {
  std::vector<Variable> all = own_;
  for (const Module* child : children_) {
    const std::vector<Variable> theirs = child->weights();
    all.insert(all.end(), theirs.begin(), theirs.end());
  }
  return all;
}

// A frozen module's variables are all non-trainable, whatever each sub-module's own flag says (Keras's
// trainable_weights of a frozen model is empty).
std::vector<Variable> Module::trainable_variables() const {
  if (!trainable_) return {};
  std::vector<Variable> trainable = own_;
  std::erase_if(trainable, [](const Variable& v) { return !v.trainable(); });
  for (const Module* child : children_) {
    const std::vector<Variable> theirs = child->trainable_variables();
    trainable.insert(trainable.end(), theirs.begin(), theirs.end());
  }
  return trainable;
}

std::vector<Variable> Module::non_trainable_variables() const {
  if (!trainable_) return weights();
  std::vector<Variable> frozen = own_;
  std::erase_if(frozen, [](const Variable& v) { return v.trainable(); });
  for (const Module* child : children_) {
    const std::vector<Variable> theirs = child->non_trainable_variables();
    frozen.insert(frozen.end(), theirs.begin(), theirs.end());
  }
  return frozen;
}

void Module::set_trainable(bool trainable) {
  trainable_ = trainable;
  for (Module* child : children_) child->set_trainable(trainable);
}

int64_t Module::count_params() const {
  int64_t count = 0;
  for (const Variable& v : weights()) count += v.shape().numel();
  return count;
}

std::vector<Tensor> Module::get_weights() const {
  std::vector<Tensor> values;
  for (const Variable& v : weights()) values.push_back(v.value());
  return values;
}

void Module::set_weights(const std::vector<Tensor>& values) {
  std::vector<Variable> variables = weights();
  if (values.size() != variables.size()) {
    fail("{}: set_weights got {} tensors, but the layer has {} weights{}", name_, values.size(), variables.size(),
         built_ ? "" : " (it is built on its first call)");
  }
  // Check everything first, so that a bad list changes nothing.
  for (size_t i = 0; i < values.size(); ++i) {
    const Tensor& value = values[i];
    const Variable& variable = variables[i];
    if (!value.defined() || value.shape() != variable.shape() || value.dtype() != variable.dtype()) {
      fail("{}: set_weights: weight {} ({}) is {} {}, got {}", name_, i, variable.name(), variable.shape(),
           dtype_name(variable.dtype()), describe(value));
    }
  }
  for (size_t i = 0; i < values.size(); ++i) variables[i].assign(values[i]);
}

struct Module::PendingWeights {
  const Module* owner;  // whose first call ends the load
  std::string source;   // the file, for the error
  std::map<std::string, Tensor, std::less<>> values;
  std::set<std::string, std::less<>> used;
  std::vector<std::string> mis_shaped;
};

bool Module::fully_built() const {
  return built_ && std::ranges::all_of(children_, [](const Module* child) { return child->fully_built(); });
}

std::vector<std::pair<std::string, Variable>> Module::named_variables() const {
  std::vector<std::pair<std::string, Variable>> named;
  for (const Variable& v : own_) named.emplace_back(v.name(), v);
  for (const Module* child : children_) {
    for (auto& [path, v] : child->named_variables()) named.emplace_back(fmt::format("{}/{}", name_, path), v);
  }
  return named;
}

NamedTensors Module::named_weights() const {
  NamedTensors named;
  for (auto& [path, v] : named_variables()) named.emplace_back(std::move(path), v.value());
  return named;
}

void Module::save_weights(const std::string& path) const {
  if (!fully_built()) {
    fail("{}: save_weights: {}: the model is not built yet (it is built on its first call), so it has no weights "
         "to save",
         name_, path);
  }
  const NamedTensors named = named_weights();
  std::set<std::string_view> seen;
  for (const auto& [name, value] : named) {
    if (!seen.insert(name).second) {
      fail("{}: save_weights: {}: two variables are named '{}'; give the layers distinct names", name_, path, name);
    }
  }
  save(path, named);
}

void Module::load_weights(const std::string& path) { load_named(load(path), path); }

void Module::load_named_weights(const NamedTensors& weights) { load_named(weights, "the weights given"); }

void Module::load_named(const NamedTensors& weights, std::string_view source) {
  auto pending = std::make_shared<PendingWeights>();
  pending->owner = this;
  pending->source = source;
  for (const auto& [name, value] : weights) {
    if (!pending->values.emplace(name, value).second) {
      fail("{}: load_weights: {}: '{}' is given twice", name_, source, name);
    }
  }
  const auto variables = named_variables();
  std::set<std::string_view> paths;
  for (const auto& [path, v] : variables) {
    if (!paths.insert(path).second) {
      fail("{}: load_weights: two variables are named '{}'; give the layers distinct names", name_, path);
    }
  }
  // The variables made already: check them all before assigning any.
  std::vector<std::string> missing, mis_shaped;
  for (const auto& [path, v] : variables) {
    const auto found = pending->values.find(path);
    if (found == pending->values.end()) {
      missing.push_back(fmt::format("{} ({})", path, describe(v.value())));
      continue;
    }
    pending->used.insert(path);
    if (!fits(found->second, v.value())) mis_shaped.push_back(mismatch(path, found->second, v.value()));
  }
  if (fully_built()) {
    std::vector<std::string> unexpected;
    for (const auto& [name, value] : pending->values) {
      if (!pending->used.contains(name)) unexpected.push_back(fmt::format("{} ({})", name, describe(value)));
    }
    report(name_, source, missing, unexpected, mis_shaped);
  } else {
    // The variables not made yet take their values as they are made (add_weight), and the first call
    // checks the rest. Whatever is wrong already is said now.
    report(name_, source, {}, {}, mis_shaped);
  }
  for (auto [path, v] : variables) {
    const auto found = pending->values.find(path);
    if (found != pending->values.end()) v.assign(converted(found->second, v.dtype()));
  }
  if (!fully_built()) wait_for_build(pending, "");
}

void Module::wait_for_build(const std::shared_ptr<PendingWeights>& pending, const std::string& prefix) {
  pending_ = pending;
  pending_prefix_ = prefix;
  for (Module* child : children_) child->wait_for_build(pending, pending ? prefix + name_ + "/" : "");
}

void Module::finish_pending_load() {
  const std::shared_ptr<PendingWeights> pending = pending_;
  wait_for_build(nullptr, "");
  std::vector<std::string> missing, unexpected;
  for (const auto& [path, v] : named_variables()) {
    if (!pending->used.contains(path)) missing.push_back(fmt::format("{} ({})", path, describe(v.value())));
  }
  for (const auto& [name, value] : pending->values) {
    if (!pending->used.contains(name)) unexpected.push_back(fmt::format("{} ({})", name, describe(value)));
  }
  report(name_, pending->source, missing, unexpected, pending->mis_shaped);
}

Tensor Module::operator()(const Tensor& x, std::optional<bool> training) {
  return run_call(x, training, [&] { return call(x); });
}

bool Module::training() const {
  const std::vector<CallFrame>& stack = call_stack();
  return !stack.empty() && stack.back().training;
}

Tensor Module::run_call(const Tensor& x, std::optional<bool> training, const std::function<Tensor()>& compute) {
  if (!x.defined()) fail("{}: called with an undefined tensor", name_);
  if (checks_input_dtype() && is_floating(x.dtype()) && x.dtype() != dtype_) {
    fail("{}: input is {} {}, but the layer computes in {} (set the layer's dtype, or convert the input with .to())",
         name_, x.shape(), dtype_name(x.dtype()), dtype_name(dtype_));
  }
  std::vector<CallFrame>& stack = call_stack();
  if (!stack.empty()) {
    // Called inside another module's call: that module's sub-module from now on (Keras tracks a
    // layer assigned to an attribute; here, a layer used in `call`).
    Module* caller = stack.back().module;
    const bool on_stack = std::ranges::any_of(stack, [&](const CallFrame& frame) { return frame.module == this; });
    if (!on_stack && std::ranges::find(caller->children_, this) == caller->children_.end()) caller->track(*this);
  }
  stack.push_back({this, training.value_or(!stack.empty() && stack.back().training)});
  struct Pop {
    std::vector<CallFrame>& stack;
    ~Pop() { stack.pop_back(); }
  } pop{stack};

  if (!built_) {
    const size_t own = own_.size(), children = children_.size();
    try {
      build(x.shape());
    } catch (...) {  // a failed build leaves no half-made weights behind, so a later call can retry
      own_.resize(own);
      for (size_t i = children; i < children_.size(); ++i) std::erase(children_[i]->parents_, this);
      children_.resize(children);
      throw;
    }
    built_ = true;
  }
  Tensor y = compute();
  output_shape_ = y.shape();
  if (pending_ != nullptr && pending_->owner == this) finish_pending_load();
  return y;
}

std::string Module::summary() const {
  struct Row {
    std::string layer, shape, params;
  };
  std::vector<Row> rows;
  for (const Module* child : children_) {
    const bool known = child->built() || child->output_shape_.has_value();
    rows.push_back({fmt::format("{} ({})", child->name(), child->class_name()), keras_shape(child->output_shape_),
                    known ? fmt::format("{}", child->count_params()) : std::string("?")});
  }
  const int64_t total = count_params();
  int64_t trainable = 0;
  for (const Variable& v : trainable_variables()) trainable += v.shape().numel();
  size_t name_width = std::string_view("Layer (type)").size(), shape_width = std::string_view("Output Shape").size();
  for (const Row& row : rows) {
    name_width = std::max(name_width, row.layer.size());
    shape_width = std::max(shape_width, row.shape.size());
  }
  name_width += 2;
  shape_width += 2;
  const size_t width = name_width + shape_width + 10;
  const std::string thin(width, '_'), thick(width, '=');

  std::string text = fmt::format("Model: \"{}\"\n{}\n", name(), thin);
  text +=
      fmt::format("{:<{}}{:<{}}{}\n{}\n", "Layer (type)", name_width, "Output Shape", shape_width, "Param #", thick);
  for (const Row& row : rows) {
    text += fmt::format("{:<{}}{:<{}}{}\n", row.layer, name_width, row.shape, shape_width, row.params);
  }
  text += fmt::format("{}\nTotal params: {}\nTrainable params: {}\nNon-trainable params: {}\n{}\n", thick, total,
                      trainable, total - trainable, thin);
  if (!built()) text += "(not built yet: shapes and counts are known after the model's first call)\n";
  return text;
}

Variable Module::add_weight(const std::string& name, const Tensor& initial, bool trainable) {
  std::string full_name = fmt::format("{}/{}", name_, name);
  if (std::ranges::any_of(own_, [&](const Variable& v) { return v.name() == full_name; })) {
    fail("{}: add_weight: the layer already has a weight named '{}'", name_, name);
  }
  if (!initial.defined() || !is_floating(initial.dtype())) {
    fail("{}: add_weight '{}': expected a float32 or float64 initial value, got {}", name_, name, describe(initial));
  }
  Tensor value = initial;
  if (pending_ != nullptr) {  // loaded before the build: the file's value, when it fits
    const std::string path = pending_prefix_ + full_name;
    const auto found = pending_->values.find(path);
    if (found != pending_->values.end()) {
      pending_->used.insert(path);
      if (fits(found->second, initial)) {
        value = converted(found->second, initial.dtype());
      } else {
        pending_->mis_shaped.push_back(mismatch(path, found->second, initial));
      }
    }
  }
  own_.emplace_back(value, std::move(full_name), trainable);
  return own_.back();
}

Variable Module::add_weight(const std::string& name, const Shape& shape, const Initializer& initializer,
                            bool trainable) {
  return add_weight(name, initializer.make(shape, dtype_, generator()), trainable);
}

Generator& Module::generator() {
  if (!generator_) generator_.emplace(seed_ ? *seed_ : next_seed());
  return *generator_;
}

void Module::track(Module& child) {
  if (&child == this || std::ranges::find(children_, &child) != children_.end()) {
    fail("{}: track: '{}' is {}", name_, child.name_, &child == this ? "the module itself" : "tracked already");
  }
  children_.push_back(&child);
  child.parents_.push_back(this);
  if (!trainable_) child.set_trainable(false);  // frozen before its sub-modules were tracked
  if (pending_ != nullptr) child.wait_for_build(pending_, pending_prefix_ + name_ + "/");
}

}  // namespace tapegrad::nn
