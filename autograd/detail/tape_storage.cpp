// What a tape holds: the pool that recycles a finished tape's storage, the cached default seed,
// the error of a backward that reads an input its entry did not keep, and the tape's answers about
// what it holds (entries, watches, labels, producers).

#include "autograd/detail/tape_storage.hpp"

#include <tapegrad/autograd/ops.hpp>

namespace tapegrad {

namespace {

// Storage of finished tapes, for the next tape of the thread.
constexpr size_t kPooledStorage = 8;
thread_local bool pool_destroyed = false;  // trivially destructible: readable during thread exit

struct StoragePool {
  std::vector<detail::TapeStorage*> free;
  ~StoragePool() {
    for (detail::TapeStorage* storage : free) delete storage;
    pool_destroyed = true;
  }
};

StoragePool* storage_pool() {
  if (pool_destroyed) return nullptr;
  thread_local StoragePool pool;
  return &pool;
}

}  // namespace

detail::TapeStorage* detail::take_tape_storage() {
  StoragePool* pool = storage_pool();
  if (pool == nullptr || pool->free.empty()) return new TapeStorage();
  TapeStorage* storage = pool->free.back();
  pool->free.pop_back();
  return storage;
}

void detail::RecycleTapeStorage::operator()(TapeStorage* storage) const {
  storage->clear();
  StoragePool* pool = storage_pool();
  if (pool != nullptr && pool->free.size() < kPooledStorage) {
    pool->free.push_back(storage);
  } else {
    delete storage;
  }
}

bool GradientTape::watches(uint64_t id) const {
  check_thread("watches");
  return storage_->watches(id);
}

// An entry keeps its input tensors only when its op was recorded with InputUse::values.
void BackwardArgs::fail_not_kept(size_t i) const {
  fail("backward of {}: reads input {} ({} {}), but the op was recorded with InputUse::shapes, which keeps only "
       "its shape (record it with InputUse::values)",
       op, i, inputs[i].shape, dtype_name(inputs[i].dtype));
}

// Tensors never change, so handing out the same seed is safe.
Tensor detail::ones_seed(const Tensor& target) {
  constexpr int64_t kMostCachedElements = 64;
  if (target.numel() > kMostCachedElements) return ones_like(target);
  thread_local Tensor cached[2];  // float32, float64
  Tensor& seed = cached[target.dtype() == DType::float64 ? 1 : 0];
  if (!seed.defined() || seed.shape() != target.shape()) seed = ones_like(target);
  return seed.copy_of_own();  // a thread_local: no other thread reaches it
}

const std::vector<TapeEntry>& GradientTape::entries() const {
  check_thread("entries");
  return storage_->entries;
}

std::unordered_set<uint64_t> GradientTape::watched() const {
  check_thread("watched");
  return {storage_->watched_ids.begin(), storage_->watched_ids.end()};
}

std::string GradientTape::label(uint64_t id) const {
  check_thread("label");
  for (const auto& [labelled, name] : storage_->labels) {
    if (labelled == id) return name;
  }
  if (!watches(id)) return {};
  return fmt::format("watched#{}", storage_->nodes[static_cast<size_t>(storage_->node(id))].watch_order);
}

int64_t GradientTape::producer(uint64_t id) const {
  check_thread("producer");
  const int32_t n = storage_->node(id);
  return n < 0 ? -1 : storage_->nodes[static_cast<size_t>(n)].producer;
}

void GradientTape::reset() {
  check_thread("reset");
  storage_->clear();
  used_ = false;
}

}  // namespace tapegrad
