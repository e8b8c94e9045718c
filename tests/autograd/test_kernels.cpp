// The fast convolution kernels (direct for float32 on AVX-512 where the geometry allows, else im2col and gemm)
// against the reference loops they replace, on odd sizes, in float32 and float64, on every instruction
// set the CPU has, and bit-identical for any number of threads.

#include <tapegrad/autograd/threads.hpp>
#include <tapegrad/tapegrad.hpp>
#include "autograd/kernels/gemm.hpp"
#include "autograd/kernels/kernels.hpp"
#include "autograd/ops/conv_geometry.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

using namespace tapegrad;

namespace {

struct ConvCase {
  std::string label;
  Shape x, kernel;
  Conv2DOptions options;
};

const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases{
      {"1 channel, valid", {1, 7, 9, 1}, {3, 3, 1, 1}, {}},
      {"batch 3, 5 -> 7 channels", {3, 6, 5, 5}, {3, 2, 5, 7}, {}},
      {"stride 2, 'same'", {2, 9, 7, 3}, {3, 3, 3, 4}, {{2, 2}, Padding::same(), {1, 1}}},
      {"strides 3x2, dilation 2, explicit padding",
       {2, 11, 8, 2},
       {2, 3, 2, 3},
       {{3, 2}, Padding::explicit_sides(1, 2, 0, 3), {2, 2}}},
      {"1x1 kernel (the columns are the input)", {2, 4, 5, 6}, {1, 1, 6, 3}, {}},
      {"LeNet's first layer shape, batch 5", {5, 28, 28, 1}, {5, 5, 1, 6}, {{1, 1}, Padding::same(), {1, 1}}},
      {"LeNet's second layer shape, batch 3", {3, 14, 14, 6}, {5, 5, 6, 16}, {}},
      {"many images (several column chunks)", {70, 13, 13, 4}, {3, 3, 4, 5}, {{1, 1}, Padding::same(), {1, 1}}},
      {"dilation 2x3, 'same'", {2, 12, 10, 3}, {3, 3, 3, 5}, {{1, 1}, Padding::same(), {2, 3}}},
      {"padding wider than the kernel (the input gradient crops)",
       {2, 5, 6, 2},
       {2, 2, 2, 3},
       {{1, 1}, Padding::explicit_sides(3, 0, 4, 1), {1, 1}}},
      {"20 -> 35 channels (several channel blocks)", {2, 9, 11, 20}, {3, 3, 20, 35}, {}},
      {"17 -> 9 channels, 'same'", {3, 7, 8, 17}, {3, 2, 17, 9}, {{1, 1}, Padding::same(), {1, 1}}},
      {"one channel, wide rows (several pieces of positions)", {1, 61, 157, 1}, {3, 3, 1, 1}, {}},
      {"4 -> 2 channels, 1xN and Nx1 kernels", {2, 9, 23, 4}, {1, 4, 4, 2}, {}},
      {"batch 2, 2 -> 1 channel, 7x1 kernel, 'same'", {2, 15, 6, 2}, {7, 1, 2, 1}, {{1, 1}, Padding::same(), {1, 1}}},
      {"3 -> 1 channel, dilation 1x2",
       {2, 10, 12, 3},
       {3, 2, 3, 1},
       {{1, 1}, Padding::explicit_sides(2, 1, 0, 3), {1, 2}}},
      {"1 -> 1 channel, 8x3 kernel, dilation 2x1", {1, 30, 9, 1}, {8, 3, 1, 1}, {{1, 1}, Padding::same(), {2, 1}}},
      // Output channels in whole vectors and runs of 8 taps or more: the direct kernel gradient by channels.
      {"16 -> 32 channels, 'same'", {3, 9, 8, 16}, {3, 3, 16, 32}, {{1, 1}, Padding::same(), {1, 1}}},
      {"5 -> 80 channels (two groups of vectors), dilation 2x1", {2, 12, 9, 5}, {3, 2, 5, 80}, {{1, 1}, {}, {2, 1}}},
      {"3 -> 48 channels, dilation 1x2, explicit padding (a run is one tap's channels)",
       {2, 10, 11, 3},
       {2, 3, 3, 48},
       {{1, 1}, Padding::explicit_sides(2, 1, 0, 3), {1, 2}}},
      {"4 -> 16 channels, padding wider than the kernel",
       {2, 5, 6, 4},
       {2, 2, 4, 16},
       {{1, 1}, Padding::explicit_sides(3, 0, 4, 1), {1, 1}}},
      // 6 and 8 output channels (the kernel gradient by planes): a wide kernel row, nine dilated rows.
      {"20 -> 6 channels, 'same'", {2, 7, 9, 20}, {2, 3, 20, 6}, {{1, 1}, Padding::same(), {1, 1}}},
      {"1 -> 8 channels, 9x2 kernel, dilation 2x1", {2, 20, 7, 1}, {9, 2, 1, 8}, {{1, 1}, Padding::same(), {2, 1}}},
      {"many images, 4 -> 16 channels", {70, 9, 9, 4}, {3, 3, 4, 16}, {{1, 1}, Padding::same(), {1, 1}}},
      {"3 -> 16 channels, padding right and below only",
       {2, 7, 6, 3},
       {3, 3, 3, 16},
       {{1, 1}, Padding::explicit_sides(0, 2, 0, 1), {1, 1}}},
      {"8 -> 16 channels, unpadded, dilation 1x3", {2, 9, 12, 8}, {2, 3, 8, 16}, {{1, 1}, {}, {1, 3}}},
      {"3 -> 16 channels, a kernel larger than the image",
       {1, 2, 2, 3},
       {5, 5, 3, 16},
       {{1, 1}, Padding::same(), {1, 1}}},
      // Output channels in whole vectors from 1, 6, 16, 32 or 64 channels: the correlation by channels, forward
      // (and for the input gradient where the input channels fill vectors and the output's are one of those).
      {"1 -> 16 channels, 'same' (ResNet's stem; several pieces of positions)",
       {2, 28, 28, 1},
       {3, 3, 1, 16},
       {{1, 1}, Padding::same(), {1, 1}}},
      {"32 -> 64 channels, 7x7, 'same' (four vectors, blocks of 7 positions)",
       {3, 7, 7, 32},
       {3, 3, 32, 64},
       {{1, 1}, Padding::same(), {1, 1}}},
      {"64 -> 48 channels, 'same' (three vectors)", {2, 6, 9, 64}, {3, 3, 64, 48}, {{1, 1}, Padding::same(), {1, 1}}},
      {"16 -> 80 channels, dilation 2, explicit padding (four vectors, then one)",
       {2, 10, 12, 16},
       {3, 3, 16, 80},
       {{1, 1}, Padding::explicit_sides(1, 2, 3, 0), {2, 2}}},
      {"64 -> 16 channels, unpadded (the image read where it lies)", {2, 8, 9, 64}, {2, 2, 64, 16}, {}},
      {"6 -> 32 channels, padding wider than the kernel",
       {2, 6, 7, 6},
       {2, 2, 6, 32},
       {{1, 1}, Padding::explicit_sides(3, 0, 4, 1), {1, 1}}},
      {"16 -> 16 channels, one row of 28 positions (one block)",
       {1, 1, 28, 16},
       {1, 3, 16, 16},
       {{1, 1}, Padding::same(), {1, 1}}},
      {"16 -> 16 channels, one row of 20 positions (fewer than a block: by planes)",
       {1, 1, 20, 16},
       {1, 3, 16, 16},
       {{1, 1}, Padding::same(), {1, 1}}},
      // 16 output channels on small images: the correlation by channels in square blocks of pixels.
      {"1 -> 16 channels, 7x7 kernel, 10x15 output (square blocks)", {2, 16, 21, 1}, {7, 7, 1, 16}, {}},
      {"32 -> 16 channels, 'same' on 10x10 (square blocks of a padded copy)",
       {2, 10, 10, 32},
       {5, 5, 32, 16},
       {{1, 1}, Padding::same(), {1, 1}}},
      {"64 -> 16 channels, 9x9 kernel, 10x12 output (each row's last square started early)",
       {1, 18, 20, 64},
       {9, 9, 64, 16},
       {}},
      {"16 -> 16 channels, 5x6 kernel, 8x5 output (the last row of squares started early)",
       {2, 12, 10, 16},
       {5, 6, 16, 16},
       {}},
      {"16 -> 16 channels, 3x3 dilated 2, 10x10 output (square blocks)",
       {2, 14, 14, 16},
       {3, 3, 16, 16},
       {{1, 1}, Padding::valid(), {2, 2}}},
      // Input channels in whole vectors and at most 8 output channels: the correlation by input channels,
      // forward (and for the input gradient of 1 to 8 channels from output channels in vectors, above).
      {"16 -> 2 channels, 'same' (blocks of 12 pixels, the last started early)",
       {2, 9, 30, 16},
       {3, 3, 16, 2},
       {{1, 1}, Padding::same(), {1, 1}}},
      {"32 -> 5 channels, dilation 2x1, explicit padding",
       {2, 8, 11, 32},
       {3, 2, 32, 5},
       {{1, 1}, Padding::explicit_sides(2, 0, 1, 3), {2, 1}}},
      {"48 -> 7 channels, unpadded (the image read where it lies)", {2, 6, 9, 48}, {2, 3, 48, 7}, {}},
      {"16 -> 1 channel, one row of 5 pixels (narrower than a block: single pixels)", {1, 3, 7, 16}, {3, 3, 16, 1}, {}},
      {"3 -> 16 channels, padding below and right wider than the kernel (the input gradient crops its input)",
       {2, 6, 7, 3},
       {3, 3, 3, 16},
       {{1, 1}, Padding::explicit_sides(0, 4, 0, 5), {1, 1}}},
      {"2 -> 16 channels, padding 2 around a 3x3 kernel (the input gradient reads dy where it lies)",
       {2, 5, 6, 2},
       {3, 3, 2, 16},
       {{1, 1}, Padding::explicit_sides(2, 2, 2, 2), {1, 1}}},
      // Strides with output channels in vectors: the kernel gradient by channels; the forward by channels
      // too with strides 2 across and rows of at least a block.
      {"3x3 kernel, strides 2, 'same', 32 -> 64 channels (ResNet's third stage, blocks of 7 pixels)",
       {2, 14, 13, 32},
       {3, 3, 32, 64},
       {{2, 2}, Padding::same(), {1, 1}}},
      {"strides 3x2, dilation 1x2, explicit padding, 6 -> 64 channels",
       {2, 16, 30, 6},
       {2, 3, 6, 64},
       {{3, 2}, Padding::explicit_sides(1, 0, 2, 1), {1, 2}}},
      {"strides 2, unpadded, 16 -> 64 channels (the image read where it lies, its last row never read)",
       {2, 16, 31, 16},
       {3, 3, 16, 64},
       {{2, 2}, {}, {1, 1}}},
      {"strides 2, 'same', 6 -> 16 channels (blocks of 28 pixels)",
       {1, 4, 60, 6},
       {3, 3, 6, 16},
       {{2, 2}, Padding::same(), {1, 1}}},
      {"strides 2, 'same', 16 -> 48 channels (blocks of 9 pixels)",
       {2, 6, 20, 16},
       {3, 3, 16, 48},
       {{2, 2}, Padding::same(), {1, 1}}},
      {"3x3 kernel, strides 2, 'same', 16 -> 32 channels (ResNet's second stage, rows one block wide)",
       {3, 28, 27, 16},
       {3, 3, 16, 32},
       {{2, 2}, Padding::same(), {1, 1}}},
      {"strides 2x3, dilation 2, unpadded, 8 -> 16 channels (the image read where it lies)",
       {2, 13, 14, 8},
       {2, 3, 8, 16},
       {{2, 3}, {}, {2, 2}}},
      {"strides 2, unpadded, 16 -> 16 channels (the last row never read)",
       {2, 12, 11, 16},
       {3, 3, 16, 16},
       {{2, 2}, {}, {1, 1}}},
      // A 1x1 kernel with strides: direct on the pixels it reads.
      {"1x1 kernel, strides 2, 16 -> 32 channels (ResNet's shortcut)",
       {3, 14, 14, 16},
       {1, 1, 16, 32},
       {{2, 2}, {}, {1, 1}}},
      {"1x1 kernel, strides 3x2, explicit padding (some pixels read are zeros)",
       {2, 9, 8, 6},
       {1, 1, 6, 16},
       {{3, 2}, Padding::explicit_sides(1, 2, 0, 1), {1, 1}}},
      {"1x1 kernel, strides 2, 'same', 5 -> 3 channels (by planes)",
       {2, 7, 9, 5},
       {1, 1, 5, 3},
       {{2, 2}, Padding::same(), {1, 1}}},
      {"2 -> 1 channel, padding above only (rows as wide as the output)",
       {2, 6, 7, 2},
       {3, 3, 2, 1},
       {{1, 1}, Padding::explicit_sides(4, 0, 0, 0), {1, 1}}},
  };
  return cases;
}

// Largest |a - b| relative to the largest |b|.
double relative_gap(const Tensor& a, const Tensor& b) {
  const auto va = a.to_vector(), vb = b.to_vector();
  double gap = 0, scale = 1e-30;
  for (size_t i = 0; i < va.size(); ++i) {
    gap = std::max(gap, std::abs(va[i] - vb[i]));
    scale = std::max(scale, std::abs(vb[i]));
  }
  return gap / scale;
}

struct Outputs {
  Tensor y, dx, dk;
};

Outputs run(const ConvCase& c, const Tensor& x, const Tensor& k, const Tensor& dy, bool reference) {
  const auto g = detail::geometry(c.x, c.kernel, c.options, "test");
  Outputs out{Tensor::empty(detail::output_shape(g), x.dtype()), Tensor::empty(c.x, x.dtype()),
              Tensor::empty(c.kernel, x.dtype())};
  if (reference) {
    kernels::conv2d_forward_reference(x, k, out.y, g);
    kernels::conv2d_backward_input_reference(dy, k, out.dx, g);
    kernels::conv2d_backward_filter_reference(x, dy, out.dk, g);
  } else {
    kernels::conv2d_forward(x, k, out.y, g);
    kernels::conv2d_backward_input(dy, k, out.dx, g);
    kernels::conv2d_backward_filter(x, dy, out.dk, g);
  }
  return out;
}

}  // namespace

TEST_CASE("conv2d kernels: direct, and im2col and gemm, against the reference loops") {
  for (const kernels::GemmIsa isa : {kernels::GemmIsa::automatic, kernels::GemmIsa::avx2, kernels::GemmIsa::portable}) {
    if (!kernels::gemm_isa_supported(isa)) continue;
    kernels::force_gemm_isa(isa);
    for (const DType dtype : {DType::float32, DType::float64}) {
      const double tolerance = dtype == DType::float32 ? 2e-5 : 1e-12;
      Generator generator(21);
      for (const ConvCase& c : conv_cases()) {
        INFO(c.label, ", ", dtype_name(dtype), ", ", kernels::gemm_isa_name(isa));
        const Tensor x = random_normal(c.x, generator, 0, 1, dtype);
        const Tensor k = random_normal(c.kernel, generator, 0, 1, dtype);
        const auto g = detail::geometry(c.x, c.kernel, c.options, "test");
        const Tensor dy = random_normal(detail::output_shape(g), generator, 0, 1, dtype);
        const Outputs fast = run(c, x, k, dy, false), reference = run(c, x, k, dy, true);
        CHECK(relative_gap(fast.y, reference.y) < tolerance);
        CHECK(relative_gap(fast.dx, reference.dx) < tolerance);
        CHECK(relative_gap(fast.dk, reference.dk) < tolerance);
      }
    }
  }
  kernels::force_gemm_isa(kernels::GemmIsa::automatic);
}

TEST_CASE("conv2d kernels: the same bits with 1 thread, 2 and 3") {
  const int threads = num_threads();
  Generator generator(22);
  std::vector<ConvCase> cases = conv_cases();
  // Big enough that the direct kernels run on several threads, with several groups of images.
  cases.push_back(
      {"batch 16, 16 -> 32 channels, 'same'", {16, 28, 28, 16}, {3, 3, 16, 32}, {{1, 1}, Padding::same(), {1, 1}}});
  cases.push_back({"batch 32, LeNet's second layer (unpadded)", {32, 14, 14, 6}, {5, 5, 6, 16}, {}});
  cases.push_back({"batch 16, 16 -> 32 channels, strides 2, 'same' (ResNet's second stage)",
                   {16, 28, 28, 16},
                   {3, 3, 16, 32},
                   {{2, 2}, Padding::same(), {1, 1}}});
  cases.push_back({"batch 16, 1x1 kernel, 16 -> 32 channels, strides 2 (ResNet's shortcut)",
                   {16, 28, 28, 16},
                   {1, 1, 16, 32},
                   {{2, 2}, {}, {1, 1}}});
  for (const ConvCase& c : cases) {
    INFO(c.label);
    const Tensor x = random_normal(c.x, generator);
    const Tensor k = random_normal(c.kernel, generator);
    const auto g = detail::geometry(c.x, c.kernel, c.options, "test");
    const Tensor dy = random_normal(detail::output_shape(g), generator);
    set_num_threads(1);
    const Outputs one = run(c, x, k, dy, false);
    for (const int threads_now : {2, 3}) {
      set_num_threads(threads_now);
      const Outputs many = run(c, x, k, dy, false);
      CHECK(one.y.to_vector() == many.y.to_vector());
      CHECK(one.dx.to_vector() == many.dx.to_vector());
      CHECK(one.dk.to_vector() == many.dk.to_vector());
    }
  }
  set_num_threads(threads);
}

TEST_CASE("corr2d_small: the book's plain loops against the conv2d reference") {
  const std::vector<std::pair<Shape, Shape>> cases{{{6, 8}, {1, 2}},
                                                   {{6, 8}, {6, 7}},
                                                   {{5, 5}, {5, 5}},
                                                   {{7, 9}, {3, 2}},
                                                   {{1, 4}, {1, 1}},
                                                   // rows of 8 outputs at a time plus each remainder length
                                                   {{4, 20}, {2, 3}},
                                                   {{3, 17}, {1, 1}},
                                                   {{2, 15}, {2, 1}},
                                                   {{3, 14}, {3, 2}},
                                                   {{2, 12}, {1, 2}},
                                                   {{2, 9}, {2, 4}}};
  for (const DType dtype : {DType::float32, DType::float64}) {
    Generator generator(23);
    for (const auto& shapes : cases) {
      // Named references, not a structured binding: INFO's lambda cannot capture one under clang's OpenMP.
      const Shape& x_shape = shapes.first;
      const Shape& k_shape = shapes.second;
      INFO(x_shape.str(), " with ", k_shape.str(), ", ", dtype_name(dtype));
      const Tensor x = random_normal(x_shape, generator, 0, 1, dtype);
      const Tensor k = random_normal(k_shape, generator, 0, 1, dtype);
      const Shape out{x_shape[0] - k_shape[0] + 1, x_shape[1] - k_shape[1] + 1};
      const Tensor small = Tensor::empty(out, dtype), reference = Tensor::empty(out, dtype);
      kernels::corr2d_small(x, k, small);
      const auto g = detail::geometry({1, x_shape[0], x_shape[1], 1}, {k_shape[0], k_shape[1], 1, 1}, {}, "test");
      kernels::conv2d_forward_reference(x, k, reference, g);
      // Both add each output's taps in row-major order: the same bits.
      CHECK(small.to_vector() == reference.to_vector());
    }
  }
}

TEST_CASE("conv2d kernels: images too big for one chunk of planes") {
  // 600x600 planes are 1.4 MiB a channel: the direct kernels take these images a few at a time.
  const ConvCase c{"6 big images", {6, 600, 600, 1}, {3, 3, 1, 2}, {{1, 1}, Padding::same(), {1, 1}}};
  Generator generator(23);
  const Tensor x = random_normal(c.x, generator);
  const Tensor k = random_normal(c.kernel, generator);
  const auto g = detail::geometry(c.x, c.kernel, c.options, "test");
  const Tensor dy = random_normal(detail::output_shape(g), generator);
  const Outputs fast = run(c, x, k, dy, false), reference = run(c, x, k, dy, true);
  CHECK(relative_gap(fast.y, reference.y) < 2e-5);
  CHECK(relative_gap(fast.dx, reference.dx) < 2e-5);
  // A sum over 2 million pixels: float32 rounding grows with its length.
  CHECK(relative_gap(fast.dk, reference.dk) < 1e-3);
}
