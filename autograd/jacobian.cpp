// GradientTape::jacobian and batch_jacobian: one backward sweep per element (or per column) of the
// target, each seeded with an indicator tensor.

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/tape.hpp>

#include <span>
#include <vector>

namespace tapegrad {

namespace {
// A tensor of `shape` that is 1 at the flat positions `ones`, else 0.
Tensor indicator(const Shape& shape, DType dtype, std::span<const int64_t> ones) {
  std::vector<double> values(static_cast<size_t>(shape.numel()), 0.0);
  for (int64_t i : ones) values[static_cast<size_t>(i)] = 1.0;
  return Tensor(values, shape, dtype);
}

Tensor gradient_or_zeros(const Tensor& grad, const Source& source) {
  return grad.defined() ? grad : zeros(source.shape(), source.dtype());
}
}  // namespace

Tensor GradientTape::jacobian(const Tensor& target, const Source& source, UnconnectedGradients unconnected) {
  begin_gradient(target, {&source, 1}, {}, "jacobian");
  std::vector<Tensor> rows;
  bool connected = false;
  for (int64_t i = 0; i < target.numel(); ++i) {
    GradientOptions seeded;
    seeded.output_gradients = indicator(target.shape(), target.dtype(), std::span<const int64_t>(&i, 1));
    Tensor row;
    compute(target, {&source, 1}, seeded, {&row, 1});
    connected = connected || row.defined();
    rows.push_back(reshape(gradient_or_zeros(row, source), Shape{source.shape().numel()}));
  }
  if (!connected && unconnected == UnconnectedGradients::none) return {};
  Shape shape = target.shape();
  for (int64_t d : source.shape().dims()) shape.push_back(d);
  if (rows.empty()) return zeros(shape, source.dtype());
  return reshape(stack(rows), shape);
}

Tensor GradientTape::batch_jacobian(const Tensor& target, const Source& source, UnconnectedGradients unconnected) {
  begin_gradient(target, {&source, 1}, {}, "batch_jacobian");
  const Shape& ts = target.shape();
  const Shape& ss = source.shape();
  if (ts.rank() < 1 || ss.rank() < 1 || ts[0] != ss[0]) {
    fail("GradientTape::batch_jacobian: target {} and source {}; expected one batch size on the first axis", ts, ss);
  }
  const int64_t batch = ts[0];
  const int64_t per_target = batch == 0 ? 0 : ts.numel() / batch, per_source = batch == 0 ? 0 : ss.numel() / batch;
  std::vector<Tensor> columns;
  bool connected = false;
  for (int64_t j = 0; j < per_target; ++j) {
    std::vector<int64_t> positions;
    for (int64_t b = 0; b < batch; ++b) positions.push_back(b * per_target + j);
    GradientOptions seeded;
    seeded.output_gradients = indicator(ts, target.dtype(), positions);
    Tensor grad;
    compute(target, {&source, 1}, seeded, {&grad, 1});
    connected = connected || grad.defined();
    columns.push_back(reshape(gradient_or_zeros(grad, source), Shape{batch, per_source}));
  }
  if (!connected && unconnected == UnconnectedGradients::none) return {};
  Shape shape{batch};
  for (int k = 1; k < ts.rank(); ++k) shape.push_back(ts[k]);
  for (int k = 1; k < ss.rank(); ++k) shape.push_back(ss[k]);
  if (columns.empty()) return zeros(shape, source.dtype());
  return reshape(stack(columns, 1), shape);
}

}  // namespace tapegrad
