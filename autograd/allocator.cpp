#include "autograd/allocator.hpp"

#include "autograd/error.hpp"

#include <array>
#include <atomic>
#include <bit>
#include <cstdlib>
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

std::atomic<size_t> bytes_in_use{0};
std::atomic<size_t> bytes_cached{0};
std::atomic<size_t> bytes_fresh{0};

// A thread_local that is trivially destructible stays readable during thread exit, after the
// cache itself is gone; blocks freed then go straight back to the system.
thread_local bool cache_destroyed = false;

// Each thread keeps its own free lists: the hot path takes no lock.
struct ThreadCache {
  std::array<std::vector<void*>, kClasses> free_lists;
  void release() {
    for (int c = 0; c < kClasses; ++c) {
      for (void* block : free_lists[c]) {
        TAPEGRAD_UNPOISON(block, class_size(c));
        std::free(block);
        bytes_cached.fetch_sub(class_size(c), std::memory_order_relaxed);
      }
      free_lists[c].clear();
    }
  }
  ~ThreadCache() {
    release();
    cache_destroyed = true;
  }
};

ThreadCache* thread_cache() {
  if (cache_destroyed) return nullptr;
  thread_local ThreadCache cache;
  return &cache;
}

}  // namespace

void* allocate(size_t bytes, size_t* block_bytes) {
  size_t class_bytes = 0;
  const int c = size_class(bytes, &class_bytes);
  if (c >= kClasses) fail("allocate: {} bytes is more than the allocator serves", bytes);
  *block_bytes = class_bytes;
  bytes_in_use.fetch_add(class_bytes, std::memory_order_relaxed);
  if (ThreadCache* cache = thread_cache(); cache != nullptr && !cache->free_lists[c].empty()) {
    void* block = cache->free_lists[c].back();
    cache->free_lists[c].pop_back();
    bytes_cached.fetch_sub(class_bytes, std::memory_order_relaxed);
    TAPEGRAD_UNPOISON(block, class_bytes);
    return block;
  }
  void* block = std::aligned_alloc(kAlignment, class_bytes);
  if (block == nullptr) fail("allocate: out of memory asking for {} bytes", class_bytes);
  bytes_fresh.fetch_add(class_bytes, std::memory_order_relaxed);
  return block;
}

void deallocate(void* block, size_t block_bytes) {
  size_t class_bytes = 0;
  const int c = size_class(block_bytes, &class_bytes);
  bytes_in_use.fetch_sub(block_bytes, std::memory_order_relaxed);
  ThreadCache* cache = thread_cache();
  if (cache == nullptr) {
    std::free(block);
    return;
  }
  bytes_cached.fetch_add(block_bytes, std::memory_order_relaxed);
  TAPEGRAD_POISON(block, block_bytes);
  cache->free_lists[c].push_back(block);
}

void release_cached_memory() {
  if (ThreadCache* cache = thread_cache()) cache->release();
}

AllocatorStats allocator_stats() {
  return {bytes_in_use.load(std::memory_order_relaxed), bytes_cached.load(std::memory_order_relaxed),
          bytes_fresh.load(std::memory_order_relaxed)};
}

}  // namespace tapegrad
