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

/// What a traced backward sweep shows (GradientOptions::trace).
struct TraceOptions {
  /// Also list the inputs that lead to no source (constants), as "(not needed)".
  bool not_needed = false;
  /// How the gradients print: elided beyond `threshold` elements (see PrintOptions).
  PrintOptions print = {};
};

/// Options of one `gradient` call.
struct GradientOptions {
  std::optional<Tensor> output_gradients;  ///< seed for d(target); default ones
  UnconnectedGradients unconnected_gradients = UnconnectedGradients::none;
  /// When set, receives one text per step of the backward sweep: which entry, the upstream
  /// gradient, the input gradients it produced and the running total of each gradient it touched;
  /// then one with the sources' final gradients
  /// (e.g. `[](const std::string& step) { fmt::print("{}\n", step); }`).
  std::function<void(const std::string&)> trace;
  /// What the trace shows.
  TraceOptions trace_options = {};
};

/// Options of a tape's printout.
struct TapePrintOptions {
  bool values = false;      ///< also print each entry's output values
  PrintOptions print = {};  ///< how the values print (elided beyond `print.threshold` elements)
};

struct TapeEntry;

namespace detail {
/// A tape's entries, nodes and scratch (autograd/detail/tape_storage.hpp).
struct TapeStorage;
/// What op definitions reach of a tape: recording entries and reads (autograd/ops/record.hpp).
struct TapeInternals;
/// A thread's stack of active tapes (autograd/tape.cpp).
struct TapeStack;
/// What the printers see of a backward sweep (autograd/detail/tape_printing.hpp).
class SweepObserver;
/// Hands a finished tape's storage to the next tape of the thread.
struct RecycleTapeStorage {
  /// Clears `storage` and keeps it for the thread's next tape (or frees it).
  void operator()(TapeStorage* storage) const;
};
}  // namespace detail

/// Something to differentiate with respect to: a Tensor or a Variable.
class Source {
 public:
  /// A watched tensor (an undefined one is an Error).
  Source(const Tensor& tensor)  // NOLINT
      : id_(defined(tensor).id()), shape_(tensor.shape()), dtype_(tensor.dtype()) {}
  /// A variable.
  Source(const Variable& variable) : Source(variable.value()) { id_ = variable.id(); }  // NOLINT
  /// The id the tape knows it by.
  uint64_t id() const { return id_; }
  /// The source's shape (the shape of a zero gradient for it).
  const Shape& shape() const { return shape_; }
  /// The source's dtype.
  DType dtype() const { return dtype_; }

 private:
  static const Tensor& defined(const Tensor& tensor) {
    if (!tensor.defined()) fail("Source: an undefined tensor has no gradient to ask for");
    return tensor;
  }
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
  /// in printouts (default "watched#k", k counting watches). An int64 tensor has no gradient: an Error.
  void watch(const Tensor& tensor, std::string_view name = {});
  /// Reads of `variable` are recorded from now on; an int64 variable is an Error (reads of it by
  /// `watch_accessed_variables` are simply not recorded).
  void watch(const Variable& variable);
  /// True when the tensor or variable with `id` is watched.
  bool watches(uint64_t id) const;
  /// The ids of every watched tensor and variable.
  std::unordered_set<uint64_t> watched() const;
  /// The label of a watched tensor or variable in printouts ("" when not watched).
  std::string label(uint64_t id) const;
  /// The number of the entry whose output has `id`, or -1.
  int64_t producer(uint64_t id) const;

  /// d(sum of target)/d(source); an int64 source is an Error (it has no gradient).
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
  friend class NameScope;
  friend struct detail::TapeInternals;
  // An error naming `member` when called on another thread than the tape's.
  void check_thread(const char* member) const;
  // Checks the thread, the target, the sources and the seed, then marks a non-persistent tape used (an
  // error if it was).
  void begin_gradient(const Tensor& target, std::span<const Source> sources, const GradientOptions& options,
                      const char* caller);
  // The backward sweep; `observer` (the printers') sees each step.
  void compute(const Tensor& target, std::span<const Source> sources, const GradientOptions& options,
               std::span<Tensor> results, detail::SweepObserver* observer = nullptr);
  TapeOptions options_;
  const void* thread_;  // the thread that made the tape, the only one that may use it (see tape.cpp)
  // Shared with the thread's stack of active tapes, which outlives the tape when another thread
  // destroys it (see detail/tape_storage.hpp).
  std::unique_ptr<detail::TapeStorage, detail::RecycleTapeStorage> storage_;
  bool used_ = false;
};

/// While alive, the entries this thread records form one group named `name` in the printouts:
/// a cluster in `to_dot` and `to_html` (TensorFlow's `name_scope`). Composite ops such as
/// `softmax_cross_entropy` open one; a scope opened inside another adds nothing (the outer one names
/// the group).
class NameScope {
 public:
  /// Opens the scope on every active tape of this thread.
  explicit NameScope(std::string_view name);
  /// Closes it: each tape that recorded entries meanwhile keeps them as one named group.
  ~NameScope();
  NameScope(const NameScope&) = delete;
  NameScope& operator=(const NameScope&) = delete;

 private:
  struct Start {
    detail::TapeStorage* tape;
    size_t first_entry;
  };
  std::string name_;
  std::vector<Start> starts_;  // empty for a scope inside another
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

/// Options of `to_dot`.
struct DotOptions {
  bool values = false;    ///< each node's value under its label
  bool gradients = true;  ///< given a target: each node's adjoint d(sum of target)/d(node) under its label
  PrintOptions print = {.threshold = 6, .edgeitems = 2};  ///< how values and adjoints print
};

/// The recorded graph in Graphviz's DOT language (render with `dot -Tsvg`): a box per entry, an
/// ellipse per watched tensor, variable or constant, each edge labelled with its operand position
/// when the op has several, the entries of a NameScope (a composite op) in a cluster named for it.
std::string to_dot(const GradientTape& tape, const DotOptions& options = {});
/// As above, with the target (double border) and the sources (filled) marked and, with
/// `options.gradients`, each node's adjoint, from a backward sweep run for the picture (the tape
/// may be non-persistent and used: its entries are all that is read).
std::string to_dot(GradientTape& tape, const Tensor& target, std::span<const Source> sources,
                   const DotOptions& options = {});
/// As above, for a braced list of sources.
inline std::string to_dot(GradientTape& tape, const Tensor& target, std::initializer_list<Source> sources,
                          const DotOptions& options = {}) {
  return to_dot(tape, target, std::span<const Source>(sources.begin(), sources.size()), options);
}

/// How `to_html` lays out the graph.
enum class GraphLayout {
  automatic,  ///< Graphviz's `dot` when it is on the PATH, else `builtin`
  graphviz,   ///< Graphviz's `dot`; an error when it is missing
  builtin,    ///< tapegrad's own layered layout (one column per depth)
};

/// Options of `to_html`.
struct HtmlOptions {
  std::string title = "tapegrad tape explorer";            ///< the page's title and heading
  GraphLayout layout = GraphLayout::automatic;             ///< how the graph is laid out
  PrintOptions print = {.threshold = 24, .edgeitems = 3};  ///< how values and gradients print
};

/// The tape explorer: one self-contained HTML page (no network, no external script or style)
/// with the graph as SVG beside the tape's list of entries, and controls (buttons, arrow keys) that
/// step forward through the recording, then backward through the sweep from `target` to
/// `sources`, showing the current entry, its upstream gradient, each input's gradient and the
/// running adjoints. The page opens at the step its URL's fragment names: `#step=3`, `#step=end`.
std::string to_html(GradientTape& tape, const Tensor& target, std::span<const Source> sources,
                    const HtmlOptions& options = {});
/// As above, for a braced list of sources.
inline std::string to_html(GradientTape& tape, const Tensor& target, std::initializer_list<Source> sources,
                           const HtmlOptions& options = {}) {
  return to_html(tape, target, std::span<const Source>(sources.begin(), sources.size()), options);
}
/// Writes `to_html(tape, target, sources, options)` to `path` atomically, as `save` writes files:
/// the file holds the old page or the new one, whole.
void save_html(const std::string& path, GradientTape& tape, const Tensor& target, std::span<const Source> sources,
               const HtmlOptions& options = {});
/// As above, for a braced list of sources.
inline void save_html(const std::string& path, GradientTape& tape, const Tensor& target,
                      std::initializer_list<Source> sources, const HtmlOptions& options = {}) {
  save_html(path, tape, target, std::span<const Source>(sources.begin(), sources.size()), options);
}

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
