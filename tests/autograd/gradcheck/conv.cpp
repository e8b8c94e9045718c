// The convolutions of autograd/ops/conv.cpp: the chapter's corr2d, and conv2d with its two gradient ops
// over strides, dilations and paddings.

#include "tests/autograd/gradcheck/registry.hpp"

#include <tapegrad/tapegrad.hpp>

#include <array>
#include <string>
#include <vector>

namespace tapegrad::testing {

namespace {

// The output shape of conv2d(x, kernel, options), computed by running it once.
Shape conv_output_shape(const Shape& x, const Shape& kernel, const Conv2DOptions& options) {
  return conv2d(zeros(x, DType::float64), zeros(kernel, DType::float64), options).shape();
}

}  // namespace

void add_conv_cases(Registry& r) {
  // The chapter's cross-correlation.
  r.add("corr2d", "3x3 with 2x2", {{{3, 3}}, {{2, 2}}}, [](const Inputs& x) { return corr2d(x[0], x[1]); });
  r.add("corr2d", "6x8 with 1x2", {{{6, 8}}, {{1, 2}}}, [](const Inputs& x) { return corr2d(x[0], x[1]); });
  r.add("corr2d", "5x4 with 3x3", {{{5, 4}}, {{3, 3}}}, [](const Inputs& x) { return corr2d(x[0], x[1]); });
  r.add("corr2d", "kernel as large as the input", {{{4, 3}}, {{4, 3}}},
        [](const Inputs& x) { return corr2d(x[0], x[1]); });
  r.add("corr2d", "1x5 with 1x1", {{{1, 5}}, {{1, 1}}}, [](const Inputs& x) { return corr2d(x[0], x[1]); });
  r.add(
      "corr2d", "magnitude 1e3", {{{4, 4}}, {{2, 3}}}, [](const Inputs& x) { return corr2d(x[0], x[1]); }, 1e3);
  r.add(
      "corr2d", "magnitude 1e-3", {{{4, 4}}, {{2, 3}}}, [](const Inputs& x) { return corr2d(x[0], x[1]); }, 1e-3);

  // Batched convolution and its two gradient ops, over strides, dilations and paddings.
  struct ConvShape {
    std::string label;
    Shape x, kernel;
    Conv2DOptions options;
  };
  const std::vector<ConvShape> conv_shapes{
      {"1 channel, valid", {1, 5, 5, 1}, {3, 3, 1, 1}, {}},
      {"batch 2, 3 in, 4 out channels", {2, 6, 5, 3}, {3, 2, 3, 4}, {}},
      {"stride 2",
       {2, 7, 7, 2},
       {3, 3, 2, 2},
       Conv2DOptions{.strides = {2, 2}, .padding = Padding::valid(), .dilation_rate = {1, 1}}},
      {"strides 3 and 2, uneven fit",
       {1, 8, 7, 1},
       {2, 2, 1, 2},
       Conv2DOptions{.strides = {3, 2}, .padding = Padding::valid(), .dilation_rate = {1, 1}}},
      {"dilation 2",
       {1, 7, 6, 2},
       {2, 2, 2, 3},
       Conv2DOptions{.strides = {1, 1}, .padding = Padding::valid(), .dilation_rate = {2, 2}}},
      {"'same', stride 1",
       {2, 5, 4, 2},
       {3, 2, 2, 2},
       Conv2DOptions{.strides = {1, 1}, .padding = Padding::same(), .dilation_rate = {1, 1}}},
      {"'same', stride 2, odd padding",
       {1, 6, 6, 1},
       {3, 3, 1, 2},
       Conv2DOptions{.strides = {2, 2}, .padding = Padding::same(), .dilation_rate = {1, 1}}},
      {"explicit padding 1, 0, 2, 1",
       {1, 4, 5, 2},
       {3, 3, 2, 1},
       Conv2DOptions{.strides = {1, 1}, .padding = Padding::explicit_sides(1, 0, 2, 1), .dilation_rate = {1, 1}}},
      {"stride 2, dilation 2, 'same'",
       {2, 7, 6, 1},
       {2, 3, 1, 2},
       Conv2DOptions{.strides = {2, 2}, .padding = Padding::same(), .dilation_rate = {2, 2}}},
      {"1x1 kernel, 3 to 2 channels", {2, 3, 3, 3}, {1, 1, 3, 2}, {}},
  };
  for (const ConvShape& c : conv_shapes) {
    const Conv2DOptions options = c.options;
    const Shape x_shape = c.x, kernel_shape = c.kernel;
    const Shape y_shape = conv_output_shape(x_shape, kernel_shape, options);
    r.add("conv2d", c.label, {{x_shape}, {kernel_shape}},
          [options](const Inputs& x) { return conv2d(x[0], x[1], options); });
    r.add("conv2d_backprop_input", c.label, {{y_shape}, {kernel_shape}},
          [options, x_shape](const Inputs& x) { return conv2d_backprop_input(x[0], x[1], x_shape, options); });
    r.add("conv2d_backprop_filter", c.label, {{x_shape}, {y_shape}}, [options, kernel_shape](const Inputs& x) {
      return conv2d_backprop_filter(x[0], x[1], kernel_shape, options);
    });
  }
  // The fused op: each activation, stride 1 and 2. (float64 takes the gemm path; test_ops_forward.cpp
  // checks the direct path's bits against the unfused ops.)
  for (const Activation activation : {Activation::linear, Activation::relu, Activation::sigmoid}) {
    const std::string name = activation_name(activation);
    r.add("conv2d_bias_activation", name + ", 'same', 2 to 3 channels", {{{2, 5, 4, 2}}, {{3, 3, 2, 3}}, {{3}}},
          [activation](const Inputs& x) {
            return conv2d_bias_activation(x[0], x[1], x[2], activation, {.padding = Padding::same()});
          });
    r.add(
        "conv2d_bias_activation", name + ", stride 2", {{{1, 7, 7, 2}}, {{3, 3, 2, 2}}, {{2}}},
        [activation](const Inputs& x) { return conv2d_bias_activation(x[0], x[1], x[2], activation, {.strides = 2}); });
  }
  r.add(
      "conv2d", "magnitude 1e3", {{{1, 4, 4, 2}}, {{2, 2, 2, 2}}}, [](const Inputs& x) { return conv2d(x[0], x[1]); },
      1e3);
  r.add(
      "conv2d", "magnitude 1e-3", {{{1, 4, 4, 2}}, {{2, 2, 2, 2}}}, [](const Inputs& x) { return conv2d(x[0], x[1]); },
      1e-3);
}

}  // namespace tapegrad::testing
