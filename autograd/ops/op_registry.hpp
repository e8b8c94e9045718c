#pragma once

namespace tapegrad {
class Tensor;
}

namespace tapegrad::detail {

/// Adds `name` to `differentiable_ops()` and returns it; each op definition calls it once, at
/// static initialisation, right next to the op: `const char* const kExp = register_op("exp");`
const char* register_op(const char* name);

/// A fused gradient op's inputs: the upstream gradient and the forward's `name` tensor, of one shape
/// and one float dtype; anything else is an error of `op`.
void check_backprop_inputs(const Tensor& dy, const Tensor& t, const char* op, const char* name);

}  // namespace tapegrad::detail
