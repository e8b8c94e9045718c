#include <tapegrad/autograd/variable.hpp>

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/tape.hpp>

#include "autograd/ops/record.hpp"

#include <atomic>
#include <ostream>

namespace tapegrad {

Variable::Variable(Tensor initial, std::string name, bool trainable)
    : state_(std::make_shared<State>(State{std::move(initial), std::move(name), trainable, next_id()})) {
  if (!state_->value.defined()) fail("Variable '{}': the initial value is an undefined tensor", state_->name);
  // NOTE: a tensor of its own: tapes know a variable's reads by its value's id, which no other
  // tensor (a watched tensor, another variable's value) may share. One that no other handle
  // holds (a temporary, or the new value of assign_sub) is taken as it is; any other is copied.
  if (!state_->value.unique()) state_->value = state_->value.to(state_->value.dtype());
}

const Variable::State& Variable::state() const {
  if (state_ == nullptr) fail("Variable: used an empty variable handle");
  return *state_;
}

Tensor Variable::read() const {
  Tensor value = state().value;  // this call's own handle: tapes take their copies from it
  detail::TapeInternals::record_read(*this, value);
  return value;
}

const Tensor& Variable::value() const { return state().value; }

void Variable::assign(Tensor value) {
  const Tensor& current = state().value;
  if (!value.defined() || value.shape() != current.shape() || value.dtype() != current.dtype()) {
    fail("Variable::assign: '{}' is {} {}, got {} {}", state_->name, current.shape(), dtype_name(current.dtype()),
         value.defined() ? value.shape().str() : "undefined", value.defined() ? dtype_name(value.dtype()) : "");
  }
  // A tensor of its own (see the constructor); the old value stays intact.
  state_->value = value.unique() ? std::move(value) : value.to(value.dtype());
}

namespace {
// The delta of assign_sub and assign_add: defined, of the value's dtype, and broadcast to its shape.
void check_delta(const Tensor& value, const Tensor& delta, const std::string& name, const char* op) {
  if (!delta.defined() || delta.dtype() != value.dtype() ||
      broadcast_shapes(value.shape(), delta.shape(), op) != value.shape()) {
    fail("{}: '{}' is {} {}, got a delta {} {}; expected its dtype and a shape that broadcasts to its own", op, name,
         value.shape(), dtype_name(value.dtype()), delta.defined() ? delta.shape().str() : "undefined",
         delta.defined() ? dtype_name(delta.dtype()) : "");
  }
}
}  // namespace

void Variable::assign_sub(const Tensor& delta) {
  check_delta(state().value, delta, state_->name, "Variable::assign_sub");
  StopRecording not_recorded;
  assign(state().value - delta);
}

void Variable::assign_add(const Tensor& delta) {
  check_delta(state().value, delta, state_->name, "Variable::assign_add");
  StopRecording not_recorded;
  assign(state().value + delta);
}

const std::string& Variable::name() const { return state().name; }
bool Variable::trainable() const { return state().trainable; }
uint64_t Variable::id() const { return state().id; }

std::string to_string(const Variable& variable) {
  if (!variable.defined()) return "<Variable (empty)>";
  const Tensor& value = variable.value();
  return fmt::format("<Variable '{}' shape={} dtype={}, value={}>", variable.name(), value.shape(),
                     dtype_name(value.dtype()), to_string(value));
}

std::ostream& operator<<(std::ostream& out, const Variable& variable) { return out << to_string(variable); }

}  // namespace tapegrad
