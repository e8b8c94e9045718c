#pragma once

#include <tapegrad/autograd/tensor.hpp>
#include <tapegrad/autograd/variable.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

namespace tapegrad {

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

struct TapeEntry;

namespace detail {
/// A tape's entries, nodes and scratch (autograd/detail/tape_storage.hpp).
struct TapeStorage;
/// What op definitions reach of a tape: recording entries and reads (autograd/ops/record.hpp).
struct TapeInternals;
/// A thread's stack of active tapes (autograd/tape.cpp).
struct TapeStack;
/// Hands a finished tape's storage to the next tape of the thread.
struct RecycleTapeStorage {
  /// Clears `storage` and keeps it for the thread's next tape (or frees it).
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
///
/// Threads (TensorFlow's rule): a tape belongs to the thread that made it. It records only the ops
/// that thread runs (an op on another thread, even on a tensor the tape watches, is not recorded),
/// and only that thread may call its members: any other thread gets a tapegrad::Error naming the
/// member. The one thing another thread may do is destroy it: the tape then stops recording, and its
/// own thread frees what it recorded at its next op (or when it ends). Threads that train make a
/// tape each; the tensors and variables they share follow the rules in tensor.hpp and variable.hpp.
class GradientTape {
 public:
  /// Starts recording (pushes this tape on the thread's stack of active tapes).
  explicit GradientTape(TapeOptions options = {});
  /// Stops recording and frees everything the tape holds (see the class comment for another thread).
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
                               const GradientOptions& options = {}) {
    return gradient(target, std::span<const Source>(sources.begin(), sources.size()), options);
  }
  /// As above, for a list of variables (as `trainable_variables()` returns).
  std::vector<Tensor> gradient(const Tensor& target, const std::vector<Variable>& sources,
                               const GradientOptions& options = {}) {
    const std::vector<Source> list(sources.begin(), sources.end());
    return gradient(target, std::span<const Source>(list), options);
  }

  /// d(target[i])/d(source) for every element i: shape target.shape + source.shape.
  Tensor jacobian(const Tensor& target, const Source& source,
                  UnconnectedGradients unconnected = UnconnectedGradients::none);
  /// Per-example jacobian: for target (B, ...) and source (B, ...) whose examples are independent,
  /// d(target[b, i])/d(source[b, j]) with shape (B, target's other axes, source's other axes).
  Tensor batch_jacobian(const Tensor& target, const Source& source,
                        UnconnectedGradients unconnected = UnconnectedGradients::none);

  /// Forgets everything recorded and watched; the tape goes on recording.
  void reset();

  /// The entries recorded so far, in execution order (TapeEntry is in autograd/ops/record.hpp).
  const std::vector<TapeEntry>& entries() const;
  /// The options the tape was made with.
  const TapeOptions& options() const { return options_; }

  /// True while the tape records.
  bool recording() const;

 private:
  friend class StopRecording;
  friend struct detail::TapeInternals;
  // An error naming `member` when called on another thread than the tape's.
  void check_thread(const char* member) const;
  // Checks the thread, the target and seed, then marks a non-persistent tape used (an error if it was).
  void begin_gradient(const Tensor& target, const GradientOptions& options, const char* caller);
  void compute(const Tensor& target, std::span<const Source> sources, const GradientOptions& options,
               std::span<Tensor> results);
  TapeOptions options_;
  std::thread::id thread_;  // the thread that made the tape, the only one that may use it
  // Shared with the thread's stack of active tapes, which outlives the tape when another thread
  // destroys it (see detail/tape_storage.hpp).
  std::unique_ptr<detail::TapeStorage, detail::RecycleTapeStorage> storage_;
  bool used_ = false;
};

/// While alive, no tape on this thread records (TensorFlow's `stop_recording`). Like a tape, it
/// belongs to the thread that made it, and ends there.
class StopRecording {
 public:
  /// Pauses every active tape of this thread.
  StopRecording();
  /// Resumes them.
  ~StopRecording();
  StopRecording(const StopRecording&) = delete;
  StopRecording& operator=(const StopRecording&) = delete;

 private:
  friend struct detail::TapeStack;
  std::vector<detail::TapeStorage*> paused_;  // the storage of the tapes it paused
};

/// The tape as a numbered list of entries in execution order: op, inputs (entry numbers,
/// watched sources, constants), output shape and dtype; with `values`, the output values too.
std::string to_string(const GradientTape& tape, const TapePrintOptions& options = {});
/// The recorded graph in Graphviz's DOT language (render with `dot -Tsvg`).
std::string to_dot(const GradientTape& tape);

/// The tapes active on this thread, outermost first (never another thread's).
std::span<GradientTape* const> active_tapes();

/// True when a recording tape of this thread tracks `tensor`: an op on it would be recorded.
bool any_tape_tracks(const Tensor& tensor);

}  // namespace tapegrad

/// Formats a tape as `to_string` prints it: `fmt::print("{}\n", tape)`.
template <>
struct fmt::formatter<tapegrad::GradientTape> : fmt::formatter<std::string> {
  auto format(const tapegrad::GradientTape& tape, format_context& ctx) const {
    return fmt::formatter<std::string>::format(tapegrad::to_string(tape), ctx);
  }
};
