// Fast batch normalization and dropout. Batch normalization views x as (rows, channels): each pass
// walks whole rows, in fixed blocks of rows shared out between threads; the per-channel sums of a
// block are kept apart and added in block order in double, so any thread count gives the same bits.
// Training takes two passes forward (the sums, then y) and two backward (the sums, then dx), each
// reading x (and dy) once. The references (batch_norm_*_reference, dropout_forward_reference) are
// in reference.cpp.

#include "autograd/kernels/kernels.hpp"
#include "autograd/kernels/parallel.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
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

// Two sums per channel over all rows: first[c] = sum of f1(r, c), second[c] = sum of f2(r, c),
// each block's in T, the blocks' added in double in block order.
template <typename T, typename Terms>
void channel_sums(const BatchNormGeometry& g, std::vector<double>& first, std::vector<double>& second, Terms terms) {
  const int64_t channels = g.channels;
  const int64_t blocks = (g.rows + block_rows(g) - 1) / block_rows(g);
  std::vector<double> partial(static_cast<size_t>(blocks * 2 * channels));
  for_row_blocks(g, [&](int64_t begin, int64_t end, int64_t b) {
    std::vector<T> sums(static_cast<size_t>(2 * channels), T{0});
    T* s1 = sums.data();
    T* s2 = s1 + channels;
    for (int64_t r = begin; r < end; ++r) terms(r, s1, s2);
    double* out = partial.data() + b * 2 * channels;
    for (int64_t c = 0; c < 2 * channels; ++c) out[c] = static_cast<double>(sums[static_cast<size_t>(c)]);
  });
  first.assign(static_cast<size_t>(channels), 0.0);
  second.assign(static_cast<size_t>(channels), 0.0);
  for (int64_t b = 0; b < blocks; ++b) {
    const double* in = partial.data() + b * 2 * channels;
    for (int64_t c = 0; c < channels; ++c) {
      first[static_cast<size_t>(c)] += in[c];
      second[static_cast<size_t>(c)] += in[channels + c];
    }
  }
}

}  // namespace

void batch_norm_training_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y,
                                 const Tensor& mean, const Tensor& variance, const BatchNormGeometry& g) {
  dispatch_floating(x.dtype(), "batch_norm_training", [&]<typename T>() {
    const int64_t channels = g.channels;
    const T* in = x.data<T>().data();
    // Sums of x - x[0, c] (the first row), which keeps them small when the mean is large next to the spread.
    const T* shift = in;
    std::vector<double> sum, squares;
    channel_sums<T>(g, sum, squares, [&](int64_t r, T* s1, T* s2) {
      const T* row = in + r * channels;
#pragma omp simd
      for (int64_t c = 0; c < channels; ++c) {
        const T d = row[c] - shift[c];
        s1[c] += d;
        s2[c] += d * d;
      }
    });
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
    const T* offset = beta.data<T>().data();
    const T* factor = a.data();
    T* out = y.mutable_data<T>();
    for_row_blocks(g, [&](int64_t begin, int64_t end, int64_t) {
      for (int64_t r = begin; r < end; ++r) {
        const T* row = in + r * channels;
        T* result = out + r * channels;
#pragma omp simd
        for (int64_t c = 0; c < channels; ++c) result[c] = (row[c] - mu[c]) * factor[c] + offset[c];
      }
    });
  });
}

void batch_norm_training_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                  const Tensor& variance, const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta,
                                  const BatchNormGeometry& g) {
  dispatch_floating(x.dtype(), "batch_norm_training", [&]<typename T>() {
    const int64_t channels = g.channels;
    const T* grad = dy.data<T>().data();
    const T* in = x.data<T>().data();
    const T* mu = mean.data<T>().data();
    std::vector<double> sum_dy, sum_dy_xm;  // sums of dy and of dy (x - mean)
    channel_sums<T>(g, sum_dy, sum_dy_xm, [&](int64_t r, T* s1, T* s2) {
      const T* grad_row = grad + r * channels;
      const T* row = in + r * channels;
#pragma omp simd
      for (int64_t c = 0; c < channels; ++c) {
        s1[c] += grad_row[c];
        s2[c] += grad_row[c] * (row[c] - mu[c]);
      }
    });
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
      for (int64_t r = begin; r < end; ++r) {
        const T* grad_row = grad + r * channels;
        const T* row = in + r * channels;
        T* result = out + r * channels;
#pragma omp simd
        for (int64_t c = 0; c < channels; ++c) {
          result[c] = k1[c] * grad_row[c] + k2[c] * (row[c] - mu[c]) + k3[c];
        }
      }
    });
  });
}

void batch_norm_forward(const Tensor& x, const Tensor& mean, const Tensor& variance, const Tensor& gamma,
                        const Tensor& beta, const Tensor& y, const BatchNormGeometry& g) {
  dispatch_floating(x.dtype(), "batch_norm", [&]<typename T>() {
    const int64_t channels = g.channels;
    const T* mu = mean.data<T>().data();
    const T* var = variance.data<T>().data();
    const T* scale = gamma.data<T>().data();
    std::vector<T> a(static_cast<size_t>(channels));
    for (int64_t c = 0; c < channels; ++c) {
      a[static_cast<size_t>(c)] =
          static_cast<T>(static_cast<double>(scale[c]) / std::sqrt(static_cast<double>(var[c]) + g.epsilon));
    }
    const T* in = x.data<T>().data();
    const T* offset = beta.data<T>().data();
    const T* factor = a.data();
    T* out = y.mutable_data<T>();
    for_row_blocks(g, [&](int64_t begin, int64_t end, int64_t) {
      for (int64_t r = begin; r < end; ++r) {
        const T* row = in + r * channels;
        T* result = out + r * channels;
#pragma omp simd
        for (int64_t c = 0; c < channels; ++c) result[c] = (row[c] - mu[c]) * factor[c] + offset[c];
      }
    });
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
