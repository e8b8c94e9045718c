#pragma once

// Shape logic shared by the windowed ops (convolution and pooling); defined in ops/conv.cpp.

#include <tapegrad/autograd/ops.hpp>
#include "autograd/kernels/kernels.hpp"

namespace tapegrad::detail {

/// Throws unless a and b share one float dtype; a_name and b_name say which argument is which.
void check_pair(const Tensor& a, const Tensor& b, const char* op, const char* a_name, const char* b_name);
/// Resolves sizes, strides and padding of an NHWC input and an HWIO kernel (or window).
kernels::ConvGeometry geometry(const Shape& input, const Shape& kernel, const Conv2DOptions& options, const char* op);
/// (batch, out height, out width, out channels).
Shape output_shape(const kernels::ConvGeometry& geom);
/// Throws unless dy has the output shape of geom.
void check_upstream(const Tensor& dy, const kernels::ConvGeometry& geom, const char* op);

}  // namespace tapegrad::detail
