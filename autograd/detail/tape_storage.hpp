#pragma once

// What a GradientTape holds (its entries, its nodes, the scratch of its backward sweep), and what
// each thread keeps between tapes: finished tapes' storage for the next ones, and the default seed.

#include "autograd/detail/id_index.hpp"
#include "autograd/ops/record.hpp"

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tapegrad {

/// What a tape tracks. A node is a tensor the tape knows (watched, or an entry's output) or a
/// watched variable; entries name their inputs and output by node, so the backward sweep indexes
/// vectors instead of hashing ids.
struct detail::TapeStorage {
  /// What the tape knows of one node.
  struct Node {
    int32_t producer = -1;     ///< the entry that made it, or -1
    int32_t watch_order = -1;  ///< its place among watches, or -1 when not watched
  };
  std::vector<TapeEntry> entries;     ///< in execution order
  std::vector<Node> nodes;            ///< by node number
  IdIndex index;                      ///< ids to node numbers
  std::vector<uint64_t> watched_ids;  ///< in watch order (ids are never reused: nothing is kept alive)
  std::vector<std::pair<uint64_t, std::string>> labels;  ///< printout names given to watch()
  /// The entries [first, end) recorded inside a NameScope named `name`.
  struct Scope {
    std::string name;
    size_t first;
    size_t end;
  };
  std::vector<Scope> scopes;  ///< in the order they closed

  /// Per node, in the backward sweep: its gradient so far, and whether it is a source or depends on one.
  struct NodeState {
    Tensor grad;
    bool is_source = false;
    bool reaches_source = false;
  };
  /// Scratch of the sweep, per node, kept to reuse its memory.
  std::vector<NodeState> sweep;

  /// Who frees this storage. The tape and its thread's stack of active tapes both reach it: the
  /// tape owns it (`shared`) until the tape is destroyed on another thread (`tape_gone`: the tape's
  /// thread frees it when it next looks at its stack) or the tape's thread ends first (`thread_gone`:
  /// the tape frees it). Whichever of the two leaves second frees it; an atomic exchange decides.
  enum class Owner : uint8_t { shared, tape_gone, thread_gone };
  std::atomic<Owner> owner{Owner::shared};  ///< see Owner
  /// StopRecording scopes and backward sweeps in progress: the tape records when 0. Here, not in the
  /// tape, because the stack of active tapes reads it on every op.
  int paused = 0;
  bool watch_accessed_variables = true;  ///< the tape's option, for Variable reads

  /// The node of `id`, or -1.
  int32_t node(uint64_t id) const { return index.find(id); }
  /// The node of `id`, made when new.
  int32_t add_node(uint64_t id) {
    const auto next = static_cast<int32_t>(nodes.size());
    const int32_t n = index.find_or_insert(id, next);
    if (n == next) nodes.emplace_back();
    return n;
  }
  /// True when the node of `id` is watched.
  bool watches(uint64_t id) const {
    const int32_t n = node(id);
    return n >= 0 && nodes[static_cast<size_t>(n)].watch_order >= 0;
  }
  /// Watches the node of `id` (made when new); false when it was watched already.
  bool add_watch(uint64_t id) {
    auto& watch_order = nodes[static_cast<size_t>(add_node(id))].watch_order;
    if (watch_order >= 0) return false;
    watch_order = static_cast<int32_t>(watched_ids.size());
    watched_ids.push_back(id);
    return true;
  }
  /// Forgets everything recorded and watched; keeps the memory.
  void clear() {
    entries.clear();
    nodes.clear();
    index.clear();
    watched_ids.clear();
    labels.clear();
    scopes.clear();
  }
};

namespace detail {
/// Storage for a new tape: a finished tape's from this thread's pool when there is one, so that
/// once warm a tape allocates nothing. (RecycleTapeStorage, in tape.hpp, gives it back.)
TapeStorage* take_tape_storage();
/// The default seed of a backward sweep: ones of the target's shape and dtype. A training loop asks
/// for the same small shape every step, so each thread keeps its last small seed of each dtype.
Tensor ones_seed(const Tensor& target);
}  // namespace detail

}  // namespace tapegrad
