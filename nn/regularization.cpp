#include <tapegrad/nn/regularization.hpp>

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tapegrad::nn {

Dropout::Dropout(double rate, std::optional<uint64_t> seed, std::string name)
    : Module("dropout", std::move(name), DType::float32, seed), rate_(rate) {
  if (!(rate >= 0 && rate < 1)) fail("{}: rate is {}; expected 0 <= rate < 1", this->name(), rate);
}

Tensor Dropout::call(const Tensor& x) {
  if (!is_floating(x.dtype())) {
    fail("{}: input is {} {}, expected float32 or float64", name(), x.shape(), dtype_name(x.dtype()));
  }
  return training() ? dropout(x, rate_, generator()) : x;
}

}  // namespace tapegrad::nn
