#pragma once

namespace tapegrad::detail {

/// Adds `name` to `differentiable_ops()` and returns it; each op definition calls it once, at
/// static initialisation, right next to the op: `const char* const kExp = register_op("exp");`
const char* register_op(const char* name);

}  // namespace tapegrad::detail
