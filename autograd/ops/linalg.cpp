// Matrix products.

#include <tapegrad/autograd/ops.hpp>
#include "autograd/detail/checked.hpp"
#include "autograd/kernels/kernels.hpp"
#include "autograd/ops/op_registry.hpp"
#include "autograd/ops/record.hpp"

namespace tapegrad {

namespace {

// x with its last two axes swapped.
Tensor swap_last_two(const Tensor& x) {
  std::vector<int> permutation(static_cast<size_t>(x.rank()));
  for (int k = 0; k < x.rank(); ++k) permutation[static_cast<size_t>(k)] = k;
  std::swap(permutation[permutation.size() - 1], permutation[permutation.size() - 2]);
  return transpose(x, permutation);
}

// The leading (batch) axes of a shape, all but the last two.
Shape batch_of(const Shape& shape) { return Shape(shape.dims().first(static_cast<size_t>(shape.rank() - 2))); }

// Where each batch's matrix starts in x, for x's batch axes broadcast to `batch`.
std::vector<int64_t> batch_offsets(const Shape& shape, const Shape& batch) {
  const int64_t matrix = shape[-2] * shape[-1];
  const Shape own = batch_of(shape);
  const kernels::StridedView view = kernels::broadcast_view(own, batch);
  std::vector<int64_t> offsets;
  offsets.reserve(static_cast<size_t>(batch.numel()));
  std::array<int64_t, Shape::kMaxRank> index{};
  for (int64_t i = 0; i < batch.numel(); ++i) {
    int64_t offset = 0;
    for (int k = 0; k < batch.rank(); ++k) offset += index[k] * view.strides[k];
    offsets.push_back(offset * matrix);
    for (int k = batch.rank() - 1; k >= 0; --k) {
      if (++index[k] < batch.dims()[k]) break;
      index[k] = 0;
    }
  }
  return offsets;
}

}  // namespace

constexpr const char* kMatmul = "matmul";
Tensor matmul(const Tensor& a, const Tensor& b) {
  detail::check_defined(kMatmul, {a, b});
  if (a.rank() == 0 || b.rank() == 0)
    fail("matmul: operands {} and {}; expected at least one axis each", a.shape(), b.shape());
  // NumPy's vector rules: a 1-d left operand is a row, a 1-d right operand a column, removed after.
  if (a.rank() == 1 && b.rank() == 1) return reshape(matmul(expand_dims(a, 0), expand_dims(b, 1)), Shape{});
  if (a.rank() == 1) return squeeze(matmul(expand_dims(a, 0), b), {-2});
  if (b.rank() == 1) return squeeze(matmul(a, expand_dims(b, 1)), {-1});
  if (a.dtype() != b.dtype()) {
    fail("matmul: {} {} @ {} {}; expected one dtype", a.shape(), dtype_name(a.dtype()), b.shape(),
         dtype_name(b.dtype()));
  }
  const int64_t m = a.shape()[-2], k = a.shape()[-1], n = b.shape()[-1];
  if (b.shape()[-2] != k) {
    fail("matmul: {} @ {}: a's last axis ({}) must equal b's second-to-last ({})", a.shape(), b.shape(), k,
         b.shape()[-2]);
  }
  const Shape batch = broadcast_shapes(batch_of(a.shape()), batch_of(b.shape()), kMatmul);
  std::vector<int64_t> dims(batch.dims().begin(), batch.dims().end());
  dims.push_back(m);
  dims.push_back(n);
  const Shape out = detail::checked_shape(dims, kMatmul);
  Tensor c = Tensor::empty(out, a.dtype());
  kernels::matmul(a, b, c, batch.numel(), m, k, n, batch_offsets(a.shape(), batch), batch_offsets(b.shape(), batch));
  // Broadcast batch axes are summed back to each operand's shape by the tape.
  return record(kMatmul, {a, b}, std::move(c), [](const BackwardArgs& args) -> Grads {
    return {args.needs(0) ? matmul(args.grad, swap_last_two(args.input(1))) : Tensor{},
            args.needs(1) ? matmul(swap_last_two(args.input(0)), args.grad) : Tensor{}};
  });
}

// The ops defined above, for differentiable_ops().
std::vector<const char*> detail::linalg_ops() { return {kMatmul}; }

}  // namespace tapegrad
