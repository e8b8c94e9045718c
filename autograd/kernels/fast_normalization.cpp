// Fast batch normalization and dropout. Batch normalization views x as (rows, channels): each pass
// walks whole rows, in fixed blocks of rows shared out between threads; the per-channel sums of a
// block are kept apart and added in block order in double, so any thread count gives the same bits.
// Training takes two passes forward (the sums, then y) and two backward (the sums, then dx), each
// reading x (and dy) once. The row loops are built for AVX-512, AVX2 and any x86-64 (the one
// gemm_isa() names runs), each keeping a group of channels' sums and constants in registers over a
// block's rows; channel counts that would leave some of them to a scalar loop (LeNet's 6) are read
// flat where they can, in chunks whose lanes each hold one channel. The references (batch_norm_*_reference,
// dropout_forward_reference) are in reference.cpp.

#include "autograd/kernels/gemm.hpp"
#include "autograd/kernels/kernels.hpp"
#include "autograd/kernels/parallel.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

namespace tapegrad::kernels {

namespace {

// Rows of a block: about 16,384 elements, at least one row and at most 1,024 (a block's sums are
// added in T: few enough terms that float32 keeps them to about 1e-6).
int64_t block_rows(const BatchNormGeometry& g) { return std::clamp<int64_t>((int64_t{1} << 14) / g.channels, 1, 1024); }

// body(first_row, end_row, b) for each block b of rows, the blocks shared out by parallel_for.
template <typename Body>
void for_row_blocks(const BatchNormGeometry& g, Body&& body) {
  const int64_t rows = block_rows(g);
  const int64_t blocks = (g.rows + rows - 1) / rows;
  parallel_for(blocks, g.rows * g.channels, [&](int64_t b) { body(b * rows, std::min(g.rows, (b + 1) * rows), b); });
}

// 64 bytes of T (16 floats, 8 doubles) as one vector of GCC's and clang's vector extension; each
// build below splits it into its own registers (one AVX-512 register, two AVX2 ones, four SSE ones).
template <typename T>
struct Vector64;
template <>
struct Vector64<float> {
  typedef float type __attribute__((vector_size(64)));
};
template <>
struct Vector64<double> {
  typedef double type __attribute__((vector_size(64)));
};

// Rows [begin, end) of a (rows, channels) tensor, one block's.
struct RowRange {
  int64_t begin, end, channels;
};

// A row loop's channels go in groups of K vectors (their sums and constants in registers over all
// the rows), then in single vectors, the channels past the last whole vector one at a time. Each
// channel's terms are added in the same order either way, but the vector and the scalar loops may fuse
// different multiplies and adds, so a channel's last bits can depend on which loop takes it.
#define TAPEGRAD_UNROLL _Pragma("GCC unroll 4")

// group.template operator()<K>(c0) for each group of K vectors of channels from c0 = 0, then <1> for
// the single vectors after them; returns the first channel past the last whole vector. `group` must be
// always_inline too: a call to it would compile its loop for the default instruction set, not the
// row loop's.
template <typename T, int K, typename Group>
[[gnu::always_inline]] inline int64_t for_channel_vectors(int64_t channels, Group&& group) {
  constexpr int64_t kLanes = 64 / sizeof(T);
  int64_t c0 = 0;
  for (; c0 + K * kLanes <= channels; c0 += K * kLanes) group.template operator()<K>(c0);
  if constexpr (K > 1) {
    for (; c0 + kLanes <= channels; c0 += kLanes) group.template operator()<1>(c0);
  }
  return c0;
}

// sum_rows' sums for the K vectors of channels from c0.
template <typename T, int K>
[[gnu::always_inline]] inline void sum_group(const T* a, const T* a0, const T* b, const T* b0, RowRange rows, T* s1,
                                             T* s2, int64_t c0) {
  using V = typename Vector64<T>::type;
  constexpr int64_t kLanes = 64 / sizeof(T);
  const int64_t channels = rows.channels;
  const int64_t half = (rows.end - rows.begin) / 2;
  const int64_t middle = rows.begin + half;  // rows [begin, middle) beside [middle, middle + half)
  V t1[K], t2[K], u1[K], u2[K], ca[K], cb[K];
  TAPEGRAD_UNROLL for (int k = 0; k < K; ++k) {
    t1[k] = t2[k] = u1[k] = u2[k] = V{} * 0;
    std::memcpy(&ca[k], a0 + c0 + k * kLanes, sizeof(V));
    std::memcpy(&cb[k], b0 + c0 + k * kLanes, sizeof(V));
  }
  const auto add_row = [&](int64_t r, V * sum1, V * sum2) __attribute__((always_inline)) {
    const T* a_row = a + r * channels + c0;
    const T* b_row = b + r * channels + c0;
    TAPEGRAD_UNROLL for (int k = 0; k < K; ++k) {
      V va, vb;
      std::memcpy(&va, a_row + k * kLanes, sizeof(V));
      std::memcpy(&vb, b_row + k * kLanes, sizeof(V));
      const V p = va - ca[k];
      sum1[k] += p;
      sum2[k] += p * (vb - cb[k]);
    }
  };
  for (int64_t r = rows.begin; r < middle; ++r) {
    add_row(r, t1, t2);
    add_row(r + half, u1, u2);
  }
  if (middle + half < rows.end) add_row(middle + half, u1, u2);  // an odd count's last row
  TAPEGRAD_UNROLL for (int k = 0; k < K; ++k) {
    V v1, v2;
    std::memcpy(&v1, s1 + c0 + k * kLanes, sizeof(V));
    std::memcpy(&v2, s2 + c0 + k * kLanes, sizeof(V));
    v1 += t1[k] + u1[k];
    v2 += t2[k] + u2[k];
    std::memcpy(s1 + c0 + k * kLanes, &v1, sizeof(V));
    std::memcpy(s2 + c0 + k * kLanes, &v2, sizeof(V));
  }
}

// s1[c] += p, s2[c] += p (b[r, c] - b0[c]) over the rows, where p = a[r, c] - a0[c]: the forward's
// shifted sums (a = b = x, a0 = b0 = the shift) and the backward's (a = dy, a0 = 0, b = x, b0 = mean).
// The rows' two halves are read side by side (two streams keep more reads in flight), each summed
// in row order, then added: a fixed order, so any thread count gives the same bits. The builds for
// different instruction sets may differ in the last bits (the AVX builds fuse multiplies and adds).
template <typename T, int K>
[[gnu::always_inline]] inline void sum_rows(const T* a, const T* a0, const T* b, const T* b0, RowRange rows, T* s1,
                                            T* s2) {
  const int64_t channels = rows.channels;
  const int64_t c0 = for_channel_vectors<T, K>(
      channels, [&]<int N>(int64_t first)
                    __attribute__((always_inline)) { sum_group<T, N>(a, a0, b, b0, rows, s1, s2, first); });
  const int64_t middle = rows.begin + (rows.end - rows.begin) / 2;
  for (int64_t c = c0; c < channels; ++c) {
    T t1{0}, t2{0}, u1{0}, u2{0};
    for (int64_t r = rows.begin; r < rows.end; ++r) {
      const T p = a[r * channels + c] - a0[c];
      const T q = p * (b[r * channels + c] - b0[c]);
      if (r < middle) {
        t1 += p;
        t2 += q;
      } else {
        u1 += p;
        u2 += q;
      }
    }
    s1[c] += t1 + u1;
    s2[c] += t2 + u2;
  }
}

// normalize_rows for the K vectors of channels from c0.
template <typename T, int K>
[[gnu::always_inline]] inline void normalize_group(const T* x, const T* mean, const T* factor, const T* offset,
                                                   RowRange rows, T* y, int64_t c0) {
  using V = typename Vector64<T>::type;
  constexpr int64_t kLanes = 64 / sizeof(T);
  const int64_t channels = rows.channels;
  V m[K], f[K], o[K];
  TAPEGRAD_UNROLL for (int k = 0; k < K; ++k) {
    std::memcpy(&m[k], mean + c0 + k * kLanes, sizeof(V));
    std::memcpy(&f[k], factor + c0 + k * kLanes, sizeof(V));
    std::memcpy(&o[k], offset + c0 + k * kLanes, sizeof(V));
  }
  for (int64_t r = rows.begin; r < rows.end; ++r) {
    TAPEGRAD_UNROLL for (int k = 0; k < K; ++k) {
      V v;
      std::memcpy(&v, x + r * channels + c0 + k * kLanes, sizeof(V));
      const V result = (v - m[k]) * f[k] + o[k];
      std::memcpy(y + r * channels + c0 + k * kLanes, &result, sizeof(V));
    }
  }
}

// y = (x - mean) factor + offset, per channel, over the rows: the normalization of both forwards.
template <typename T, int K>
[[gnu::always_inline]] inline void normalize_rows(const T* x, const T* mean, const T* factor, const T* offset,
                                                  RowRange rows, T* y) {
  const int64_t channels = rows.channels;
  const int64_t c0 = for_channel_vectors<T, K>(
      channels, [&]<int N>(int64_t first)
                    __attribute__((always_inline)) { normalize_group<T, N>(x, mean, factor, offset, rows, y, first); });
  for (int64_t r = rows.begin; r < rows.end && c0 < channels; ++r) {
    for (int64_t c = c0; c < channels; ++c)
      y[r * channels + c] = (x[r * channels + c] - mean[c]) * factor[c] + offset[c];
  }
}

// gradient_rows for the K vectors of channels from c0.
template <typename T, int K>
[[gnu::always_inline]] inline void gradient_group(const T* dy, const T* x, const T* mean, const T* k1, const T* k2,
                                                  const T* k3, RowRange rows, T* dx, int64_t c0) {
  using V = typename Vector64<T>::type;
  constexpr int64_t kLanes = 64 / sizeof(T);
  const int64_t channels = rows.channels;
  V m[K], v1[K], v2[K], v3[K];
  TAPEGRAD_UNROLL for (int k = 0; k < K; ++k) {
    std::memcpy(&m[k], mean + c0 + k * kLanes, sizeof(V));
    std::memcpy(&v1[k], k1 + c0 + k * kLanes, sizeof(V));
    std::memcpy(&v2[k], k2 + c0 + k * kLanes, sizeof(V));
    std::memcpy(&v3[k], k3 + c0 + k * kLanes, sizeof(V));
  }
  for (int64_t r = rows.begin; r < rows.end; ++r) {
    TAPEGRAD_UNROLL for (int k = 0; k < K; ++k) {
      V g, v;
      std::memcpy(&g, dy + r * channels + c0 + k * kLanes, sizeof(V));
      std::memcpy(&v, x + r * channels + c0 + k * kLanes, sizeof(V));
      const V result = v1[k] * g + v2[k] * (v - m[k]) + v3[k];
      std::memcpy(dx + r * channels + c0 + k * kLanes, &result, sizeof(V));
    }
  }
}

// dx = k1 dy + k2 (x - mean) + k3, per channel, over the rows: the training backward's second pass.
template <typename T, int K>
[[gnu::always_inline]] inline void gradient_rows(const T* dy, const T* x, const T* mean, const T* k1, const T* k2,
                                                 const T* k3, RowRange rows, T* dx) {
  const int64_t channels = rows.channels;
  const int64_t c0 = for_channel_vectors<T, K>(
      channels, [&]<int N>(int64_t first)
                    __attribute__((always_inline)) { gradient_group<T, N>(dy, x, mean, k1, k2, k3, rows, dx, first); });
  for (int64_t r = rows.begin; r < rows.end && c0 < channels; ++r) {
    for (int64_t c = c0; c < channels; ++c) {
      const int64_t i = r * channels + c;
      dx[i] = k1[c] * dy[i] + k2[c] * (x[i] - mean[c]) + k3[c];
    }
  }
}

// Channels that are not a whole number of vectors leave the channels past the last whole vector to the
// scalar loops: all of LeNet's 6. Such rows are read flat instead where they can be, in chunks of
// lcm(channels, lanes) elements: a block starts at a row, so lane l of every chunk is channel
// l % channels, and each channel's constants repeat over the chunk's vectors. A chunk is
// channels / gcd(channels, lanes) vectors, an odd number; it is taken when that is 1 or 3 (float32:
// 1, 2, 3, 4, 6, 8, 12 or 24 channels), which keeps the sums in AVX-512's registers. The number of
// vectors, or 0 for the groups of whole vectors and the scalar loop.
template <typename T>
constexpr int pattern_vectors(int64_t channels) {
  constexpr int64_t kLanes = 64 / sizeof(T);
  if (channels < 1 || channels % kLanes == 0) return 0;
  const int64_t vectors = channels / std::gcd(channels, kLanes);
  return vectors == 1 || vectors == 3 ? static_cast<int>(vectors) : 0;
}
static_assert(pattern_vectors<float>(6) == 3 && pattern_vectors<float>(24) == 3 && pattern_vectors<float>(8) == 1);
static_assert(pattern_vectors<float>(16) == 0 && pattern_vectors<float>(5) == 0 && pattern_vectors<float>(40) == 0);
static_assert(pattern_vectors<double>(6) == 3 && pattern_vectors<double>(24) == 0 && pattern_vectors<double>(1) == 1);

// out[k] = the per-channel values over the lanes of a chunk's vector k.
template <typename T, int V>
[[gnu::always_inline]] inline void repeat_over_chunk(const T* per_channel, int64_t channels,
                                                     typename Vector64<T>::type (&out)[V]) {
  constexpr int64_t kLanes = 64 / sizeof(T);
  T lanes[V * kLanes];
  repeat_row(per_channel, channels, V * kLanes, lanes);
  std::memcpy(out, lanes, sizeof(lanes));
}

// sum_rows for channels in chunks of V vectors (pattern_vectors): chunks in two halves side by side, a
// chunk's lanes then folded into their channels, lanes in order; the rows past the last whole chunk
// one element at a time into the same lanes.
template <typename T, int V>
[[gnu::always_inline]] inline void sum_chunks(const T* a, const T* a0, const T* b, const T* b0, RowRange rows, T* s1,
                                              T* s2) {
  using Vec = typename Vector64<T>::type;
  constexpr int64_t kLanes = 64 / sizeof(T), kChunk = V * kLanes;
  const int64_t channels = rows.channels;
  const T* pa = a + rows.begin * channels;
  const T* pb = b + rows.begin * channels;
  const int64_t elements = (rows.end - rows.begin) * channels, chunks = elements / kChunk, half = chunks / 2;
  Vec ca[V], cb[V], t1[V], t2[V], u1[V], u2[V];
  repeat_over_chunk<T, V>(a0, channels, ca);
  repeat_over_chunk<T, V>(b0, channels, cb);
  TAPEGRAD_UNROLL for (int k = 0; k < V; ++k) t1[k] = t2[k] = u1[k] = u2[k] = Vec{} * 0;
  const auto add_chunk = [&](int64_t i, Vec * sum1, Vec * sum2) __attribute__((always_inline)) {
    TAPEGRAD_UNROLL for (int k = 0; k < V; ++k) {
      Vec va, vb;
      std::memcpy(&va, pa + i * kChunk + k * kLanes, sizeof(Vec));
      std::memcpy(&vb, pb + i * kChunk + k * kLanes, sizeof(Vec));
      const Vec p = va - ca[k];
      sum1[k] += p;
      sum2[k] += p * (vb - cb[k]);
    }
  };
  for (int64_t i = 0; i < half; ++i) {
    add_chunk(i, t1, t2);
    add_chunk(i + half, u1, u2);
  }
  if (2 * half < chunks) add_chunk(2 * half, u1, u2);  // an odd count's last chunk
  TAPEGRAD_UNROLL for (int k = 0; k < V; ++k) {
    t1[k] += u1[k];
    t2[k] += u2[k];
  }
  T lane1[kChunk], lane2[kChunk];
  std::memcpy(lane1, t1, sizeof(lane1));
  std::memcpy(lane2, t2, sizeof(lane2));
  for (int64_t j = chunks * kChunk; j < elements; ++j) {
    const int64_t l = j - chunks * kChunk, c = l % channels;
    const T p = pa[j] - a0[c];
    lane1[l] += p;
    lane2[l] += p * (pb[j] - b0[c]);
  }
  for (int64_t l = 0; l < kChunk; ++l) {
    s1[l % channels] += lane1[l];
    s2[l % channels] += lane2[l];
  }
}

// normalize_rows for channels in chunks of V vectors (pattern_vectors).
template <typename T, int V>
[[gnu::always_inline]] inline void normalize_chunks(const T* x, const T* mean, const T* factor, const T* offset,
                                                    RowRange rows, T* y) {
  using Vec = typename Vector64<T>::type;
  constexpr int64_t kLanes = 64 / sizeof(T), kChunk = V * kLanes;
  const int64_t channels = rows.channels;
  const T* in = x + rows.begin * channels;
  T* out = y + rows.begin * channels;
  const int64_t elements = (rows.end - rows.begin) * channels, whole = elements / kChunk * kChunk;
  Vec m[V], f[V], o[V];
  repeat_over_chunk<T, V>(mean, channels, m);
  repeat_over_chunk<T, V>(factor, channels, f);
  repeat_over_chunk<T, V>(offset, channels, o);
  for (int64_t i = 0; i < whole; i += kChunk) {
    TAPEGRAD_UNROLL for (int k = 0; k < V; ++k) {
      Vec v;
      std::memcpy(&v, in + i + k * kLanes, sizeof(Vec));
      const Vec result = (v - m[k]) * f[k] + o[k];
      std::memcpy(out + i + k * kLanes, &result, sizeof(Vec));
    }
  }
  for (int64_t j = whole; j < elements; ++j) {
    const int64_t c = j % channels;
    out[j] = (in[j] - mean[c]) * factor[c] + offset[c];
  }
}

// gradient_rows for channels in chunks of V vectors (pattern_vectors).
template <typename T, int V>
[[gnu::always_inline]] inline void gradient_chunks(const T* dy, const T* x, const T* mean, const T* k1, const T* k2,
                                                   const T* k3, RowRange rows, T* dx) {
  using Vec = typename Vector64<T>::type;
  constexpr int64_t kLanes = 64 / sizeof(T), kChunk = V * kLanes;
  const int64_t channels = rows.channels;
  const T* grad = dy + rows.begin * channels;
  const T* in = x + rows.begin * channels;
  T* out = dx + rows.begin * channels;
  const int64_t elements = (rows.end - rows.begin) * channels, whole = elements / kChunk * kChunk;
  Vec m[V], v1[V], v2[V], v3[V];
  repeat_over_chunk<T, V>(mean, channels, m);
  repeat_over_chunk<T, V>(k1, channels, v1);
  repeat_over_chunk<T, V>(k2, channels, v2);
  repeat_over_chunk<T, V>(k3, channels, v3);
  for (int64_t i = 0; i < whole; i += kChunk) {
    TAPEGRAD_UNROLL for (int k = 0; k < V; ++k) {
      Vec g, v;
      std::memcpy(&g, grad + i + k * kLanes, sizeof(Vec));
      std::memcpy(&v, in + i + k * kLanes, sizeof(Vec));
      const Vec result = v1[k] * g + v2[k] * (v - m[k]) + v3[k];
      std::memcpy(out + i + k * kLanes, &result, sizeof(Vec));
    }
  }
  for (int64_t j = whole; j < elements; ++j) {
    const int64_t c = j % channels;
    out[j] = k1[c] * grad[j] + k2[c] * (in[j] - mean[c]) + k3[c];
  }
}

// body.template operator()<V>() for the chunk's V vectors (1 or 3) of pattern_vectors.
template <typename Body>
[[gnu::always_inline]] inline void with_pattern_vectors(int vectors, Body&& body) {
  if (vectors == 1) return body.template operator()<1>();
  body.template operator()<3>();
}

// The row loops of a block: in chunks of whole vectors where pattern_vectors takes the channels, else
// in groups of K vectors of channels (and the scalar loop past them).
template <typename T, int K>
[[gnu::always_inline]] inline void block_sums(const T* a, const T* a0, const T* b, const T* b0, RowRange rows, T* s1,
                                              T* s2) {
  if (const int vectors = pattern_vectors<T>(rows.channels); vectors > 0) {
    return with_pattern_vectors(
        vectors, [&]<int V>() __attribute__((always_inline)) { sum_chunks<T, V>(a, a0, b, b0, rows, s1, s2); });
  }
  sum_rows<T, K>(a, a0, b, b0, rows, s1, s2);
}

template <typename T, int K>
[[gnu::always_inline]] inline void block_normalize(const T* x, const T* mean, const T* factor, const T* offset,
                                                   RowRange rows, T* y) {
  if (const int vectors = pattern_vectors<T>(rows.channels); vectors > 0) {
    return with_pattern_vectors(
        vectors, [&]<int V>()
                     __attribute__((always_inline)) { normalize_chunks<T, V>(x, mean, factor, offset, rows, y); });
  }
  normalize_rows<T, K>(x, mean, factor, offset, rows, y);
}

template <typename T, int K>
[[gnu::always_inline]] inline void block_gradient(const T* dy, const T* x, const T* mean, const T* k1, const T* k2,
                                                  const T* k3, RowRange rows, T* dx) {
  if (const int vectors = pattern_vectors<T>(rows.channels); vectors > 0) {
    return with_pattern_vectors(
        vectors, [&]<int V>()
                     __attribute__((always_inline)) { gradient_chunks<T, V>(dy, x, mean, k1, k2, k3, rows, dx); });
  }
  gradient_rows<T, K>(dy, x, mean, k1, k2, k3, rows, dx);
}

#undef TAPEGRAD_UNROLL

// The three row loops, each built for one instruction set: groups of 4 vectors (64 floats) on
// AVX-512's 32 registers, of 1 on AVX2's and SSE's 16.
template <typename T>
struct RowLoops {
  void (*sums)(const T*, const T*, const T*, const T*, RowRange, T*, T*);
  void (*normalize)(const T*, const T*, const T*, const T*, RowRange, T*);
  void (*gradient)(const T*, const T*, const T*, const T*, const T*, const T*, RowRange, T*);
};

template <typename T>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void sums_avx512(const T* a, const T* a0, const T* b, const T* b0,
                                                                      RowRange rows, T* s1, T* s2) {
  block_sums<T, 4>(a, a0, b, b0, rows, s1, s2);
}
template <typename T>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void normalize_avx512(const T* x, const T* mean, const T* factor,
                                                                           const T* offset, RowRange rows, T* y) {
  block_normalize<T, 4>(x, mean, factor, offset, rows, y);
}
template <typename T>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void gradient_avx512(const T* dy, const T* x, const T* mean,
                                                                          const T* k1, const T* k2, const T* k3,
                                                                          RowRange rows, T* dx) {
  block_gradient<T, 4>(dy, x, mean, k1, k2, k3, rows, dx);
}
template <typename T>
__attribute__((target("avx2,fma"))) void sums_avx2(const T* a, const T* a0, const T* b, const T* b0, RowRange rows,
                                                   T* s1, T* s2) {
  block_sums<T, 1>(a, a0, b, b0, rows, s1, s2);
}
template <typename T>
__attribute__((target("avx2,fma"))) void normalize_avx2(const T* x, const T* mean, const T* factor, const T* offset,
                                                        RowRange rows, T* y) {
  block_normalize<T, 1>(x, mean, factor, offset, rows, y);
}
template <typename T>
__attribute__((target("avx2,fma"))) void gradient_avx2(const T* dy, const T* x, const T* mean, const T* k1, const T* k2,
                                                       const T* k3, RowRange rows, T* dx) {
  block_gradient<T, 1>(dy, x, mean, k1, k2, k3, rows, dx);
}
template <typename T>
void sums_portable(const T* a, const T* a0, const T* b, const T* b0, RowRange rows, T* s1, T* s2) {
  block_sums<T, 1>(a, a0, b, b0, rows, s1, s2);
}
template <typename T>
void normalize_portable(const T* x, const T* mean, const T* factor, const T* offset, RowRange rows, T* y) {
  block_normalize<T, 1>(x, mean, factor, offset, rows, y);
}
template <typename T>
void gradient_portable(const T* dy, const T* x, const T* mean, const T* k1, const T* k2, const T* k3, RowRange rows,
                       T* dx) {
  block_gradient<T, 1>(dy, x, mean, k1, k2, k3, rows, dx);
}

// The row loops of the instruction set gemm_isa() names (TAPEGRAD_ISA holds the tests to one).
template <typename T>
RowLoops<T> row_loops() {
  return build_for_gemm_isa<RowLoops<T>>({sums_avx512<T>, normalize_avx512<T>, gradient_avx512<T>},
                                         {sums_avx2<T>, normalize_avx2<T>, gradient_avx2<T>},
                                         {sums_portable<T>, normalize_portable<T>, gradient_portable<T>});
}

// Two sums per channel over all rows, as `sums` adds them: each block's in T, the blocks' added in
// double in block order.
template <typename T>
void channel_sums(const BatchNormGeometry& g, const RowLoops<T>& loops, const T* a, const T* a0, const T* b,
                  const T* b0, std::vector<double>& first, std::vector<double>& second) {
  const int64_t channels = g.channels;
  const int64_t blocks = (g.rows + block_rows(g) - 1) / block_rows(g);
  // Each block's two sums in its own slice of one buffer (one allocation per call, not per block).
  std::vector<T> partial(static_cast<size_t>(blocks * 2 * channels), T{0});
  for_row_blocks(g, [&](int64_t begin, int64_t end, int64_t block) {
    T* sums = partial.data() + block * 2 * channels;
    loops.sums(a, a0, b, b0, {begin, end, channels}, sums, sums + channels);
  });
  first.assign(static_cast<size_t>(channels), 0.0);
  second.assign(static_cast<size_t>(channels), 0.0);
  for (int64_t block = 0; block < blocks; ++block) {
    const T* in = partial.data() + block * 2 * channels;
    for (int64_t c = 0; c < channels; ++c) {
      first[static_cast<size_t>(c)] += static_cast<double>(in[c]);
      second[static_cast<size_t>(c)] += static_cast<double>(in[channels + c]);
    }
  }
}

// y = (x - mean) factor + offset over all rows.
template <typename T>
void normalize(const BatchNormGeometry& g, const RowLoops<T>& loops, const T* x, const T* mean, const T* factor,
               const T* offset, T* y) {
  for_row_blocks(g, [&](int64_t begin, int64_t end, int64_t) {
    loops.normalize(x, mean, factor, offset, {begin, end, g.channels}, y);
  });
}

}  // namespace

void batch_norm_training_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y,
                                 const Tensor& mean, const Tensor& variance, const BatchNormGeometry& g) {
  dispatch_floating(x.dtype(), "batch_norm_training", [&]<typename T>() {
    const RowLoops<T> loops = row_loops<T>();
    const int64_t channels = g.channels;
    const T* in = x.data<T>().data();
    // Sums of x - x[0, c] (the first row), which keeps them small when the mean is large next to the spread.
    const T* shift = in;
    std::vector<double> sum, squares;
    channel_sums<T>(g, loops, in, shift, in, shift, sum, squares);
    const auto n = static_cast<double>(g.rows);
    T* mu = mean.mutable_data<T>();
    T* var = variance.mutable_data<T>();
    std::vector<T> a(static_cast<size_t>(channels));
    const T* scale = gamma.data<T>().data();
    for (int64_t c = 0; c < channels; ++c) {
      const double shifted_mean = sum[static_cast<size_t>(c)] / n;
      const double v = std::max(0.0, squares[static_cast<size_t>(c)] / n - shifted_mean * shifted_mean);
      mu[c] = static_cast<T>(static_cast<double>(shift[c]) + shifted_mean);
      var[c] = static_cast<T>(v);
      a[static_cast<size_t>(c)] = static_cast<T>(static_cast<double>(scale[c]) / std::sqrt(v + g.epsilon));
    }
    normalize<T>(g, loops, in, mu, a.data(), beta.data<T>().data(), y.mutable_data<T>());
  });
}

void batch_norm_training_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                  const Tensor& variance, const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta,
                                  const BatchNormGeometry& g) {
  dispatch_floating(x.dtype(), "batch_norm_training", [&]<typename T>() {
    const RowLoops<T> loops = row_loops<T>();
    const int64_t channels = g.channels;
    const T* grad = dy.data<T>().data();
    const T* in = x.data<T>().data();
    const T* mu = mean.data<T>().data();
    const std::vector<T> zero(static_cast<size_t>(channels), T{0});
    std::vector<double> sum_dy, sum_dy_xm;  // sums of dy and of dy (x - mean)
    channel_sums<T>(g, loops, grad, zero.data(), in, mu, sum_dy, sum_dy_xm);
    const auto n = static_cast<double>(g.rows);
    const T* var = variance.data<T>().data();
    const T* scale = gamma.data<T>().data();
    // dx = k1 dy + k2 (x - mean) + k3, per channel.
    std::vector<T> k(static_cast<size_t>(3 * channels));
    for (int64_t c = 0; c < channels; ++c) {
      const auto i = static_cast<size_t>(c);
      const double rstd = 1.0 / std::sqrt(static_cast<double>(var[c]) + g.epsilon);
      if (dbeta.defined()) dbeta.mutable_data<T>()[c] = static_cast<T>(sum_dy[i]);
      if (dgamma.defined()) dgamma.mutable_data<T>()[c] = static_cast<T>(sum_dy_xm[i] * rstd);
      const double gr = static_cast<double>(scale[c]) * rstd;
      k[i] = static_cast<T>(gr);
      k[static_cast<size_t>(channels) + i] = static_cast<T>(-gr * rstd * rstd * sum_dy_xm[i] / n);
      k[static_cast<size_t>(2 * channels) + i] = static_cast<T>(-gr * sum_dy[i] / n);
    }
    if (!dx.defined()) return;
    const T* k1 = k.data();
    const T* k2 = k1 + channels;
    const T* k3 = k2 + channels;
    T* out = dx.mutable_data<T>();
    for_row_blocks(g, [&](int64_t begin, int64_t end, int64_t) {
      loops.gradient(grad, in, mu, k1, k2, k3, {begin, end, channels}, out);
    });
  });
}

void batch_norm_forward(const Tensor& x, const Tensor& mean, const Tensor& variance, const Tensor& gamma,
                        const Tensor& beta, const Tensor& y, const BatchNormGeometry& g) {
  dispatch_floating(x.dtype(), "batch_norm", [&]<typename T>() {
    const int64_t channels = g.channels;
    const T* var = variance.data<T>().data();
    const T* scale = gamma.data<T>().data();
    std::vector<T> a(static_cast<size_t>(channels));
    for (int64_t c = 0; c < channels; ++c) {
      a[static_cast<size_t>(c)] =
          static_cast<T>(static_cast<double>(scale[c]) / std::sqrt(static_cast<double>(var[c]) + g.epsilon));
    }
    normalize<T>(g, row_loops<T>(), x.data<T>().data(), mean.data<T>().data(), a.data(), beta.data<T>().data(),
                 y.mutable_data<T>());
  });
}

void dropout_forward(const Tensor& x, double rate, Generator& generator, const Tensor& y, const Tensor& mask) {
  dispatch_floating(x.dtype(), "dropout", [&]<typename T>() {
    const T* in = x.data<T>().data();
    T* out = y.mutable_data<T>();
    T* kept = mask.mutable_data<T>();
    const auto threshold = static_cast<uint64_t>(std::ceil(rate * 4294967296.0));
    const T scale = static_cast<T>(1.0 / (1.0 - rate));
    // word >= threshold as a compare of 32-bit signed integers (each side's sign bit flipped), which
    // vectorizes without a branch; a threshold of 2^32 (rate within 2^-33 of 1) keeps nothing.
    const T kept_value = threshold > 0xffffffffU ? T{0} : scale;
    const auto bound =
        static_cast<int32_t>(static_cast<uint32_t>(std::min<uint64_t>(threshold, 0xffffffffU)) ^ 0x80000000U);
    // The generator's words a chunk at a time, read as 32-bit halves: low half first, as the reference.
    constexpr int64_t kChunk = 1024;
    uint64_t words[kChunk / 2];
    uint32_t halves[kChunk];
    const int64_t n = x.numel();
    for (int64_t start = 0; start < n; start += kChunk) {
      const int64_t count = std::min(kChunk, n - start);
      generator.fill(words, (count + 1) / 2);
      for (int64_t k = 0; k < (count + 1) / 2; ++k) {
        halves[2 * k] = static_cast<uint32_t>(words[k]);
        halves[2 * k + 1] = static_cast<uint32_t>(words[k] >> 32);
      }
#pragma omp simd
      for (int64_t i = 0; i < count; ++i) {
        const T m = static_cast<int32_t>(halves[i] ^ 0x80000000U) >= bound ? kept_value : T{0};
        kept[start + i] = m;
        out[start + i] = in[start + i] * m;
      }
    }
  });
}

}  // namespace tapegrad::kernels
