#pragma once

#include "autograd/small_vector.hpp"
#include "autograd/tensor.hpp"
#include "autograd/variable.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace tapegrad {

/// The input gradients an op's backward returns, one per input; an undefined Tensor means "none".
using Grads = SmallVector<Tensor, 3>;
/// An op's numeric attributes (axes, exponents, bounds), kept on its tape entry.
using Attrs = SmallVector<double, 8>;

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
  std::span<const double> attrs;       ///< the op's numeric attributes, as recorded
  const char* op;                      ///< the op's name, for errors
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
  Attrs attrs;                        ///< the op's numeric attributes
};

/// An input of an op being recorded (internal): the caller's tensor, and the id the tape knows it
/// by (the tensor's own, or the variable's for a variable read).
struct TapeInput {
  const Tensor* tensor;
  uint64_t id;
};

/// What to return for a source the target does not depend on (TensorFlow's UnconnectedGradients).
enum class UnconnectedGradients { none, zero };

/// Options of a tape, as TensorFlow has them.
struct TapeOptions {
  bool persistent = false;               ///< allow several `gradient` calls
  bool watch_accessed_variables = true;  ///< watch trainable Variables read while recording
};

/// Options of one `gradient` call.
struct GradientOptions {
  std::optional<Tensor> output_gradients;  ///< seed for d(target); default ones
  UnconnectedGradients unconnected_gradients = UnconnectedGradients::none;
  /// When set, receives one line per step of the backward sweep: which entry, the upstream
  /// gradient, the input gradients it produced (e.g. `[](const std::string& line) { fmt::print("{}\n", line); }`).
  std::function<void(const std::string&)> trace;
};

/// Options of a tape's printout.
struct TapePrintOptions {
  bool values = false;  ///< also print each entry's output values
};

namespace detail {
/// A tape's entries, nodes and scratch (defined in tape.cpp).
struct TapeStorage;
/// Hands a finished tape's storage to the next tape of the thread.
struct RecycleTapeStorage {
  void operator()(TapeStorage* storage) const;
};
}  // namespace detail

/// Something to differentiate with respect to: a Tensor or a Variable.
class Source {
 public:
  /// A watched tensor.
  Source(const Tensor& tensor) : id_(tensor.id()), shape_(tensor.shape()), dtype_(tensor.dtype()) {}  // NOLINT
  /// A variable.
  Source(const Variable& variable) : Source(variable.value()) { id_ = variable.id(); }  // NOLINT
  /// The id the tape knows it by.
  uint64_t id() const { return id_; }
  /// The source's shape (the shape of a zero gradient for it).
  const Shape& shape() const { return shape_; }
  /// The source's dtype.
  DType dtype() const { return dtype_; }

 private:
  // Id, shape and dtype only: holding the tensor would cost two reference-count updates per call.
  uint64_t id_;
  Shape shape_;
  DType dtype_;
};

/// Records the ops run on watched tensors while it is alive, then computes gradients by walking
/// its entries backwards (reverse-mode automatic differentiation). Tapes nest: each active tape
/// on this thread records the ops whose inputs it watches, so an outer tape can differentiate
/// an inner tape's `gradient` computation.
class GradientTape {
 public:
  /// Starts recording (pushes this tape on the thread's stack of active tapes).
  explicit GradientTape(TapeOptions options = {});
  /// Stops recording and frees everything the tape holds.
  ~GradientTape();
  GradientTape(const GradientTape&) = delete;
  GradientTape& operator=(const GradientTape&) = delete;

  /// Ops on `tensor` (and on what is computed from it) are recorded from now on; `name` labels it
  /// in printouts (default "watched#k", k counting watches).
  void watch(const Tensor& tensor, std::string_view name = {});
  /// Reads of `variable` are recorded from now on.
  void watch(const Variable& variable);
  /// True when the tensor or variable with `id` is watched.
  bool watches(uint64_t id) const;
  /// The ids of every watched tensor and variable.
  std::unordered_set<uint64_t> watched() const;
  /// The label of a watched tensor or variable in printouts ("" when not watched).
  std::string label(uint64_t id) const;
  /// The number of the entry whose output has `id`, or -1.
  int64_t producer(uint64_t id) const;

  /// d(sum of target)/d(source).
  Tensor gradient(const Tensor& target, const Source& source, const GradientOptions& options = {});
  /// d(sum of target)/d(source) for each source.
  std::vector<Tensor> gradient(const Tensor& target, std::span<const Source> sources,
                               const GradientOptions& options = {});
  /// As above, for a braced list of sources.
  std::vector<Tensor> gradient(const Tensor& target, std::initializer_list<Source> sources,
                               const GradientOptions& options = {});
  /// As above, for a list of variables (as `trainable_variables()` returns).
  std::vector<Tensor> gradient(const Tensor& target, const std::vector<Variable>& sources,
                               const GradientOptions& options = {});

  /// d(target[i])/d(source) for every element i: shape target.shape + source.shape.
  Tensor jacobian(const Tensor& target, const Source& source,
                  UnconnectedGradients unconnected = UnconnectedGradients::none);
  /// Per-example jacobian: for target (B, ...) and source (B, ...) whose examples are independent,
  /// d(target[b, i])/d(source[b, j]) with shape (B, target's other axes, source's other axes).
  Tensor batch_jacobian(const Tensor& target, const Source& source,
                        UnconnectedGradients unconnected = UnconnectedGradients::none);

  /// Forgets everything recorded and watched; the tape goes on recording.
  void reset();

  /// The entries recorded so far, in execution order.
  const std::vector<TapeEntry>& entries() const;
  /// The options the tape was made with.
  const TapeOptions& options() const { return options_; }

  /// The tape's node for a tracked tensor (watched, or an entry's output), else -1 (internal).
  int32_t node(uint64_t id) const;
  /// True when ops on the tensor with `id` are recorded.
  bool tracks(uint64_t id) const { return node(id) >= 0; }
  /// Appends `output = op(inputs)` when this tape tracks one of the inputs; the entry is built in
  /// place (internal to ops; use `record`). `output` must be a handle only this thread reaches (the
  /// entry copies it with Tensor::copy_of_own).
  void append(const char* op, std::span<const TapeInput> inputs, const Tensor& output, BackwardFn backward,
              std::span<const double> attrs, InputUse input_use);
  /// Records a read of `variable` when this tape watches it (internal to Variable); `value` is the
  /// reader's own handle to the variable's value.
  void record_read(const Variable& variable, const Tensor& value);
  /// True while the tape records.
  bool recording() const { return paused_ == 0; }

 private:
  friend class StopRecording;
  void begin_gradient(const char* caller);
  void compute(const Tensor& target, std::span<const Source> sources, const GradientOptions& options,
               std::span<Tensor> results);
  int32_t add_node(uint64_t id);
  TapeOptions options_;
  std::unique_ptr<detail::TapeStorage, detail::RecycleTapeStorage> storage_;
  int paused_ = 0;
  bool used_ = false;
};

/// While alive, no tape on this thread records (TensorFlow's `stop_recording`).
class StopRecording {
 public:
  /// Pauses every active tape of this thread.
  StopRecording();
  /// Resumes them.
  ~StopRecording();
  StopRecording(const StopRecording&) = delete;
  StopRecording& operator=(const StopRecording&) = delete;

 private:
  friend class GradientTape;
  std::vector<GradientTape*> paused_;
};

/// The tape as a numbered list of entries in execution order: op, inputs (entry numbers,
/// watched sources, constants), output shape and dtype; with `values`, the output values too.
std::string to_string(const GradientTape& tape, const TapePrintOptions& options = {});
/// The recorded graph in Graphviz's DOT language (render with `dot -Tsvg`).
std::string to_dot(const GradientTape& tape);

/// The tapes active on this thread, outermost first.
std::span<GradientTape* const> active_tapes();

/// True when a recording tape of this thread tracks `tensor`: an op on it would be recorded.
bool any_tape_tracks(const Tensor& tensor);

/// The inputs `record` takes from a braced list: references to the op's arguments, not copies.
using InputList = std::initializer_list<std::reference_wrapper<const Tensor>>;

/// Records `output = op(inputs)` on every active tape that tracks one of the inputs; returns
/// `output`. This is how an op definition registers its gradient rule.
Tensor record(const char* op, InputList inputs, Tensor output, BackwardFn backward, const Attrs& attrs = {},
              InputUse input_use = InputUse::values);
/// As above, for a list of inputs of any length.
Tensor record(const char* op, std::span<const Tensor> inputs, Tensor output, BackwardFn backward,
              const Attrs& attrs = {}, InputUse input_use = InputUse::values);

}  // namespace tapegrad

template <>
struct fmt::formatter<tapegrad::GradientTape> : fmt::formatter<std::string> {
  auto format(const tapegrad::GradientTape& tape, format_context& ctx) const {
    return fmt::formatter<std::string>::format(tapegrad::to_string(tape), ctx);
  }
};
