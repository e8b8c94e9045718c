// Dropout: random zeros, the kept values scaled up so that the expected output is the input.

#include <tapegrad/autograd/ops.hpp>
#include "autograd/kernels/kernels.hpp"
#include "autograd/ops/op_registry.hpp"
#include "autograd/ops/record.hpp"

namespace tapegrad {

namespace {
// The attributes of dropout: its rate.
struct DropoutAttrs {
  double rate;
  std::string print() const { return fmt::format("rate={}", rate); }
};
}  // namespace

constexpr const char* kDropout = "dropout";
Tensor dropout(const Tensor& x, double rate, Generator& generator) {
  if (!x.defined() || !is_floating(x.dtype())) {
    fail("dropout: x is {}; expected a float32 or float64 tensor",
         x.defined() ? fmt::format("{} {}", x.shape(), dtype_name(x.dtype())) : std::string("undefined"));
  }
  if (!(rate >= 0 && rate < 1)) fail("dropout: rate is {} for x {}; expected 0 <= rate < 1", rate, x.shape());
  if (rate == 0) return x;
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor mask = Tensor::empty(x.shape(), x.dtype());
  kernels::dropout_forward(x, rate, generator, y, mask);
  // The mask (0, or 1 / (1 - rate) where kept) is an input the backward reads; no gradient flows into it.
  return record(
      kDropout, {x, mask}, std::move(y),
      [](const BackwardArgs& args) -> Grads {
        return {args.grad * args.input(1), Tensor{}};
      },
      DropoutAttrs{rate});
}

// The ops defined above, for differentiable_ops().
std::vector<const char*> detail::dropout_ops() { return {kDropout}; }

}  // namespace tapegrad
