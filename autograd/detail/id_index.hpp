#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tapegrad::detail {

/// Tensor and variable ids to a tape's node numbers: open addressing with linear probing (a slot
/// stamped with an older generation is empty). Faster than a node-based hash set on every op.
class IdIndex {
 public:
  /// Empty, with 16 slots.
  IdIndex() : slots_(16), mask_(15) {}
  /// The node of `id`, or -1.
  int32_t find(uint64_t id) const {
    for (size_t i = hash(id);; i = (i + 1) & mask()) {
      if (empty(slots_[i])) return -1;
      if (slots_[i].id == id) return slots_[i].node;
    }
  }
  /// Sets the node of `id`.
  void insert(uint64_t id, int32_t node) { slot(id) = node; }
  /// The node of `id`, inserted as `node` when absent: one probe for both.
  int32_t find_or_insert(uint64_t id, int32_t node) {
    int32_t& found = slot(id);
    if (found < 0) found = node;
    return found;
  }
  /// Forgets every id in O(1): slots of an older generation count as empty.
  void clear() {
    count_ = 0;
    if (++generation_ == 0) {  // wrapped: old stamps could look current again
      std::fill(slots_.begin(), slots_.end(), Slot{});
      generation_ = 1;
    }
  }

 private:
  struct Slot {
    uint64_t id = 0;
    int32_t node = -1;
    uint32_t generation = 0;
  };
  bool empty(const Slot& s) const { return s.generation != generation_; }
  // The node of `id`'s slot, claimed for it (node -1) when absent.
  int32_t& slot(uint64_t id) {
    if (2 * (count_ + 1) > mask_ + 1) grow();
    size_t i = hash(id);
    while (!empty(slots_[i]) && slots_[i].id != id) i = (i + 1) & mask();
    if (empty(slots_[i])) {
      slots_[i] = {id, -1, generation_};
      ++count_;
    }
    return slots_[i].node;
  }
  size_t mask() const { return mask_; }
  size_t hash(uint64_t id) const { return static_cast<size_t>((id * 0x9e3779b97f4a7c15ULL) >> 17) & mask(); }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    const uint32_t old_generation = generation_;
    slots_.assign(2 * old.size(), Slot{});
    mask_ = slots_.size() - 1;
    generation_ = 1;
    count_ = 0;
    for (const Slot& s : old) {
      if (s.generation == old_generation) insert(s.id, s.node);
    }
  }
  std::vector<Slot> slots_;
  size_t mask_;  // slots_.size() - 1, the size being a power of two
  size_t count_ = 0;
  uint32_t generation_ = 1;
};

}  // namespace tapegrad::detail
