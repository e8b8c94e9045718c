#include <tapegrad/nn/module.hpp>

#include <tapegrad/autograd/error.hpp>

#include <algorithm>
#include <map>
#include <mutex>

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

std::string describe(const Tensor& t) {
  return t.defined() ? fmt::format("{} {}", t.shape(), dtype_name(t.dtype())) : "an undefined tensor";
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

void Module::build(const Shape& /*input_shape*/) {}

std::vector<Variable> Module::weights() const {
  std::vector<Variable> all = own_;
  for (const Module* child : children_) {
    const std::vector<Variable> theirs = child->weights();
    all.insert(all.end(), theirs.begin(), theirs.end());
  }
  return all;
}

std::vector<Variable> Module::trainable_variables() const {
  std::vector<Variable> trainable = weights();
  std::erase_if(trainable, [](const Variable& v) { return !v.trainable(); });
  return trainable;
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

Tensor Module::operator()(const Tensor& x) {
  if (!x.defined()) fail("{}: called with an undefined tensor", name_);
  if (checks_input_dtype() && is_floating(x.dtype()) && x.dtype() != dtype_) {
    fail("{}: input is {} {}, but the layer computes in {} (set the layer's dtype, or convert the input with .to())",
         name_, x.shape(), dtype_name(x.dtype()), dtype_name(dtype_));
  }
  if (!built_) {
    const size_t own = own_.size(), children = children_.size();
    try {
      build(x.shape());
    } catch (...) {  // a failed build leaves no half-made weights behind, so a later call can retry
      own_.resize(own);
      children_.resize(children);
      throw;
    }
    built_ = true;
  }
  return call(x);
}

Variable Module::add_weight(const std::string& name, const Tensor& initial, bool trainable) {
  std::string full_name = fmt::format("{}/{}", name_, name);
  if (std::ranges::any_of(own_, [&](const Variable& v) { return v.name() == full_name; })) {
    fail("{}: add_weight: the layer already has a weight named '{}'", name_, name);
  }
  if (!initial.defined() || !is_floating(initial.dtype())) {
    fail("{}: add_weight '{}': expected a float32 or float64 initial value, got {}", name_, name, describe(initial));
  }
  own_.emplace_back(initial, std::move(full_name), trainable);
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
}

}  // namespace tapegrad::nn
