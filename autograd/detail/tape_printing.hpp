#pragma once

// What the printers see of a backward sweep (tape.cpp calls an observer at each step), and the
// observer that prints the trace; defined in tape_printing.cpp.

#include "autograd/detail/tape_storage.hpp"
#include "autograd/ops/record.hpp"

#include <span>
#include <string>
#include <vector>

namespace tapegrad::detail {

/// Watches a backward sweep (GradientTape::compute) step by step.
class SweepObserver {
 public:
  virtual ~SweepObserver() = default;
  /// Entry `e`'s backward ran: its upstream gradient, and its input gradients (fit to the inputs'
  /// shapes; undefined where none) before they are added to the running adjoints.
  virtual void step(size_t e, const Tensor& upstream, const Grads& grads, std::span<const char> needed) = 0;
  /// Entry `e`'s input gradients were added: the running adjoints by node (a node's adjoint is
  /// handed on, and no longer here, once its producer's step ran).
  virtual void added(size_t e, std::span<const TapeStorage::NodeState> adjoints) = 0;
  /// The sweep is over: the sources and their gradients, as `gradient` returns them.
  virtual void finished(std::span<const Source> sources, std::span<const Tensor> results) = 0;
};

/// The observer of a traced sweep (GradientOptions::trace): one text per step, then the sources'
/// gradients.
class TraceWriter final : public SweepObserver {
 public:
  /// Writes to `options.trace`, as `options.trace_options` say.
  TraceWriter(const GradientTape& tape, const GradientOptions& options);
  void step(size_t e, const Tensor& upstream, const Grads& grads, std::span<const char> needed) override;
  void added(size_t e, std::span<const TapeStorage::NodeState> adjoints) override;
  void finished(std::span<const Source> sources, std::span<const Tensor> results) override;

 private:
  const GradientTape& tape_;
  const GradientOptions& options_;
  std::string text_;  // the step being written
};

/// How the printouts name a node in totals and adjoints: "[k]" for entry k's output, else the
/// watched tensor's or variable's label.
std::string node_name(const GradientTape& tape, uint64_t id);

}  // namespace tapegrad::detail

namespace tapegrad::detail {

/// The recorded graph, as `to_dot` writes it and the explorer draws it: a node per entry (its
/// output) and per leaf (a watched tensor, a variable, a constant), an edge per input.
struct TapeGraph {
  /// What a node stands for.
  enum class Kind { entry, watched, constant };
  /// One node.
  struct Node {
    std::string name;    ///< "e<k>" for entry k, "t<id>" for a leaf: its DOT name and SVG id
    Kind kind;           ///< entry, watched leaf (tensor or variable) or constant
    int64_t entry = -1;  ///< the entry's number (-1 for a leaf)
    uint64_t id = 0;     ///< the tensor's id (a variable's id for a variable)
    std::string title;   ///< "[0] mul" or the leaf's name ("x", "variable v", "const")
    std::string detail;  ///< shape and dtype of an entry, shape of a leaf ("" for a variable)
    Tensor value;        ///< the output or leaf value, undefined when the tape did not keep it
    int cluster = -1;    ///< its NameScope group in `clusters`, or -1
  };
  /// An edge from node `from` to node `to`, into operand `operand` of `to`'s entry.
  struct Edge {
    size_t from;
    size_t to;
    size_t operand;
    bool labelled;  ///< the op has several operands: the edge says which
  };
  std::vector<Node> nodes;            ///< entries and leaves, each leaf before its first use
  std::vector<Edge> edges;            ///< in entry order, then operand order
  std::vector<std::string> clusters;  ///< the NameScope groups' names
  /// The node of the tensor or variable with `id`, or -1.
  int64_t find(uint64_t id) const;
};

/// The tape's graph.
TapeGraph tape_graph(const GradientTape& tape);

/// The DOT text of `graph`: `notes[n]` (when given) is printed under node n's label; `target`
/// and `sources` are the node numbers to mark (-1: none).
std::string dot_text(const TapeGraph& graph, std::span<const std::string> notes, int64_t target,
                     std::span<const int64_t> sources);

/// Collects each node's adjoint d(sum of target)/d(node) over a sweep: an entry's at its step
/// (its upstream gradient), a source's at the end.
class AdjointCollector final : public SweepObserver {
 public:
  /// Adjoints of the nodes of `graph`.
  explicit AdjointCollector(const TapeGraph& graph);
  void step(size_t e, const Tensor& upstream, const Grads& grads, std::span<const char> needed) override;
  void added(size_t e, std::span<const TapeStorage::NodeState> adjoints) override;
  void finished(std::span<const Source> sources, std::span<const Tensor> results) override;
  /// By node of the graph; undefined where the sweep gave none.
  std::vector<Tensor> adjoints;

 private:
  const TapeGraph& graph_;
  std::vector<size_t> entry_node_;  // entry number -> node
};

}  // namespace tapegrad::detail
