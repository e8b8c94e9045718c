#pragma once

// Everything of tapegrad's autograd core: tensors, variables, the tape, the ops, gradcheck, threads,
// anomaly detection, and the version.

#include <tapegrad/autograd/allocator.hpp>
#include <tapegrad/autograd/anomaly.hpp>
#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/gradcheck.hpp>
#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/random.hpp>
#include <tapegrad/autograd/safetensors.hpp>
#include <tapegrad/autograd/shape.hpp>
#include <tapegrad/autograd/tape.hpp>
#include <tapegrad/autograd/tensor.hpp>
#include <tapegrad/autograd/threads.hpp>
#include <tapegrad/autograd/variable.hpp>
#include <tapegrad/version.hpp>
