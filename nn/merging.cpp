#include <tapegrad/nn/merging.hpp>

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tapegrad::nn {

Add::Add(std::string name) : Module("add", std::move(name)) {}

Tensor Add::operator()(const std::vector<Tensor>& inputs, std::optional<bool> training) {
  if (inputs.size() < 2) fail("{}: got {} inputs; expected a list of at least 2 tensors to add", name(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) fail("{}: input {} is undefined", name(), i);
    if (inputs[i].shape() != inputs[0].shape() || inputs[i].dtype() != inputs[0].dtype()) {
      fail("{}: input {} is {} {} but input 0 is {} {}; expected one shape and dtype (a shortcut that changes the "
           "shape needs a projection, such as a 1x1 Conv2D with strides)",
           name(), i, inputs[i].shape(), dtype_name(inputs[i].dtype()), inputs[0].shape(),
           dtype_name(inputs[0].dtype()));
    }
  }
  return run_call(inputs[0], training, [&] {
    Tensor sum = inputs[0] + inputs[1];
    for (size_t i = 2; i < inputs.size(); ++i) sum = sum + inputs[i];
    return sum;
  });
}

Tensor Add::call(const Tensor& x) {
  fail("{}: called with one tensor {}; Add takes a list of at least 2, as add({{a, b}})", name(), x.shape());
}

}  // namespace tapegrad::nn
