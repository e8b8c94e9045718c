#include "autograd/ops/op_registry.hpp"

#include <tapegrad/autograd/ops.hpp>

namespace tapegrad {

namespace {
std::vector<std::string>& registry() {
  static std::vector<std::string> names;
  return names;
}
}  // namespace

const char* detail::register_op(const char* name) {
  registry().emplace_back(name);
  return name;
}

void detail::check_backprop_inputs(const Tensor& dy, const Tensor& t, const char* op, const char* name) {
  if (dy.shape() != t.shape() || dy.dtype() != t.dtype() || !is_floating(t.dtype())) {
    fail("{}: gradient {} {} and {} {} {}; expected one shape and one float dtype", op, dy.shape(),
         dtype_name(dy.dtype()), name, t.shape(), dtype_name(t.dtype()));
  }
}

const std::vector<std::string>& differentiable_ops() { return registry(); }

}  // namespace tapegrad
