// The gradient tape, in the order it runs: the stack of active tapes, watch, record (an op appends
// an entry), the backward sweep (the chain rule, entries read in reverse), StopRecording.
// Elsewhere: the storage and id index in detail/, the printers in tape_printing.cpp, the
// jacobians in jacobian.cpp, and what an op definition sees of the tape in ops/record.hpp.

#include <tapegrad/autograd/tape.hpp>

#include "autograd/detail/anomaly.hpp"
#include "autograd/detail/tape_printing.hpp"
#include "autograd/detail/tape_storage.hpp"
#include "autograd/ops/record.hpp"

#include <tapegrad/autograd/ops.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <optional>

namespace tapegrad {

// ---- The stack of active tapes: each thread's, innermost last.

using Owner = detail::TapeStorage::Owner;

// This thread's active tapes, and their storage (which the stack reads on every op); a tape that
// another thread destroyed stays here, its storage alive, until drop_abandoned frees it.
struct detail::TapeStack {
  std::vector<GradientTape*> tapes;
  std::vector<TapeStorage*> storages;  // storages[i] is tapes[i]'s
  std::vector<StopRecording*> pauses;  // the StopRecording scopes alive on this thread

  // At thread exit: the storage of a tape destroyed elsewhere is freed here; a tape still alive
  // (made on this thread, destroyed later elsewhere) frees its own.
  ~TapeStack() {
    for (TapeStorage* storage : storages) {
      if (storage->owner.exchange(Owner::thread_gone, std::memory_order_acq_rel) == Owner::tape_gone) {
        RecycleTapeStorage{}(storage);
      }
    }
  }

  // Takes tape i off the stack (and out of the StopRecording scopes that paused it).
  void remove(size_t i) {
    for (StopRecording* pause : pauses) std::erase(pause->paused_, storages[i]);
    tapes.erase(tapes.begin() + static_cast<std::ptrdiff_t>(i));
    storages.erase(storages.begin() + static_cast<std::ptrdiff_t>(i));
  }

  // Frees the storage of the tapes other threads destroyed (the slow path of live_tapes).
  [[gnu::noinline]] void drop_abandoned() {
    for (size_t i = storages.size(); i-- > 0;) {
      TapeStorage* storage = storages[i];
      if (storage->owner.load(std::memory_order_acquire) == Owner::tape_gone) {
        remove(i);
        RecycleTapeStorage{}(storage);
      }
    }
  }
};

namespace {

using detail::TapeStack;

// A thread's identity for its tapes: the address of its own copy of this variable, read without
// the library call std::this_thread::get_id() makes (tapes check it on every member call).
thread_local const char thread_marker = 0;
const void* thread_identity() { return &thread_marker; }

TapeStack& tape_stack() {
  thread_local TapeStack stack;
  return stack;
}

// This thread's stack, without the tapes other threads destroyed. A tape destroyed elsewhere after
// this look is still recorded on until the next: its storage stays alive until then.
TapeStack& live_tapes() {
  TapeStack& stack = tape_stack();
  for (const detail::TapeStorage* storage : stack.storages) {
    if (storage->owner.load(std::memory_order_acquire) != Owner::shared) [[unlikely]] {
      stack.drop_abandoned();
      break;
    }
  }
  return stack;
}

}  // namespace

std::span<GradientTape* const> active_tapes() { return live_tapes().tapes; }

bool any_tape_tracks(const Tensor& tensor) {
  return std::ranges::any_of(live_tapes().storages, [&](const detail::TapeStorage* tape) {
    return tape->paused == 0 && detail::TapeInternals::tracks(*tape, tensor.id());
  });
}

GradientTape::GradientTape(TapeOptions options)
    : options_(options), thread_(thread_identity()), storage_(detail::take_tape_storage()) {
  storage_->owner.store(Owner::shared, std::memory_order_relaxed);
  storage_->paused = 0;
  storage_->watch_accessed_variables = options.watch_accessed_variables;
  TapeStack& stack = live_tapes();
  stack.tapes.push_back(this);
  stack.storages.push_back(storage_.get());
}

// Never throws, on any thread. On its own thread the tape leaves the stack and its storage goes
// back to the pool; on another, it hands the storage to its thread's stack, or frees it when that
// thread has ended. Either way no other thread's stack is touched.
GradientTape::~GradientTape() {
  if (thread_identity() != thread_) {
    if (storage_->owner.exchange(Owner::tape_gone, std::memory_order_acq_rel) != Owner::thread_gone) {
      (void)storage_.release();  // the stack frees it
    }
    return;
  }
  if (storage_->owner.load(std::memory_order_relaxed) == Owner::thread_gone) return;  // destroyed at thread exit
  TapeStack& stack = tape_stack();
  if (!stack.tapes.empty() && stack.tapes.back() == this && stack.pauses.empty()) {  // the innermost, as most are
    stack.tapes.pop_back();
    stack.storages.pop_back();
    return;
  }
  const auto it = std::find(stack.tapes.begin(), stack.tapes.end(), this);
  if (it != stack.tapes.end()) stack.remove(static_cast<size_t>(it - stack.tapes.begin()));
}

void GradientTape::check_thread(const char* member) const {
  if (thread_identity() != thread_) [[unlikely]] {
    fail("GradientTape::{}: called on another thread than the one that made the tape; a tape belongs to its "
         "thread, which alone records on it and uses it (make a tape on each thread that computes gradients)",
         member);
  }
}

bool GradientTape::recording() const {
  check_thread("recording");
  return storage_->paused == 0;
}

// ---- Watch: a source becomes a node of the tape (see detail/tape_storage.hpp).

namespace {
void watch_variable(detail::TapeStorage& tape, const Variable& variable) {
  if (is_floating(variable.dtype()) && tape.add_watch(variable.id()))
    tape.labels.emplace_back(variable.id(), variable.name());
}
}  // namespace

// Integer tensors and variables have no gradient: asking to watch one is an error (TensorFlow warns
// and returns None later; a learner is better told at once). The variables that
// watch_accessed_variables finds are skipped when they are integer ones.
void GradientTape::watch(const Tensor& tensor, std::string_view name) {
  check_thread("watch");
  if (!tensor.defined()) fail("GradientTape::watch: the tensor is undefined; expected a float tensor");
  if (!is_floating(tensor.dtype())) {
    fail("GradientTape::watch: tensor {} {} is an integer tensor, which has no gradient; expected float32 or float64 "
         "(convert with .to(DType::float32))",
         tensor.shape(), dtype_name(tensor.dtype()));
  }
  if (storage_->add_watch(tensor.id()) && !name.empty()) storage_->labels.emplace_back(tensor.id(), name);
}

void GradientTape::watch(const Variable& variable) {
  check_thread("watch");
  if (!is_floating(variable.dtype())) {
    fail("GradientTape::watch: variable '{}' ({} {}) is an integer variable, which has no gradient; expected float32 "
         "or float64",
         variable.name(), variable.shape(), dtype_name(variable.dtype()));
  }
  watch_variable(*storage_, variable);
}

// ---- Recording: each op on a tracked tensor appends an entry, in execution order.

int32_t detail::TapeInternals::node(const TapeStorage& tape, uint64_t id) { return tape.node(id); }

const detail::TapeStorage& detail::TapeInternals::storage(const GradientTape& tape) { return *tape.storage_; }

namespace {
// One input of an op being recorded: the caller's tensor, and the id the tape knows it by (the
// tensor's own, or the variable's for a variable read).
struct InputRef {
  const Tensor* tensor;
  uint64_t id;
};

// Appends `output = op(inputs)` to `tape` when it tracks one of the `count` inputs, `input_at(i)`
// giving input i as an InputRef. The entry is built where it stays: a TapeEntry holds several small
// vectors, and moving one costs as much as a small op. `output` must be a handle only this thread
// reaches (the entry copies it with Tensor::copy_of_own).
template <typename InputAt>
void append_entry(detail::TapeStorage& tape, const char* op, size_t count, InputAt input_at, const Tensor& output,
                  BackwardFn backward, const Attrs& attrs, InputUse input_use) {
  // The nodes of the first inputs (up to batch normalization's five) are kept from the lookup that
  // decides whether to record; any further input's (concat's) is looked up again.
  constexpr size_t kKeptNodes = 5;
  std::array<int32_t, kKeptNodes> kept_nodes{};
  bool tracked = false;
  for (size_t i = 0; i < count; ++i) {
    const int32_t node = tape.node(input_at(i).id);
    if (i < kKeptNodes) kept_nodes[i] = node;
    tracked |= node >= 0;
  }
  if (!tracked) return;
  TapeEntry& entry = tape.entries.emplace_back(op, backward);
  entry.inputs.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const InputRef input = input_at(i);
    const Tensor& t = *input.tensor;
    entry.inputs.emplace_back(input_use == InputUse::values ? Tensor(t) : Tensor{}, input.id,
                              i < kKeptNodes ? kept_nodes[i] : tape.node(input.id), t.dtype(), t.shape());
  }
  entry.output = output.copy_of_own();
  entry.output_node = tape.add_node(output.id());
  entry.attrs = attrs;
  tape.nodes[static_cast<size_t>(entry.output_node)].producer = static_cast<int32_t>(tape.entries.size() - 1);
}

Grads identity_backward(const BackwardArgs& args) { return {args.grad_if_needed(0)}; }
}  // namespace

void detail::TapeInternals::record_read(const Variable& variable, const Tensor& value) {
  if (!is_floating(value.dtype())) return;  // integer variables are never watched
  for (TapeStorage* tape : live_tapes().storages) {
    if (tape->paused != 0) continue;
    if (!tape->watches(variable.id())) {
      if (!tape->watch_accessed_variables || !variable.trainable()) continue;
      watch_variable(*tape, variable);
    }
    if (tracks(*tape, value.id())) continue;  // this value was read already: one entry is enough
    const InputRef input{&value, variable.id()};
    append_entry(
        *tape, "read_variable", 1, [&](size_t) { return input; }, value, identity_backward, {}, InputUse::shapes);
  }
}

namespace {
// DetectAnomaly's check of an op's output, after the tapes recorded it: not inside a backward sweep
// (its backward's check covers it) nor inside a StopRecording (a composite op's inner steps, an
// optimizer's update).
template <typename Tensors>
[[gnu::cold, gnu::noinline]] void check_numerics(const char* op, const Tensors& inputs, const Tensor& output) {
  if (!tape_stack().pauses.empty()) return;
  SmallVector<const Tensor*, 3> list;
  for (const Tensor& t : inputs) list.push_back(&t);
  detail::check_forward(op, {list.data(), list.size()}, output);
}

template <typename Tensors>
Tensor record_on_tapes(const char* op, const Tensors& inputs, Tensor output, BackwardFn backward, const Attrs& attrs,
                       InputUse input_use) {
  if (is_floating(output.dtype())) {
    const auto input_at = [&](size_t i) {
      const Tensor& t = inputs.begin()[i];
      return InputRef{&t, t.id()};
    };
    for (detail::TapeStorage* tape : live_tapes().storages) {
      // Inside a backward sweep or a StopRecording a tape is paused.
      if (tape->paused == 0) append_entry(*tape, op, inputs.size(), input_at, output, backward, attrs, input_use);
    }
  }
  if (detail::anomaly_scopes_anywhere()) [[unlikely]]
    check_numerics(op, inputs, output);
  return output;
}
}  // namespace

Tensor record(const char* op, InputList inputs, Tensor output, BackwardFn backward, const Attrs& attrs,
              InputUse input_use) {
  return record_on_tapes(op, inputs, std::move(output), backward, attrs, input_use);
}

Tensor record(const char* op, std::span<const Tensor> inputs, Tensor output, BackwardFn backward, const Attrs& attrs,
              InputUse input_use) {
  return record_on_tapes(op, inputs, std::move(output), backward, attrs, input_use);
}

// ---- NameScope: the entries recorded while it is open form one named group (for the printouts).

namespace {
// The NameScopes open on this thread: only the outermost one groups entries.
int& name_scope_depth() {
  thread_local int depth = 0;
  return depth;
}
}  // namespace

NameScope::NameScope(std::string_view name) : name_(name) {
  if (name_scope_depth()++ > 0) return;
  for (detail::TapeStorage* tape : live_tapes().storages) starts_.push_back({tape, tape->entries.size()});
}

NameScope::~NameScope() {
  --name_scope_depth();
  for (const auto& [tape, first] : starts_) {
    // A tape that ended inside the scope is gone; one reset inside it lost the scope's entries.
    const auto& live = tape_stack().storages;
    if (std::find(live.begin(), live.end(), tape) == live.end()) continue;
    const size_t end = tape->entries.size();
    if (end > first) tape->scopes.push_back({name_, first, end});
  }
}

// ---- The backward sweep.

// Checked before the tape is used up, so that a call with bad arguments leaves it usable.
void GradientTape::begin_gradient(const Tensor& target, std::span<const Source> sources, const GradientOptions& options,
                                  const char* caller) {
  check_thread(caller);
  if (!target.defined()) fail("GradientTape::{}: the target is an undefined tensor", caller);
  if (options.output_gradients && !options.output_gradients->defined())
    fail("GradientTape::{}: output_gradients is an undefined tensor", caller);
  for (size_t i = 0; i < sources.size(); ++i) {
    if (!is_floating(sources[i].dtype())) {
      fail("GradientTape::{}: source {} of {} is {} {}, an integer tensor, which has no gradient; expected float32 or "
           "float64",
           caller, i + 1, sources.size(), sources[i].shape(), dtype_name(sources[i].dtype()));
    }
  }
  if (!is_floating(target.dtype())) {
    fail("GradientTape::{}: target is {} {}, expected a float tensor", caller, target.shape(),
         dtype_name(target.dtype()));
  }
  if (const auto& seed = options.output_gradients;
      seed && (seed->shape() != target.shape() || seed->dtype() != target.dtype())) {
    fail("GradientTape::{}: output_gradients is {} {}, expected the target's {} {}", caller, seed->shape(),
         dtype_name(seed->dtype()), target.shape(), dtype_name(target.dtype()));
  }
  if (used_ && !options_.persistent) {
    fail("GradientTape::{}: this tape is not persistent and has computed a gradient already "
         "(make it with persistent = true to call gradient more than once)",
         caller);
  }
  used_ = true;
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target, std::span<const Source> sources,
                                           const GradientOptions& options) {
  begin_gradient(target, sources, options, "gradient");
  std::vector<Tensor> results(sources.size());
  compute(target, sources, options, results);
  return results;
}

Tensor GradientTape::gradient(const Tensor& target, const Source& source, const GradientOptions& options) {
  begin_gradient(target, {&source, 1}, options, "gradient");
  Tensor result;
  compute(target, {&source, 1}, options, {&result, 1});
  return result;
}

namespace {
// True when NumPy broadcasting repeats `from` to `to`.
bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.rank() > to.rank()) return false;
  const int skip = to.rank() - from.rank();
  for (int k = 0; k < from.rank(); ++k) {
    if (from[k] != 1 && from[k] != to[skip + k]) return false;
  }
  return true;
}

// What a backward may return: one gradient per input, and for each needed input a gradient of its
// dtype, of its shape or of a shape its shape broadcasts to. The latter is summed back to the
// input's shape here, the one place broadcasting is undone (so add, mul and the others return
// gradients of their output's shape). Anything else is the op's error.
void fit_to_inputs(Grads& grads, const TapeEntry& entry, std::span<const char> needed) {
  if (grads.size() != entry.inputs.size()) {
    fail("GradientTape::gradient: the backward of '{}' returned {} gradients for {} inputs", entry.op, grads.size(),
         entry.inputs.size());
  }
  for (size_t i = 0; i < grads.size(); ++i) {
    Tensor& grad = grads[i];
    const EntryInput& input = entry.inputs[i];
    if (needed[i] == 0 || !grad.defined() || (grad.dtype() == input.dtype && grad.shape() == input.shape)) continue;
    if (grad.dtype() != input.dtype || !broadcasts_to(input.shape, grad.shape())) {
      fail("GradientTape::gradient: the backward of '{}' returned a {} gradient of shape {} for input {}, a {} "
           "tensor of shape {}",
           entry.op, dtype_name(grad.dtype()), grad.shape(), i, dtype_name(input.dtype), input.shape);
    }
    grad = sum_to(grad, input.shape);
  }
}
}  // namespace

void detail::TapeInternals::sweep(GradientTape& tape, const Tensor& target, std::span<const Source> sources,
                                  SweepObserver& observer, std::span<Tensor> results) {
  tape.compute(target, sources, {}, results, &observer);
}

void GradientTape::compute(const Tensor& target, std::span<const Source> sources, const GradientOptions& options,
                           std::span<Tensor> results, detail::SweepObserver* observer) {
  // A trace is an observer that prints (autograd/tape_printing.cpp).
  std::optional<detail::TraceWriter> trace;
  if (options.trace && observer == nullptr) observer = &trace.emplace(*this, options);
  Tensor seed = options.output_gradients ? *options.output_gradients : detail::ones_seed(target);

  // The ops of the backward sweep are recorded by outer tapes that watch them, never by this one.
  const detail::AnomalySweep checked_as_backward(detail::anomaly_scopes_anywhere());
  detail::TapeStorage& s = *storage_;
  ++s.paused;
  struct Resume {
    int& paused;
    ~Resume() { --paused; }
  } resume{s.paused};

  // Local views: the vectors' sizes and data are read once, not reloaded after every store.
  s.sweep.assign(s.nodes.size(), {});
  const std::span<detail::TapeStorage::NodeState> state = s.sweep;
  const std::span<const TapeEntry> entries = s.entries;
  SmallVector<int32_t, 1> source_nodes;
  for (const Source& source : sources) {
    const int32_t n = source_nodes.emplace_back(s.node(source.id()));
    if (n >= 0) state[n].is_source = state[n].reaches_source = true;
  }
  // Forward over the entries: which nodes depend on a source.
  const auto reaches_source = [&](const EntryInput& input) {
    return input.node >= 0 && state[input.node].reaches_source;
  };
  for (const TapeEntry& entry : entries) {
    if (std::ranges::any_of(entry.inputs, reaches_source)) state[entry.output_node].reaches_source = true;
  }

  // Backward: entries in reverse execution order are a topological order. No recursion.
  if (const int32_t t = s.node(target.id()); t >= 0) state[t].grad = std::move(seed);
  SmallVector<char, 8> needed;
  for (size_t e = entries.size(); e-- > 0;) {
    const TapeEntry& entry = entries[e];
    Tensor& out_grad = state[entry.output_node].grad;
    if (!out_grad.defined()) continue;
    // Only the inputs that depend on a source need a gradient; an entry with none is off the path.
    needed.clear();
    bool on_path = false;
    for (const EntryInput& input : entry.inputs) {
      const bool need = reaches_source(input);
      needed.push_back(need ? 1 : 0);
      on_path |= need;
    }
    if (!on_path) continue;
    // A source's gradient stays for the results; any other is consumed here, and freed early.
    Tensor upstream = state[entry.output_node].is_source ? out_grad : std::move(out_grad);

    const BackwardArgs args{
        upstream, {entry.inputs.data(), entry.inputs.size()}, entry.output, {needed.data(), needed.size()}, entry.attrs,
        entry.op, observer != nullptr ? nullptr : &upstream};  // an observer reads upstream afterwards
    Grads input_grads = entry.backward(args);
    fit_to_inputs(input_grads, entry, {needed.data(), needed.size()});
    if (detail::anomaly_scopes_anywhere()) [[unlikely]]
      detail::check_backward(*this, e, {input_grads.data(), input_grads.size()});
    if (observer != nullptr) observer->step(e, upstream, input_grads, {needed.data(), needed.size()});
    for (size_t i = 0; i < input_grads.size(); ++i) {
      Tensor& g = input_grads[i];
      if (needed[i] == 0 || !g.defined()) continue;
      Tensor& slot = state[entry.inputs[i].node].grad;
      slot = slot.defined() ? slot + g : std::move(g);  // the first gradient is handed over, not copied
    }
    if (observer != nullptr) observer->added(e, s.sweep);
  }

  for (size_t i = 0; i < sources.size(); ++i) {
    const int32_t n = source_nodes[i];
    if (n >= 0 && state[n].grad.defined()) {
      // Handed over, unless the same source is listed again further on.
      const auto later = sources.subspan(i + 1);
      const bool again = std::ranges::any_of(later, [&](const Source& other) { return other.id() == sources[i].id(); });
      results[i] = again ? state[n].grad : std::move(state[n].grad);
    } else if (options.unconnected_gradients == UnconnectedGradients::zero) {
      results[i] = zeros(sources[i].shape(), sources[i].dtype());
    } else {
      results[i] = Tensor{};
    }
  }
  s.sweep.clear();
  if (observer != nullptr) observer->finished(sources, results);
}

// ---- StopRecording: pauses every tape of the thread.

StopRecording::StopRecording() {
  TapeStack& stack = live_tapes();
  paused_ = stack.storages;
  for (detail::TapeStorage* tape : paused_) ++tape->paused;
  stack.pauses.push_back(this);
}

StopRecording::~StopRecording() {
  for (detail::TapeStorage* tape : paused_) --tape->paused;
  auto& pauses = tape_stack().pauses;
  if (const auto it = std::find(pauses.begin(), pauses.end(), this); it != pauses.end()) pauses.erase(it);
}

}  // namespace tapegrad
