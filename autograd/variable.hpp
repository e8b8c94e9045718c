#pragma once

#include <tapegrad/autograd/tensor.hpp>

#include <iosfwd>
#include <memory>
#include <string>

namespace tapegrad {

/// A named, mutable holder of a tensor value: what layers train. A Variable is a handle; copies
/// share one value. Assigning replaces the held tensor, so values a tape recorded never change.
/// Threads: any number may read the value at once (read, value, ops taking the variable); assign,
/// assign_add and assign_sub must not run while another thread reads or assigns the same variable,
/// through any handle (order them with a lock or a join). Values read before stay intact.
class Variable {
 public:
  /// An empty handle (no value).
  Variable() = default;
  /// A variable holding `initial`, trainable unless told otherwise.
  explicit Variable(Tensor initial, std::string name = "Variable", bool trainable = true);

  /// The current value, recorded as a read on active tapes that watch this variable (or that
  /// watch every trainable variable accessed).
  Tensor read() const;
  /// Same as read(): lets a Variable stand wherever a Tensor is taken.
  operator Tensor() const { return read(); }  // NOLINT: implicit by design, as in TensorFlow
  /// The current value, not recorded.
  const Tensor& value() const;

  /// Replaces the value; shape and dtype must stay the same.
  void assign(Tensor value);
  /// value -= delta (not recorded).
  void assign_sub(const Tensor& delta);
  /// value += delta (not recorded).
  void assign_add(const Tensor& delta);

  /// The name given at creation.
  const std::string& name() const;
  /// Whether optimizers and `watch_accessed_variables` see it.
  bool trainable() const;
  /// A number unique among tensors and variables; tapes key on it.
  uint64_t id() const;
  /// The value's shape.
  const Shape& shape() const { return value().shape(); }
  /// The value's dtype.
  DType dtype() const { return value().dtype(); }
  /// True when the handle holds a variable.
  bool defined() const { return state_ != nullptr; }

 private:
  struct State {
    Tensor value;
    std::string name;
    bool trainable;
    uint64_t id;
  };
  const State& state() const;
  std::shared_ptr<State> state_;
};

/// A fresh id from the counter tensors and variables share (internal).
uint64_t next_id();

/// "<Variable 'dense/kernel' shape=2x3 dtype=float32, value=[[...]]>", as TensorFlow prints one;
/// "<Variable (empty)>" for an empty handle. The value is not recorded on any tape.
std::string to_string(const Variable& variable);
/// Writes `to_string(variable)`.
std::ostream& operator<<(std::ostream& out, const Variable& variable);

}  // namespace tapegrad

template <>
struct fmt::formatter<tapegrad::Variable> : fmt::formatter<std::string> {
  auto format(const tapegrad::Variable& variable, format_context& ctx) const {
    return fmt::formatter<std::string>::format(tapegrad::to_string(variable), ctx);
  }
};
