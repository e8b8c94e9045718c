#include <tapegrad/autograd/allocator.hpp>

#include <tapegrad/autograd/error.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <mutex>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define TAPEGRAD_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define TAPEGRAD_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define TAPEGRAD_POISON(p, n) ((void)(p), (void)(n))
#define TAPEGRAD_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace tapegrad {
namespace {

constexpr size_t kAlignment = 64;
constexpr int kClasses = 256;
constexpr size_t kMaxBytes = size_t{1} << 62;

// Size classes: multiples of 64 bytes up to 1 KiB, then four classes per power of two
// (at most 25% slack), which keeps reuse high when sizes vary a little.
int size_class(size_t bytes, size_t* class_bytes) {
  if (bytes <= 1024) {
    const size_t rounded = (std::max<size_t>(bytes, 1) + kAlignment - 1) / kAlignment;
    *class_bytes = rounded * kAlignment;
    return static_cast<int>(rounded - 1);  // 0..15
  }
  const int log2 = std::bit_width(bytes - 1) - 1;  // 2^log2 < bytes <= 2^(log2+1)
  const size_t quarter = size_t{1} << (log2 - 2);
  const size_t step = (bytes - (size_t{1} << log2) + quarter - 1) / quarter;  // 1..4
  *class_bytes = (size_t{1} << log2) + step * quarter;
  return 16 + (log2 - 10) * 4 + static_cast<int>(step) - 1;
}

size_t class_size(int c) {
  if (c < 16) return static_cast<size_t>(c + 1) * kAlignment;
  const int log2 = 10 + (c - 16) / 4;
  return (size_t{1} << log2) + static_cast<size_t>((c - 16) % 4 + 1) * (size_t{1} << (log2 - 2));
}

// Size classes above its own a request may look in for a cached block when its own has none; it takes
// one at most twice its class's size. A batch smaller than the others (an epoch's last) then runs in the
// blocks the others left, instead of adding a second set of blocks that the full batches never use again.
constexpr int kLargerClasses = 4;

// Byte counts. Each thread keeps its own (it is their only writer, so updating one is a plain
// load and store: no locked instruction on the hot path); allocator_stats() adds up the live
// threads' counts and what exited threads left behind. A block freed by another thread than the
// one that made it leaves one count low and the other high, which the sum evens out.
struct Counts {
  std::atomic<int64_t> in_use{0}, cached{0}, fresh{0};
};

void add(std::atomic<int64_t>& count, int64_t bytes) {
  count.store(count.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
}

int64_t signed_bytes(size_t bytes) { return static_cast<int64_t>(bytes); }

struct ThreadCache;

// Every live thread's cache, and the counts of threads that have exited.
struct Registry {
  std::mutex mutex;
  std::vector<const ThreadCache*> caches;
  Counts exited;
};

Registry& registry() {
  static Registry* const instance = new Registry();  // never destroyed: threads may exit after main
  return *instance;
}

// A thread_local that is trivially destructible stays readable during thread exit, after the
// cache itself is gone; blocks freed then go straight back to the system.
thread_local bool cache_destroyed = false;

// This thread's cache once made: a plain pointer is cheaper to read than a thread_local object,
// which checks on every access whether it is constructed yet.
thread_local ThreadCache* t_cache = nullptr;

// Each thread keeps its own free lists: the hot path takes no lock.
struct ThreadCache {
  std::array<std::vector<void*>, kClasses> free_lists;
  Counts counts;
  ThreadCache() {
    Registry& r = registry();
    const std::lock_guard lock(r.mutex);
    r.caches.push_back(this);
  }
  void release() {
    for (int c = 0; c < kClasses; ++c) {
      for (void* block : free_lists[c]) {
        TAPEGRAD_UNPOISON(block, class_size(c));
        std::free(block);
        add(counts.cached, -signed_bytes(class_size(c)));
      }
      free_lists[c].clear();
    }
  }
  ~ThreadCache() {
    release();
    Registry& r = registry();
    const std::lock_guard lock(r.mutex);
    std::erase(r.caches, this);
    r.exited.in_use.fetch_add(counts.in_use.load(std::memory_order_relaxed), std::memory_order_relaxed);
    r.exited.fresh.fetch_add(counts.fresh.load(std::memory_order_relaxed), std::memory_order_relaxed);
    t_cache = nullptr;
    cache_destroyed = true;
  }
};

ThreadCache* thread_cache() {
  if (t_cache != nullptr) [[likely]]
    return t_cache;
  if (cache_destroyed) return nullptr;
  thread_local ThreadCache cache;
  t_cache = &cache;
  return t_cache;
}

}  // namespace

void* allocate(size_t bytes, size_t* block_bytes) {
  size_t class_bytes = 0;
  // NOTE: at most 2^62 bytes, so that a size class (up to 25% more) never wraps around.
  const int c = bytes > kMaxBytes ? kClasses : size_class(bytes, &class_bytes);
  if (c >= kClasses) fail("allocate: {} bytes is more than the allocator serves", bytes);
  *block_bytes = class_bytes;
  ThreadCache* cache = thread_cache();
  if (cache == nullptr) {  // during thread exit
    void* block = std::aligned_alloc(kAlignment, class_bytes);
    if (block == nullptr) fail("allocate: out of memory asking for {} bytes", class_bytes);
    registry().exited.in_use.fetch_add(signed_bytes(class_bytes), std::memory_order_relaxed);
    registry().exited.fresh.fetch_add(signed_bytes(class_bytes), std::memory_order_relaxed);
    return block;
  }
  // A cached block of its own class, else the smallest of the next ones up to twice its class's size.
  int taken = c;
  while (cache->free_lists[taken].empty() && taken < std::min(c + kLargerClasses, kClasses - 1) &&
         class_size(taken + 1) <= 2 * class_bytes) {
    ++taken;
  }
  if (std::vector<void*>& free_list = cache->free_lists[taken]; !free_list.empty()) {
    void* block = free_list.back();
    free_list.pop_back();
    const size_t bytes_taken = taken == c ? class_bytes : class_size(taken);
    *block_bytes = bytes_taken;
    add(cache->counts.in_use, signed_bytes(bytes_taken));
    add(cache->counts.cached, -signed_bytes(bytes_taken));
    // A larger block's extra bytes stay poisoned: a use past what was asked for is reported.
    TAPEGRAD_UNPOISON(block, taken == c ? bytes_taken : bytes);
    return block;
  }
  add(cache->counts.in_use, signed_bytes(class_bytes));
  void* block = std::aligned_alloc(kAlignment, class_bytes);
  if (block == nullptr) fail("allocate: out of memory asking for {} bytes", class_bytes);
  add(cache->counts.fresh, signed_bytes(class_bytes));
  return block;
}

void deallocate(void* block, size_t block_bytes) {
  size_t class_bytes = 0;
  const int c = size_class(block_bytes, &class_bytes);
  ThreadCache* cache = thread_cache();
  if (cache == nullptr) {
    registry().exited.in_use.fetch_sub(signed_bytes(block_bytes), std::memory_order_relaxed);
    std::free(block);
    return;
  }
  add(cache->counts.in_use, -signed_bytes(block_bytes));
  add(cache->counts.cached, signed_bytes(block_bytes));
  TAPEGRAD_POISON(block, block_bytes);
  cache->free_lists[c].push_back(block);
}

void release_cached_memory() {
  if (ThreadCache* cache = thread_cache()) cache->release();
}

AllocatorStats allocator_stats() {
  Registry& r = registry();
  const std::lock_guard lock(r.mutex);
  int64_t in_use = r.exited.in_use.load(std::memory_order_relaxed);
  int64_t cached = 0;
  int64_t fresh = r.exited.fresh.load(std::memory_order_relaxed);
  for (const ThreadCache* cache : r.caches) {
    in_use += cache->counts.in_use.load(std::memory_order_relaxed);
    cached += cache->counts.cached.load(std::memory_order_relaxed);
    fresh += cache->counts.fresh.load(std::memory_order_relaxed);
  }
  const auto bytes = [](int64_t count) { return static_cast<size_t>(std::max<int64_t>(count, 0)); };
  return {bytes(in_use), bytes(cached), bytes(fresh)};
}

}  // namespace tapegrad
