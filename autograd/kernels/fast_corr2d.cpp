// The book's corr2d on small matrices: plain loops with a row's outputs held in registers, cheaper
// than conv2d_forward's setup for the chapter's 6x8 image; tested against conv2d_forward_reference.

#include "autograd/kernels/constant_count.hpp"
#include "autograd/kernels/kernels.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

namespace tapegrad::kernels {

namespace {
// N adjacent outputs of one row, held in registers while every tap adds to them (the kernel
// gradient's shape, a 1x2 output under a 6x7 kernel, otherwise runs one long chain of loads and
// stores through memory). Each output adds its taps in row-major order, as the reference does.
template <int N, typename T>
void correlate_outputs(const T* in, int64_t width, const T* k, int64_t kh, int64_t kw, T* out) {
  std::array<T, N> sums{};
  for (int64_t a = 0; a < kh; ++a)
    for (int64_t b = 0; b < kw; ++b) {
      const T tap = k[a * kw + b];
      const T* from = in + a * width + b;
      for (int j = 0; j < N; ++j) sums[j] += from[j] * tap;
    }
  std::copy(sums.begin(), sums.end(), out);
}
}  // namespace

void corr2d_small(const Tensor& x, const Tensor& kernel, const Tensor& y) {
  dispatch_floating(x.dtype(), "corr2d", [&]<typename T>() {
    constexpr int kBlock = 8;
    const int64_t width = x.shape()[1], kh = kernel.shape()[0], kw = kernel.shape()[1];
    const int64_t out_h = y.shape()[0], out_w = y.shape()[1];
    const T* in = x.data<T>().data();
    const T* k = kernel.data<T>().data();
    T* out = y.mutable_data<T>();
    for (int64_t i = 0; i < out_h; ++i) {
      int64_t j = 0;
      for (; j + kBlock <= out_w; j += kBlock) {
        correlate_outputs<kBlock>(in + i * width + j, width, k, kh, kw, out + i * out_w + j);
      }
      if (j < out_w) {  // the row's last 1 to kBlock - 1 outputs
        with_count<kBlock - 1>(out_w - j, [&]<int N>() {
          correlate_outputs<N>(in + i * width + j, width, k, kh, kw, out + i * out_w + j);
        });
      }
    }
  });
}

}  // namespace tapegrad::kernels
