#pragma once

// What an op definition uses to put itself on the tape: `record`, the entry it makes, and what
// its backward receives. The tape itself (GradientTape) is public, in autograd/tape.hpp.

#include <tapegrad/autograd/tape.hpp>

#include "autograd/detail/small_vector.hpp"
#include "autograd/ops/attrs.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>

namespace tapegrad {

/// The input gradients an op's backward returns, one per input; an undefined Tensor means "none".
using Grads = SmallVector<Tensor, 3>;

/// What an op's backward reads of its inputs. Every entry keeps its inputs' ids, shapes and
/// dtypes; it keeps the input tensors themselves (and so their elements) alive only for `values`.
enum class InputUse : uint8_t { values, shapes };

/// One input of a recorded op, as its tape entry keeps it.
struct EntryInput {
  Tensor value;  ///< the input itself; undefined when the op's backward reads only shapes
  uint64_t id;   ///< its id (a variable's id for a variable read)
  int32_t node;  ///< the tape's node of the input, -1 when untracked
  DType dtype;   ///< its dtype
  Shape shape;   ///< its shape
};

/// What an op's backward sees: the upstream gradient, the op's inputs and its output.
struct BackwardArgs {
  const Tensor& grad;                  ///< d(target)/d(output)
  std::span<const EntryInput> inputs;  ///< the op's inputs, as recorded
  const Tensor& output;                ///< the op's output
  std::span<const char> needed;        ///< needed[i] != 0: input i leads to a source (skip the others)
  const Attrs& recorded_attrs;         ///< the op's attributes, as recorded: read them with attrs<A>()
  const char* op;                      ///< the op's name, for errors
  /// The op's attributes, of the struct type its forward recorded (see autograd/ops/attrs.hpp).
  template <AttrStruct A>
  const A& attrs() const {
    return recorded_attrs.get<A>(op);
  }
  /// Input i; an error for an op recorded with InputUse::shapes.
  const Tensor& input(size_t i) const {
    if (!inputs[i].value.defined()) [[unlikely]]
      fail_not_kept(i);
    return inputs[i].value;
  }
  /// The shape of input i.
  const Shape& input_shape(size_t i) const { return inputs[i].shape; }
  /// True when the gradient for input i is needed.
  bool needs(size_t i) const { return needed[i] != 0; }
  /// The upstream gradient itself when input i needs it, else none: for ops that pass it on.
  /// For the last input that needs it, the sweep's handle is handed over rather than copied (a
  /// reference-count update saved), so `grad` must not be read after that call.
  Tensor grad_if_needed(size_t i) const {
    if (!needs(i)) return {};
    if (handover != nullptr && last_needed(i)) return std::move(*handover);
    return grad;
  }
  /// The sweep's own handle to `grad`, which a pass-through gradient may take (internal).
  Tensor* handover = nullptr;

 private:
  bool last_needed(size_t i) const {
    for (size_t k = i + 1; k < needed.size(); ++k) {
      if (needed[k] != 0) return false;
    }
    return true;
  }
  [[noreturn]] void fail_not_kept(size_t i) const;
};

/// An op's backward: input gradients, expressed with tapegrad ops so that tapes can nest.
using BackwardFn = Grads (*)(const BackwardArgs&);

/// One recorded op: which op, what went in, what came out, how to go back.
struct TapeEntry {
  /// An entry for `op` with no inputs yet. (A constructor, not `TapeEntry{}`: value-initializing
  /// would first zero the inline storage of every small vector, some 300 bytes per op.)
  TapeEntry(const char* op_name, BackwardFn backward_fn) : op(op_name), backward(backward_fn) {}

  const char* op;                     ///< the op's name
  SmallVector<EntryInput, 3> inputs;  ///< what went in
  Tensor output;                      ///< the op's output
  int32_t output_node = -1;           ///< the tape's node of the output
  BackwardFn backward;                ///< the op's gradient rule
  Attrs attrs;                        ///< the op's attributes (none for most ops)
};

namespace detail {
/// A tape's internals that op definitions and Variable reach (defined in tape.cpp).
struct TapeInternals {
  /// The tape's node for a tracked tensor (watched, or an entry's output), else -1.
  static int32_t node(const TapeStorage& tape, uint64_t id);
  /// True when the tape records ops on the tensor with `id`.
  static bool tracks(const TapeStorage& tape, uint64_t id) { return node(tape, id) >= 0; }
  /// Records a read of `variable` on each recording tape of this thread that watches it (or, with
  /// watch_accessed_variables, any trainable variable); `value` is the reader's own handle to the
  /// variable's value.
  static void record_read(const Variable& variable, const Tensor& value);
  /// What the printers read of a tape: its storage (the NameScope groups, the nodes).
  static const TapeStorage& storage(const GradientTape& tape);
  /// A backward sweep for the printers: what `gradient` computes into `results`, each step shown
  /// to `observer`; it neither needs nor uses up a non-persistent tape's one gradient call.
  static void sweep(GradientTape& tape, const Tensor& target, std::span<const Source> sources, SweepObserver& observer,
                    std::span<Tensor> results);
};
}  // namespace detail

/// The inputs `record` takes from a braced list: references to the op's arguments, not copies.
using InputList = std::initializer_list<std::reference_wrapper<const Tensor>>;

/// Records `output = op(inputs)` on every active tape that tracks one of the inputs; returns
/// `output`. An op's forward calls it to put its gradient rule on the tape, with its attributes
/// when it has any (a struct such as `PowAttrs{exponent}`, see autograd/ops/attrs.hpp); the op's
/// name is registered apart, in its file's op list (autograd/ops/op_registry.hpp).
Tensor record(const char* op, InputList inputs, Tensor output, BackwardFn backward, const Attrs& attrs = {},
              InputUse input_use = InputUse::values);
/// As above, for a list of inputs of any length.
Tensor record(const char* op, std::span<const Tensor> inputs, Tensor output, BackwardFn backward,
              const Attrs& attrs = {}, InputUse input_use = InputUse::values);

/// True when a recording tape tracks one of `tensors`: a backward that reads them is then itself
/// recorded (a gradient of a gradient), so a fused kernel in its place would cut the outer tape's chain.
inline bool any_tape_tracks(InputList tensors) {
  return std::ranges::any_of(tensors, [](const Tensor& t) { return any_tape_tracks(t); });
}

}  // namespace tapegrad
