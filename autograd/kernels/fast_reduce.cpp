// Fast sums: reduce_sum takes one pass over x viewed as (outer, inner) when the reduced axes are all
// leading (a bias's gradient) or all trailing, adding in the order of reduce_sum_reference
// (reference.cpp), so the bits are the reference's; other axis sets run the reference.

#include "autograd/kernels/constant_count.hpp"
#include "autograd/kernels/kernels.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace tapegrad::kernels {

namespace {

// Sums over leading axes with at most this many slots keep them in registers.
constexpr int kRegisterSums = 16;

// The sums of x viewed as (outer, inner) when the reduced axes all come before the kept ones
// (`reduce_outer`: a bias's gradient, summed over batch and pixels) or all after them, in the
// order reduce_into adds: each slot's elements in row-major order. Nothing when the axes interleave.
template <typename T>
std::optional<Tensor> reduce_sum_contiguous(const Tensor& x, const std::array<bool, Shape::kMaxRank>& reduce) {
  const Shape& shape = x.shape();
  const int rank = shape.rank();
  int split = 0;
  const bool reduce_outer = rank > 0 && reduce[0];
  while (split < rank && reduce[split] == reduce_outer) ++split;
  for (int k = split; k < rank; ++k) {
    if (reduce[k] == reduce_outer) return std::nullopt;
  }
  int64_t outer = 1, inner = 1;
  Shape out_shape;
  for (int k = 0; k < rank; ++k) {
    (k < split ? outer : inner) *= shape.dims()[k];
    out_shape.push_back(reduce[k] ? 1 : shape.dims()[k]);
  }
  const T* in = x.data<T>().data();
  Tensor out = Tensor::empty(out_shape, x.dtype());
  T* result = out.mutable_data<T>();
  if (reduce_outer && inner <= kRegisterSums) {
    // A few sums (a small layer's bias): each in a register, where a vector of them would put a store and
    // a load in every addition's chain. Each sum still adds its rows in order.
    with_count<kRegisterSums>(inner, [&]<int kInner>() {
      double acc[kInner];
#pragma GCC unroll 16
      for (int i = 0; i < kInner; ++i) acc[i] = 0.0;
      for (int64_t o = 0; o < outer; ++o) {
        const T* row = in + o * kInner;
#pragma GCC unroll 16
        for (int i = 0; i < kInner; ++i) acc[i] += static_cast<double>(row[i]);
      }
#pragma GCC unroll 16
      for (int i = 0; i < kInner; ++i) result[i] = static_cast<T>(acc[i]);
    });
  } else if (reduce_outer) {
    std::vector<double> acc(static_cast<size_t>(inner), 0.0);
    for (int64_t o = 0; o < outer; ++o) {
      const T* row = in + o * inner;
      for (int64_t i = 0; i < inner; ++i) acc[static_cast<size_t>(i)] += static_cast<double>(row[i]);
    }
    for (int64_t i = 0; i < inner; ++i) result[i] = static_cast<T>(acc[static_cast<size_t>(i)]);
  } else {
    for (int64_t o = 0; o < outer; ++o) {
      double total = 0.0;
      for (int64_t i = 0; i < inner; ++i) total += static_cast<double>(in[o * inner + i]);
      result[o] = static_cast<T>(total);
    }
  }
  return out;
}

}  // namespace

Tensor reduce_sum(const Tensor& x, const std::array<bool, Shape::kMaxRank>& reduce) {
  std::optional<Tensor> fast =
      dispatch_floating(x.dtype(), "sum", [&]<typename T>() { return reduce_sum_contiguous<T>(x, reduce); });
  return fast ? std::move(*fast) : reduce_sum_reference(x, reduce);
}

}  // namespace tapegrad::kernels
