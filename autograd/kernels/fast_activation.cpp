// Fast activation kernels: sigmoid (float32 through a vectorized e^x; the reference,
// sigmoid_forward_reference, is in reference.cpp), the gradients of sigmoid and relu, each one
// pass over large tensors split in blocks between threads, and bias_activation, the epilogue of
// conv2d_bias_activation. Every element is written by one thread,
// so any thread count gives the same bits.

#include "autograd/kernels/gemm.hpp"
#include "autograd/kernels/kernels.hpp"
#include "autograd/kernels/parallel.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <numeric>
#include <type_traits>
#include <utility>

namespace tapegrad::kernels {

// ---- Sigmoid ----

namespace {

// e^t for t in [-104, 0], as arithmetic the compiler vectorizes, where std::exp is a call per
// element: t = n ln 2 + r with |r| <= ln 2 / 2, e^r by Cephes' expf polynomial, 2^n built from
// exponent bits in two halves so that n down to -150 stays a normal float.
// NOTE: within 2 ulp of std::exp (measured); tests/autograd/test_kernels_fast.cpp checks it.
[[gnu::always_inline]] inline float exp_nonpositive(float t) {
  const auto n = static_cast<int32_t>(t * 1.44269504088896341f - 0.5f);  // rounds t / ln 2 to nearest: t <= 0
  const auto fn = static_cast<float>(n);
  float r = t - fn * 0.693359375f;  // ln 2 in two parts: fn * 0.693359375 is exact
  r = r - fn * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.0f;
  const int32_t half = n / 2;  // n and n - half are both >= -75
  return er * std::bit_cast<float>((half + 127) << 23) * std::bit_cast<float>((n - half + 127) << 23);
}

// Elementwise kernels split their work into blocks of this many elements between threads.
constexpr int64_t kElementwiseBlock = int64_t{1} << 14;

// f(begin, end) over [0, n) in blocks of kElementwiseBlock, the blocks shared out by parallel_for.
template <typename F>
void for_blocks(int64_t n, F&& f) {
  parallel_for((n + kElementwiseBlock - 1) / kElementwiseBlock, n, [&](int64_t b) {
    const int64_t begin = b * kElementwiseBlock;
    f(begin, std::min(n, begin + kElementwiseBlock));
  });
}

// sigmoid of `count` floats. Every choice is made on the bits (the magnitude's clamp, the sign,
// NaN), where comparing floats would stop the compiler from vectorizing: non-negative floats order
// as their bit patterns. Built three times, below: for AVX-512 (16 lanes), AVX2 (8) and any x86-64
// (4). The AVX2 and portable builds give the same bits (neither may fuse a multiply and an add: AVX2
// alone has no FMA); the AVX-512 build fuses them, so it may differ in the last bit, within the same
// 2 ulp of std::exp.
[[gnu::always_inline]] inline float sigmoid_value(float v) {
  constexpr int32_t kInfinity = 0x7f800000, kOne = 0x3f800000;
  const int32_t clamp = std::bit_cast<int32_t>(104.0f);  // e^-104 is below float's smallest subnormal
  const auto bits = std::bit_cast<int32_t>(v);
  const int32_t magnitude = bits & 0x7fffffff;
  const float e = exp_nonpositive(-std::bit_cast<float>(magnitude < clamp ? magnitude : clamp));  // e^-|v|
  // The reference's 1 / (1 + e^-v) for v >= 0 and e^v / (1 + e^v) below, as one division.
  const float s = std::bit_cast<float>(bits < 0 ? std::bit_cast<int32_t>(e) : kOne) / (1.0f + e);
  const int32_t nan = -static_cast<int32_t>(magnitude > kInfinity);  // all ones where v is NaN: it stays NaN
  return std::bit_cast<float>((bits & nan) | (std::bit_cast<int32_t>(s) & ~nan));
}

[[gnu::always_inline]] inline void sigmoid_loop(const float* in, float* out, int64_t count) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) out[i] = sigmoid_value(in[i]);
}

// sigmoid(y + bias) in place over `count` elements (whole pixels) of rows `width` long, `row` the bias
// repeated to that width: the sum rounded to float first, as add and then sigmoid make it (a sum that
// feeds only bit operations is never fused into a multiply).
[[gnu::always_inline]] inline void bias_sigmoid_loop(float* y, const float* row, int64_t width, int64_t count) {
  int64_t i = 0;
  for (; i + width <= count; i += width) {
    float* part = y + i;
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) part[j] = sigmoid_value(part[j] + row[j]);
  }
  float* part = y + i;
#pragma omp simd
  for (int64_t j = 0; j < count - i; ++j) part[j] = sigmoid_value(part[j] + row[j]);
}

__attribute__((target("avx512f,avx512vl,avx2,fma"))) void sigmoid_block_avx512(const float* in, float* out,
                                                                               int64_t count) {
  sigmoid_loop(in, out, count);
}

__attribute__((target("avx2"))) void sigmoid_block_avx2(const float* in, float* out, int64_t count) {
  sigmoid_loop(in, out, count);
}

void sigmoid_block_portable(const float* in, float* out, int64_t count) { sigmoid_loop(in, out, count); }

__attribute__((target("avx512f,avx512vl,avx2,fma"))) void bias_sigmoid_block_avx512(float* y, const float* row,
                                                                                    int64_t width, int64_t count) {
  bias_sigmoid_loop(y, row, width, count);
}

__attribute__((target("avx2"))) void bias_sigmoid_block_avx2(float* y, const float* row, int64_t width, int64_t count) {
  bias_sigmoid_loop(y, row, width, count);
}

void bias_sigmoid_block_portable(float* y, const float* row, int64_t width, int64_t count) {
  bias_sigmoid_loop(y, row, width, count);
}

using SigmoidBlock = void (*)(const float*, float*, int64_t);
SigmoidBlock sigmoid_block() {
  return build_for_gemm_isa<SigmoidBlock>(sigmoid_block_avx512, sigmoid_block_avx2, sigmoid_block_portable);
}

using BiasSigmoidBlock = void (*)(float*, const float*, int64_t, int64_t);
BiasSigmoidBlock bias_sigmoid_block() {
  return build_for_gemm_isa<BiasSigmoidBlock>(bias_sigmoid_block_avx512, bias_sigmoid_block_avx2,
                                              bias_sigmoid_block_portable);
}

// `channels` repeated to a row of whole vectors of `vector` elements, `least` elements or more: the
// least common multiple, doubled until it is that long.
int64_t whole_vectors_row(int64_t channels, int64_t vector, int64_t least) {
  int64_t width = std::lcm(channels, vector);
  while (width < least) width *= 2;
  return width;
}

// Sigmoid's gradient at one element from its output y, as sigmoid_backward and
// activation_backward_with_bias compute it: the same bits.
template <typename T>
[[gnu::always_inline]] inline T sigmoid_gradient(T g, T y) {
  return g * (y * (T{1} - y));
}

}  // namespace

void sigmoid_forward(const Tensor& x, const Tensor& y) {
  const int64_t n = x.numel();
  if (x.dtype() != DType::float32) {
    return sigmoid_forward_reference(x, y);
  }
  const float* in = x.data<float>().data();
  float* out = y.mutable_data<float>();
  const SigmoidBlock block = sigmoid_block();
  for_blocks(n, [&](int64_t begin, int64_t end) { block(in + begin, out + begin, end - begin); });
}

// ---- A bias and an activation, in place (conv2d_bias_activation's epilogue) ----

namespace {

// Elements the epilogue takes at a time: the bias's add and the activation then run over data in L1.
constexpr int64_t kEpilogueChunk = 4096;

// A bias repeated over whole vectors of 16 floats, 64 floats or more, is this wide (a multiple of the
// channels); the epilogue's sigmoid takes rows of it when it is at most kMaxVectorRow floats.
constexpr int64_t kMaxVectorRow = 256;
int64_t vector_row_width(int64_t channels) {
  if (channels < 1) return kMaxVectorRow + 1;  // no row: there are no elements either
  return whole_vectors_row(channels, 16, 64);
}

// The activation of `count` elements in place, as relu's and sigmoid's own kernels compute it.
template <typename T>
void activate_in_place(T* y, int64_t count, Activation activation, SigmoidBlock float_sigmoid) {
  switch (activation) {
    case Activation::linear: return;
    case Activation::relu:
      for (int64_t i = 0; i < count; ++i) y[i] = relu_value(y[i]);
      return;
    case Activation::sigmoid:
      if constexpr (std::is_same_v<T, float>) {
        float_sigmoid(y, y, count);
      } else {
        for (int64_t i = 0; i < count; ++i) y[i] = sigmoid_reference_value(y[i]);
      }
      return;
  }
}

}  // namespace

void bias_activation(const Tensor& y, const BiasActivation& epilogue, int64_t first, int64_t end) {
  const int64_t channels = y.rank() == 0 ? 1 : y.shape()[y.rank() - 1];
  dispatch_floating(y.dtype(), "conv2d_bias_activation", [&]<typename T>() {
    T* out = y.mutable_data<T>() + first * channels;
    const int64_t n = (end - first) * channels;
    if (n == 0) return;
    const T* bias = epilogue.bias != nullptr ? epilogue.bias->data<T>().data() : nullptr;
    if constexpr (std::is_same_v<T, float>) {
      if (bias != nullptr && epilogue.activation == Activation::sigmoid) {
        // The add in the sigmoid's own pass, over rows of the bias repeated to whole vectors where it fits.
        const int64_t vectors_wide = vector_row_width(channels);
        if (vectors_wide <= kMaxVectorRow) {
          std::array<float, kMaxVectorRow> vector_row;
          repeat_row(bias, channels, vectors_wide, vector_row.data());
          return bias_sigmoid_block()(out, vector_row.data(), vectors_wide, n);
        }
        return bias_sigmoid_block()(out, bias, channels, n);
      }
    }
    std::array<T, 2 * kRepeatedRow> buffer;
    const auto [row, width] = bias != nullptr ? repeated_row(bias, channels, buffer) : std::pair{bias, channels};
    const int64_t chunk = std::max<int64_t>(1, kEpilogueChunk / width) * width;  // whole rows of the bias
    const SigmoidBlock float_sigmoid = epilogue.activation == Activation::sigmoid ? sigmoid_block() : nullptr;
    for (int64_t o = 0; o < n; o += chunk) {
      T* part = out + o;
      const int64_t count = std::min(chunk, n - o);  // whole pixels
      if (bias != nullptr) {
        // add's bias loop (kernels::zip): whole repeated rows, then single pixels.
        int64_t i = 0;
        for (; i + width <= count; i += width)
          for (int64_t j = 0; j < width; ++j) part[i + j] = static_cast<T>(part[i + j] + row[j]);
        for (; i < count; i += channels)
          for (int64_t j = 0; j < channels; ++j) part[i + j] = static_cast<T>(part[i + j] + bias[j]);
      }
      activate_in_place(part, count, epilogue.activation, float_sigmoid);
    }
  });
}

void sigmoid_backward(const Tensor& dy, const Tensor& y, const Tensor& dx) {
  dispatch_floating(y.dtype(), "sigmoid_backprop", [&]<typename T>() {
    const T* grad = dy.data<T>().data();
    const T* out = y.data<T>().data();
    T* result = dx.mutable_data<T>();
    for_blocks(y.numel(), [&](int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) result[i] = sigmoid_gradient(grad[i], out[i]);
    });
  });
}

// ---- The gradient of a bias and an activation (conv2d_bias_activation's backward) ----

namespace {

// An image's channel sums are spread over lanes: below 32 channels a multiple of them and of 8 (a vector
// of doubles), 32 or more, so that the additions run in several independent chains (a single chain per
// channel waits on every addition); else one lane a channel, kept in the caller's sums past kMaxSumLanes.
constexpr int64_t kMaxSumLanes = 256;

int64_t sum_lanes(int64_t channels) {
  if (channels >= 32 || channels < 1) return channels;
  return whole_vectors_row(channels, 8, 32);
}

// dz and the channel sums of one image, `lanes` elements at a time: element i into lane i % lanes, the
// lanes of a channel then added in order. dz's bits are sigmoid_backward's and relu_backward's (their
// products, no sum a compiler could fuse), whatever the instruction set.
template <typename T>
[[gnu::always_inline]] inline void image_gradient_loop(const T* dy, const T* y, Activation activation, int64_t elements,
                                                       int64_t channels, T* dz, double* sums) {
  if (channels < 1) return;  // no elements, no sums
  const int64_t lanes = sum_lanes(channels);
  std::array<double, kMaxSumLanes> local;
  double* acc = lanes <= kMaxSumLanes ? local.data() : sums;
  std::fill_n(acc, lanes, 0.0);
  for (int64_t begin = 0; begin < elements; begin += lanes) {
    const int64_t count = std::min(lanes, elements - begin);
    const T* g = dy + begin;
    const T* out = y + begin;
    T* z = dz + (dz != nullptr ? begin : 0);
    switch (activation) {
      case Activation::sigmoid:
#pragma omp simd
        for (int64_t i = 0; i < count; ++i) {
          const T v = sigmoid_gradient(g[i], out[i]);
          z[i] = v;
          acc[i] += static_cast<double>(v);
        }
        break;
      case Activation::relu:
#pragma omp simd
        for (int64_t i = 0; i < count; ++i) {
          const T mask = out[i] > T{0} ? T{1} : T{0};  // relu_backward's product, the same bits
          const T v = g[i] * mask;
          z[i] = v;
          acc[i] += static_cast<double>(v);
        }
        break;
      case Activation::linear:
#pragma omp simd
        for (int64_t i = 0; i < count; ++i) acc[i] += static_cast<double>(g[i]);
        break;
    }
  }
  if (acc == sums) return;
  std::fill_n(sums, channels, 0.0);
  for (int64_t lane = 0; lane < lanes; ++lane) sums[lane % channels] += acc[lane];
}

__attribute__((target("avx512f,avx512vl,avx2,fma"))) void image_gradient_avx512(const float* dy, const float* y,
                                                                                Activation activation, int64_t elements,
                                                                                int64_t channels, float* dz,
                                                                                double* sums) {
  image_gradient_loop(dy, y, activation, elements, channels, dz, sums);
}

__attribute__((target("avx2"))) void image_gradient_avx2(const float* dy, const float* y, Activation activation,
                                                         int64_t elements, int64_t channels, float* dz, double* sums) {
  image_gradient_loop(dy, y, activation, elements, channels, dz, sums);
}

void image_gradient_portable(const float* dy, const float* y, Activation activation, int64_t elements, int64_t channels,
                             float* dz, double* sums) {
  image_gradient_loop(dy, y, activation, elements, channels, dz, sums);
}

void image_gradient_double(const double* dy, const double* y, Activation activation, int64_t elements, int64_t channels,
                           double* dz, double* sums) {
  image_gradient_loop(dy, y, activation, elements, channels, dz, sums);
}

// The build of image_gradient_loop that activation_backward_with_bias runs for T: float32's for gemm's
// instruction set.
template <typename T>
auto image_gradient_build() {
  if constexpr (std::is_same_v<T, float>) {
    return build_for_gemm_isa(image_gradient_avx512, image_gradient_avx2, image_gradient_portable);
  } else {
    return image_gradient_double;
  }
}

struct ImageSums;  // thread_buffer's use: activation_backward_with_bias's sums, images x channels

// dbias[c] = the sum over images of image_sums[image][c], images in order.
void add_image_sums(const double* image_sums, int64_t images, int64_t channels, const Tensor& dbias) {
  dispatch_floating(dbias.dtype(), "conv2d_bias_activation", [&]<typename T>() {
    T* out = dbias.mutable_data<T>();
    for (int64_t c = 0; c < channels; ++c) {
      double total = 0.0;
      for (int64_t n = 0; n < images; ++n) total += image_sums[n * channels + c];
      out[c] = static_cast<T>(total);
    }
  });
}

}  // namespace

void activation_backward_with_bias(const Tensor& dy, const Tensor& y, Activation activation, const Tensor& dz,
                                   const Tensor& dbias) {
  const int64_t images = y.shape()[0], channels = y.shape()[-1];
  const int64_t elements = images == 0 ? 0 : y.numel() / images;
  double* sums = thread_buffer<double, ImageSums>(static_cast<size_t>(images * channels));
  dispatch_floating(y.dtype(), "conv2d_bias_activation", [&]<typename T>() {
    const T* grad = dy.data<T>().data();
    const T* out = y.data<T>().data();
    T* result = activation == Activation::linear ? nullptr : dz.mutable_data<T>();
    const auto image_gradient = image_gradient_build<T>();
    parallel_for(images, y.numel(), [&](int64_t n) {
      image_gradient(grad + n * elements, out + n * elements, activation, elements, channels,
                     result == nullptr ? nullptr : result + n * elements, sums + n * channels);
    });
  });
  add_image_sums(sums, images, channels, dbias);
}

// ---- ReLU's gradient ----

void relu_backward(const Tensor& dy, const Tensor& x, const Tensor& dx) {
  dispatch_floating(x.dtype(), "relu_backprop", [&]<typename T>() {
    const T* grad = dy.data<T>().data();
    const T* in = x.data<T>().data();
    T* result = dx.mutable_data<T>();
    // Multiplied by the 0/1 mask rather than selected, as dy * greater(x, 0) is: -0 and NaN in dy
    // keep their bits. (The mask as its own variable is what lets GCC vectorize the loop.)
    for_blocks(x.numel(), [&](int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) {
        const T mask = in[i] > T{0} ? T{1} : T{0};
        result[i] = grad[i] * mask;
      }
    });
  });
}

}  // namespace tapegrad::kernels
