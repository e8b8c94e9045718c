#pragma once

// What the backward sweep (tape.cpp) prints for a traced step; defined in tape_printing.cpp.

#include "autograd/ops/record.hpp"

#include <span>
#include <string>

namespace tapegrad::detail {

/// The trace of entry `e`'s backward step: the upstream gradient, then each input's gradient (or
/// "(not needed)").
std::string trace_line(const GradientTape& tape, size_t e, const Tensor& upstream, const Grads& grads,
                       std::span<const char> needed);

}  // namespace tapegrad::detail
