// Matrix products.

#include <tapegrad/autograd/ops.hpp>
#include "autograd/detail/checked.hpp"
#include "autograd/kernels/kernels.hpp"
#include "autograd/ops/op_registry.hpp"
#include "autograd/ops/record.hpp"

namespace tapegrad {

namespace {

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

// matmul's attributes, recorded where it reads an operand transposed (a plain product has none).
struct MatmulAttrs {
  bool transpose_a = false, transpose_b = false;
  std::string print() const {
    return transpose_a && transpose_b ? "transpose_a=true, transpose_b=true"
           : transpose_a              ? "transpose_a=true"
                                      : "transpose_b=true";
  }
};

// dA and dB of op(A) op(B): transposed products again (TensorFlow's MatMul gradients).
Grads matmul_gradients(const BackwardArgs& args, bool ta, bool tb) {
  const Tensor &a = args.input(0), &b = args.input(1), &g = args.grad;
  Tensor da, db;
  if (args.needs(0)) {
    da = !ta ? matmul(g, b, {.transpose_a = false, .transpose_b = !tb})  // dC op(B)^T
             : matmul(b, g, {.transpose_a = tb, .transpose_b = true});   // (dC op(B)^T)^T = op(B) dC^T
  }
  if (args.needs(1)) {
    db = !tb ? matmul(a, g, {.transpose_a = !ta, .transpose_b = false})  // op(A)^T dC
             : matmul(g, a, {.transpose_a = true, .transpose_b = ta});   // (op(A)^T dC)^T = dC^T op(A)
  }
  return {da, db};
}

}  // namespace

constexpr const char* kMatmul = "matmul";
Tensor matmul(const Tensor& a, const Tensor& b) { return matmul(a, b, MatmulOptions{}); }

Tensor matmul(const Tensor& a, const Tensor& b, const MatmulOptions& options) {
  detail::check_defined(kMatmul, {a, b});
  if (a.rank() == 0 || b.rank() == 0)
    fail("matmul: operands {} and {}; expected at least one axis each", a.shape(), b.shape());
  const bool ta = options.transpose_a, tb = options.transpose_b;
  if ((ta && a.rank() < 2) || (tb && b.rank() < 2)) {
    fail("matmul: {} a {} @ b {}; expected a transposed operand of rank 2 or more (its last two axes swap)",
         ta && a.rank() < 2 ? "transpose_a of" : "transpose_b of", a.shape(), b.shape());
  }
  // NumPy's vector rules: a 1-d left operand is a row, a 1-d right operand a column, removed after.
  if (a.rank() == 1 && b.rank() == 1) return reshape(matmul(expand_dims(a, 0), expand_dims(b, 1)), Shape{});
  if (a.rank() == 1) return squeeze(matmul(expand_dims(a, 0), b, options), {-2});
  if (b.rank() == 1) return squeeze(matmul(a, expand_dims(b, 1), options), {-1});
  if (a.dtype() != b.dtype()) {
    fail("matmul: {} {} @ {} {}; expected one dtype", a.shape(), dtype_name(a.dtype()), b.shape(),
         dtype_name(b.dtype()));
  }
  const int64_t m = a.shape()[ta ? -1 : -2], k = a.shape()[ta ? -2 : -1];
  const int64_t b_k = b.shape()[tb ? -1 : -2], n = b.shape()[tb ? -2 : -1];
  if (b_k != k) {
    fail("matmul: {}{} @ {}{}: a's {} axis ({}) must equal b's {} ({})", a.shape(), ta ? " transposed" : "", b.shape(),
         tb ? " transposed" : "", ta ? "second-to-last" : "last", k, tb ? "last axis" : "second-to-last", b_k);
  }
  const Shape batch = broadcast_shapes(batch_of(a.shape()), batch_of(b.shape()), kMatmul);
  std::vector<int64_t> dims(batch.dims().begin(), batch.dims().end());
  dims.push_back(m);
  dims.push_back(n);
  const Shape out = detail::checked_shape(dims, kMatmul);
  Tensor c = Tensor::empty(out, a.dtype());
  kernels::matmul(a, b, c, batch.numel(), m, k, n, batch_offsets(a.shape(), batch), batch_offsets(b.shape(), batch), ta,
                  tb);
  // Broadcast batch axes are summed back to each operand's shape by the tape.
  if (!ta && !tb) {
    return record(kMatmul, {a, b}, std::move(c),
                  [](const BackwardArgs& args) { return matmul_gradients(args, false, false); });
  }
  return record(
      kMatmul, {a, b}, std::move(c),
      [](const BackwardArgs& args) {
        const auto& attrs = args.attrs<MatmulAttrs>();
        return matmul_gradients(args, attrs.transpose_a, attrs.transpose_b);
      },
      MatmulAttrs{ta, tb});
}

// The ops defined above, for differentiable_ops().
std::vector<const char*> detail::linalg_ops() { return {kMatmul}; }

}  // namespace tapegrad
