#pragma once

#include <vector>

namespace tapegrad {
class Tensor;
}

namespace tapegrad::detail {

/// The names of the ops each file of autograd/ops/ defines, listed at the end of that file (the name
/// itself is a constant next to its op: `constexpr const char* kExp = "exp";`). differentiable_ops()
/// calls these: registration is a call, not a static initialiser, so a program links only the op files
/// it uses. An op missing from its file's list fails the gradcheck registry test.
std::vector<const char*> activation_ops();
std::vector<const char*> conv_ops();
std::vector<const char*> dropout_ops();
std::vector<const char*> elementwise_ops();
std::vector<const char*> index_ops();
std::vector<const char*> linalg_ops();
std::vector<const char*> loss_ops();
std::vector<const char*> normalization_ops();
std::vector<const char*> pool_ops();
std::vector<const char*> reduce_ops();
std::vector<const char*> shape_ops();

/// A fused gradient op's inputs: the upstream gradient and the forward's `name` tensor, of one shape
/// and one float dtype; anything else is an error of `op`.
void check_backprop_inputs(const Tensor& dy, const Tensor& t, const char* op, const char* name);

}  // namespace tapegrad::detail
