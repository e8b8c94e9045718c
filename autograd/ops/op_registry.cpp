#include "autograd/ops/op_registry.hpp"

#include "autograd/detail/checked.hpp"

#include <tapegrad/autograd/ops.hpp>

namespace tapegrad {

void detail::check_backprop_inputs(const Tensor& dy, const Tensor& t, const char* op, const char* name) {
  check_defined(op, {dy, t});
  if (dy.shape() != t.shape() || dy.dtype() != t.dtype() || !is_floating(t.dtype())) {
    fail("{}: gradient {} {} and {} {} {}; expected one shape and one float dtype", op, dy.shape(),
         dtype_name(dy.dtype()), name, t.shape(), dtype_name(t.dtype()));
  }
}

const std::vector<std::string>& differentiable_ops() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all;
    for (auto* family : {detail::elementwise_ops, detail::activation_ops, detail::reduce_ops, detail::shape_ops,
                         detail::index_ops, detail::linalg_ops, detail::loss_ops, detail::conv_ops, detail::pool_ops,
                         detail::normalization_ops, detail::dropout_ops}) {
      for (const char* name : family()) all.emplace_back(name);
    }
    return all;
  }();
  return names;
}

}  // namespace tapegrad
