#pragma once

// Everything of tapegrad's autograd core: tensors, variables, the tape, the ops, gradcheck.

#include "autograd/allocator.hpp"
#include "autograd/error.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "autograd/random.hpp"
#include "autograd/shape.hpp"
#include "autograd/tape.hpp"
#include "autograd/tensor.hpp"
#include "autograd/variable.hpp"
