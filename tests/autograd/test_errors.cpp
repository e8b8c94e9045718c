// Bad input: every case throws tapegrad::Error, whose message names the op, the shapes and what
// was expected (a learner reads these).

#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>

#include <vector>

using namespace tapegrad;
using doctest::Contains;

TEST_CASE("errors: the fused gradient ops") {
  CHECK_THROWS_WITH_AS(
      sigmoid_backprop(ones({2, 3}), ones({3, 2})),
      "sigmoid_backprop: gradient 2x3 float32 and output 3x2 float32; expected one shape and one float dtype", Error);
  CHECK_THROWS_WITH_AS(relu_backprop(ones({4}), ones({4}, DType::float64)),
                       "relu_backprop: gradient 4 float32 and input 4 float64; expected one shape and one float dtype",
                       Error);
  CHECK_THROWS_WITH_AS(relu_backprop(ones({2}, DType::int64), ones({2}, DType::int64)),
                       Contains("relu_backprop: gradient 2 int64 and input 2 int64"), Error);
  CHECK_THROWS_WITH_AS(abs_backprop(ones({2, 3}), ones({3})),
                       "abs_backprop: gradient 2x3 float32 and input 3 float32; expected one shape and one float dtype",
                       Error);
  CHECK_THROWS_WITH_AS(pow_backprop(ones({3}), ones({3}, DType::int64), 2),
                       "pow_backprop: gradient 3 float32 and input 3 int64; expected one shape and one float dtype",
                       Error);
}

TEST_CASE("errors: elementwise ops") {
  SUBCASE("mismatched shapes") {
    CHECK_THROWS_WITH_AS(add(ones({2, 3}), ones({3, 2})),
                         "add: shapes 2x3 and 3x2 do not broadcast (expected equal sizes or 1 on each axis)", Error);
    CHECK_THROWS_WITH_AS(sub(ones({4}), ones({5})), Contains("sub: shapes 4 and 5"), Error);
    CHECK_THROWS_WITH_AS(div(ones({2, 3}), ones({2, 2})), Contains("div: shapes 2x3 and 2x2"), Error);
  }
  SUBCASE("shapes that do not broadcast") {
    CHECK_THROWS_WITH_AS(mul(ones({2, 3}), ones({4})), Contains("mul: shapes 2x3 and 4 do not broadcast"), Error);
    CHECK_THROWS_WITH_AS(ones({2, 1, 3}) + ones({4, 2}), Contains("add: shapes 2x1x3 and 4x2"), Error);
  }
  SUBCASE("a dtype mix") {
    CHECK_THROWS_WITH_AS(add(ones({2, 2}), ones({2, 2}, DType::float64)),
                         "add: dtypes differ (2x2 float32 and 2x2 float64); expected one dtype (convert with .to())",
                         Error);
    CHECK_THROWS_WITH_AS(ones({3}) * ones({1}, DType::float64), Contains("mul: dtypes differ"), Error);
    CHECK_THROWS_WITH_AS(ones({2}) + ones({2}, DType::int64), Contains("int64"), Error);
  }
  SUBCASE("integer tensors into float ops") {
    const Tensor labels({1, 2}, {2}, DType::int64);
    CHECK_THROWS_WITH_AS(exp(labels), "exp: expected a float32 or float64 tensor, got int64", Error);
    CHECK_THROWS_WITH_AS(log(labels), Contains("log:"), Error);
    CHECK_THROWS_WITH_AS(pow(labels, 2), Contains("pow:"), Error);
    CHECK_THROWS_WITH_AS(neg(labels), Contains("neg:"), Error);
    CHECK_THROWS_WITH_AS(add(labels, labels), Contains("add:"), Error);
    CHECK_THROWS_WITH_AS(logsumexp(labels), Contains("logsumexp:"), Error);
    CHECK(sum(labels).item() == 3);  // counting: an int64 sum, not an error
  }
}

TEST_CASE("errors: corr2d") {
  SUBCASE("a kernel larger than the input") {
    CHECK_THROWS_WITH_AS(corr2d(ones({2, 5}), ones({3, 3})), "corr2d: kernel 3x3 is larger than input 2x5", Error);
    CHECK_THROWS_WITH_AS(corr2d(ones({4, 4}), ones({2, 5})), "corr2d: kernel 2x5 is larger than input 4x4", Error);
  }
  SUBCASE("not matrices") {
    CHECK_THROWS_WITH_AS(corr2d(ones({3}), ones({2, 2})),
                         "corr2d: input 3 and kernel 2x2; expected two matrices (rank 2)", Error);
    CHECK_THROWS_WITH_AS(corr2d(ones({1, 3, 3}), ones({2, 2})), Contains("corr2d: input 1x3x3"), Error);
    CHECK_THROWS_WITH_AS(corr2d(ones({3, 3}), Tensor::scalar(1)), Contains("kernel scalar"), Error);
  }
  SUBCASE("an empty kernel") {
    CHECK_THROWS_WITH_AS(corr2d(ones({3, 3}), ones({0, 2})), "corr2d: kernel 0x2 is empty", Error);
  }
  SUBCASE("a dtype mix") {
    CHECK_THROWS_WITH_AS(corr2d(ones({3, 3}), ones({2, 2}, DType::float64)),
                         "corr2d: input is 3x3 float32 but kernel is 2x2 float64; expected one dtype", Error);
  }
}

TEST_CASE("errors: conv2d") {
  SUBCASE("channels that do not match") {
    CHECK_THROWS_WITH_AS(conv2d(ones({1, 5, 5, 3}), ones({3, 3, 2, 4})),
                         "conv2d: input 1x5x5x3 has 3 channels but kernel 3x3x2x4 expects 2", Error);
  }
  SUBCASE("wrong ranks") {
    CHECK_THROWS_WITH_AS(conv2d(ones({5, 5, 3}), ones({3, 3, 3, 4})),
                         Contains("conv2d: input is 5x5x3, expected rank 4 (batch, height, width, channels)"), Error);
    CHECK_THROWS_WITH_AS(conv2d(ones({1, 5, 5, 3}), ones({3, 3, 3})),
                         Contains("conv2d: kernel is 3x3x3, expected rank 4"), Error);
  }
  SUBCASE("an empty kernel") {
    CHECK_THROWS_WITH_AS(conv2d(ones({1, 5, 5, 1}), ones({0, 3, 1, 1})), "conv2d: kernel 0x3x1x1 is empty", Error);
  }
  SUBCASE("a kernel larger than the padded input") {
    CHECK_THROWS_WITH_AS(conv2d(ones({1, 2, 2, 1}), ones({3, 3, 1, 1})),
                         Contains("conv2d: kernel 3x3 (dilated 3x3) is larger than the padded input 2x2"), Error);
    Conv2DOptions dilated;
    dilated.dilation_rate = {3, 1};
    CHECK_THROWS_WITH_AS(conv2d(ones({1, 5, 5, 1}), ones({3, 3, 1, 1}), dilated), Contains("dilated 7x3"), Error);
  }
  SUBCASE("strides, dilations and padding out of range") {
    Conv2DOptions options;
    options.strides = {0, 1};
    CHECK_THROWS_WITH_AS(conv2d(ones({1, 5, 5, 1}), ones({3, 3, 1, 1}), options), Contains("conv2d: strides 0x1"),
                         Error);
    options.strides = {1, 1};
    options.dilation_rate = {1, -2};
    CHECK_THROWS_WITH_AS(conv2d(ones({1, 5, 5, 1}), ones({3, 3, 1, 1}), options), Contains("dilation_rate 1x-2"),
                         Error);
    options.dilation_rate = {1, 1};
    options.padding = Padding::explicit_sides(0, -1, 0, 0);
    CHECK_THROWS_WITH_AS(conv2d(ones({1, 5, 5, 1}), ones({3, 3, 1, 1}), options), Contains("conv2d: padding 0, -1"),
                         Error);
  }
  SUBCASE("a dtype mix, and integers") {
    CHECK_THROWS_WITH_AS(conv2d(ones({1, 3, 3, 1}), ones({2, 2, 1, 1}, DType::float64)),
                         Contains("conv2d: input is 1x3x3x1 float32 but kernel is 2x2x1x1 float64"), Error);
    CHECK_THROWS_WITH_AS(conv2d(ones({1, 3, 3, 1}, DType::int64), ones({2, 2, 1, 1}, DType::int64)),
                         Contains("conv2d: expected float32 or float64"), Error);
  }
  SUBCASE("gradient ops given a gradient of the wrong shape") {
    CHECK_THROWS_WITH_AS(conv2d_backprop_input(ones({1, 4, 4, 1}), ones({3, 3, 1, 1}), {1, 5, 5, 1}),
                         Contains("conv2d_backprop_input: gradient is 1x4x4x1, expected"), Error);
    CHECK_THROWS_WITH_AS(conv2d_backprop_filter(ones({1, 5, 5, 1}), ones({1, 3, 3, 2}), {3, 3, 1, 1}),
                         Contains("conv2d_backprop_filter: gradient is 1x3x3x2"), Error);
  }
}

TEST_CASE("errors: shape ops") {
  SUBCASE("reshape to a different element count") {
    CHECK_THROWS_WITH_AS(reshape(ones({2, 3}), {4}), "reshape: cannot reshape 2x3 (6 elements) to 4 (4 elements)",
                         Error);
    CHECK_THROWS_WITH_AS(ones({2}).reshaped({3}), Contains("cannot view 2 (2 elements) as 3"), Error);
  }
  SUBCASE("transpose of a non-matrix without a permutation") {
    CHECK_THROWS_WITH_AS(transpose(ones({2, 3, 4})),
                         "transpose: expected a matrix (rank 2), got shape 2x3x4; pass a permutation for other ranks",
                         Error);
    CHECK_THROWS_WITH_AS(transpose(ones({3})), Contains("got shape 3"), Error);
  }
  SUBCASE("a bad permutation") {
    CHECK_THROWS_WITH_AS(transpose(ones({2, 3, 4}), {0, 0, 1}),
                         "transpose: permutation [0, 0, 1] does not reorder the 3 axes of shape 2x3x4", Error);
    CHECK_THROWS_WITH_AS(transpose(ones({2, 3, 4}), {0, 1}), Contains("permutation [0, 1]"), Error);
    CHECK_THROWS_WITH_AS(transpose(ones({2, 3}), {0, 2}), Contains("permutation [0, 2]"), Error);
  }
  SUBCASE("slice: step 0, negative steps, too many slices") {
    CHECK_THROWS_WITH_AS(slice(ones({5}), {{0, 5, 0}}),
                         "slice: step 0 on axis 0 of shape 5; expected a positive step (use flip to reverse)", Error);
    CHECK_THROWS_WITH_AS(slice(ones({2, 5}), {{}, {4, 0, -1}}), Contains("slice: step -1 on axis 1 of shape 2x5"),
                         Error);
    CHECK_THROWS_WITH_AS(slice(ones({5}), {{}, {}}), Contains("slice: 2 slices given for a tensor of shape 5"), Error);
    CHECK_THROWS_WITH_AS(rows(ones({3}), 0, 1), Contains("rows: expected a matrix"), Error);
    CHECK_THROWS_WITH_AS(cols(ones({2, 2, 2}), 0, 1), Contains("cols: expected a matrix"), Error);
    CHECK_THROWS_WITH_AS(unslice(ones({2}), {5}, {{0, 3}}), "unslice: the slice of 5 is 3, but the tensor given is 2",
                         Error);
  }
  SUBCASE("broadcast_to and sum_to") {
    CHECK_THROWS_WITH_AS(broadcast_to(ones({3}), {2, 4}), Contains("broadcast_to: shapes 3 and 2x4"), Error);
    CHECK_THROWS_WITH_AS(broadcast_to(ones({2, 3}), {3}), Contains("broadcast_to: cannot broadcast 2x3 to 3"), Error);
    CHECK_THROWS_WITH_AS(sum_to(ones({2, 3}), {4}), Contains("sum_to"), Error);
    CHECK_THROWS_WITH_AS(sum_to(ones({3}), {2, 3}), Contains("sum_to: cannot sum 3 down to 2x3"), Error);
  }
  SUBCASE("pad and flip") {
    CHECK_THROWS_WITH_AS(pad(ones({2, 2}), {-1, 0}, {0, 0}), Contains("pad: padding [-1, 0] before"), Error);
    CHECK_THROWS_WITH_AS(pad(ones({2, 2}), {1}, {0, 0}),
                         Contains("for shape 2x2; expected one non-negative size per axis"), Error);
    CHECK_THROWS_WITH_AS(flip(ones({2, 2}), {0, 0}), "flip: axis 0 appears twice in [0, 0]", Error);
    CHECK_THROWS_WITH_AS(flip(ones({2, 2}), {2}), "flip: axis 2 is out of range for rank 2", Error);
  }
  SUBCASE("reductions") {
    CHECK_THROWS_WITH_AS(sum(ones({2, 2}), 2), "sum: axis 2 is out of range for rank 2", Error);
    CHECK_THROWS_WITH_AS(sum(ones({2, 2}), -3), Contains("axis -3"), Error);
    CHECK_THROWS_WITH_AS(sum(ones({2, 2}), std::vector<int>{0, -2}), "sum: axis -2 appears twice for shape 2x2", Error);
    CHECK_THROWS_WITH_AS(mean(zeros({0})), Contains("mean: the mean of an empty tensor"), Error);
    CHECK_THROWS_WITH_AS(mean(zeros({3, 0}), 1), Contains("mean: axis 1 of shape 3x0 is empty"), Error);
  }
}

TEST_CASE("errors: tensors") {
  SUBCASE("a wrong number of values") {
    CHECK_THROWS_WITH_AS(Tensor({1, 2, 3}, {2, 2}), "Tensor: 3 values given for shape 2x2, which holds 4", Error);
    CHECK_THROWS_WITH_AS(Tensor(std::vector<double>(5, 0.0), Shape{}), Contains("5 values given for shape scalar"),
                         Error);
  }
  SUBCASE("item on many elements") {
    CHECK_THROWS_WITH_AS(ones({2, 3}).item(), "Tensor::item: expected a one-element tensor, got shape 2x3", Error);
  }
  SUBCASE("element reads out of range") {
    CHECK_THROWS_WITH_AS(ones({2}).at({0, 0}), "Tensor::at: 2 indices given for a tensor of shape 2", Error);
    CHECK_THROWS_WITH_AS(ones({2, 3}).at({1, 3}), Contains("index 3 is out of range on axis 1 of shape 2x3"), Error);
    CHECK_THROWS_WITH_AS(ones({2}).flat(2), Contains("Tensor::flat: position 2"), Error);
    CHECK_THROWS_WITH_AS(ones({2}).with({all, all}, 0), Contains("Tensor::with: 2 ranges given"), Error);
    CHECK_THROWS_WITH_AS((void)ones({2}).data<double>(), Contains("tensor is float32, asked for float64"), Error);
  }
  SUBCASE("an undefined tensor") {
    const Tensor undefined;
    CHECK_THROWS_WITH_AS((void)undefined.shape(), Contains("undefined"), Error);
    CHECK_THROWS_WITH_AS(add(undefined, ones({2})), Contains("undefined"), Error);
    CHECK_THROWS_WITH_AS(undefined + 1.0, Contains("undefined"), Error);
    CHECK_THROWS_WITH_AS(exp(undefined), Contains("undefined"), Error);
    CHECK_THROWS_WITH_AS(undefined.item(), Contains("undefined"), Error);
    CHECK_THROWS_WITH_AS(undefined.to_vector(), Contains("undefined"), Error);
  }
  SUBCASE("shapes, ranges and generators") {
    CHECK_THROWS_WITH_AS(Shape({1, -2}), "Shape: dimension -2 is negative", Error);
    CHECK_THROWS_WITH_AS(Shape({1, 1, 1, 1, 1, 1, 1, 1, 1}), Contains("rank 9"), Error);
    CHECK_THROWS_WITH_AS(arange(0, 1, 0), Contains("arange: expected finite start, stop and a non-zero step"), Error);
    CHECK_THROWS_WITH_AS(Generator(1).below(0), Contains("Generator::below"), Error);
    Generator generator(1);
    CHECK_THROWS_WITH_AS(random_normal({2}, generator, 0, -1),
                         "random_normal: mean 0 and stddev -1; expected finite numbers and stddev >= 0", Error);
    CHECK_THROWS_WITH_AS(random_uniform({2}, generator, 1, 0),
                         "random_uniform: low 1 and high 0; expected finite numbers with low <= high", Error);
    CHECK_THROWS_WITH_AS(random_normal({2}, generator, 0, 1, DType::int64),
                         Contains("random_normal: expected a float32"), Error);
  }
}

TEST_CASE("errors: variables and tapes") {
  Variable w(ones({2, 2}), "w");
  SUBCASE("Variable::assign with a wrong shape or dtype") {
    CHECK_THROWS_WITH_AS(w.assign(ones({3})), "Variable::assign: 'w' is 2x2 float32, got 3 float32", Error);
    CHECK_THROWS_WITH_AS(w.assign(ones({2, 2}, DType::float64)), Contains("got 2x2 float64"), Error);
    CHECK_THROWS_WITH_AS(w.assign(Tensor{}), Contains("got undefined"), Error);
    CHECK_THROWS_WITH_AS(w.assign_sub(ones({3})), Contains("Variable::assign_sub: shapes 2x2 and 3"), Error);
    CHECK_THROWS_WITH_AS(w.assign_add(ones({3, 2, 2})),
                         Contains("Variable::assign_add: 'w' is 2x2 float32, got a delta 3x2x2 float32"), Error);
    CHECK(w.value().to_vector() == std::vector<double>(4, 1.0));  // unchanged by the failed assignments
  }
  SUBCASE("variables without a value") {
    CHECK_THROWS_WITH_AS(Variable(Tensor{}, "v"), "Variable 'v': the initial value is an undefined tensor", Error);
    const Variable empty;
    CHECK_THROWS_WITH_AS((void)empty.value(), Contains("empty variable handle"), Error);
    CHECK_THROWS_WITH_AS(empty.read(), Contains("empty variable handle"), Error);
  }
  SUBCASE("output_gradients of the wrong shape or dtype") {
    const Tensor x = ones({2});
    GradientTape tape({.persistent = true});
    tape.watch(x);
    const Tensor y = x * x;
    GradientOptions options;
    options.output_gradients = ones({3});
    CHECK_THROWS_WITH_AS(tape.gradient(y, x, options),
                         "GradientTape::gradient: output_gradients is 3 float32, expected the target's 2 float32",
                         Error);
    options.output_gradients = ones({2}, DType::float64);
    CHECK_THROWS_WITH_AS(tape.gradient(y, x, options), Contains("output_gradients is 2 float64"), Error);
  }
  SUBCASE("a second gradient on a non-persistent tape") {
    const Tensor x = ones({2});
    GradientTape tape;
    tape.watch(x);
    const Tensor y = x * x;
    (void)tape.gradient(y, x);
    CHECK_THROWS_WITH_AS(tape.gradient(y, x), Contains("GradientTape::gradient: this tape is not persistent"), Error);
  }
  SUBCASE("integer and undefined targets") {
    const Tensor x = ones({2});
    GradientTape tape({.persistent = true});
    tape.watch(x);
    CHECK_THROWS_WITH_AS(tape.gradient(Tensor({1}, {1}, DType::int64), x),
                         "GradientTape::gradient: target is 1 int64, expected a float tensor", Error);
    CHECK_THROWS_WITH_AS(tape.gradient(Tensor{}, x), Contains("undefined"), Error);
    CHECK_THROWS_WITH_AS(tape.watch(Tensor{}), Contains("undefined"), Error);
  }
  SUBCASE("using an unconnected gradient") {
    const Tensor x = ones({2});
    const Tensor z = ones({2});
    GradientTape tape;
    tape.watch(x);
    tape.watch(z);
    const Tensor g = tape.gradient(sum(x), z);
    CHECK_THROWS_WITH_AS(g * 2.0,
                         "mul: the input is an undefined tensor (a default-constructed Tensor, or an unconnected "
                         "gradient); expected a tensor with values",
                         Error);
  }
}

TEST_CASE("errors: batch normalization and dropout") {
  const Tensor x = ones({4, 3});
  const Tensor c = ones({3});
  CHECK_THROWS_WITH_AS(batch_norm_training(x, ones({4}), c),
                       "batch_norm_training: gamma is 4 float32; expected 3 float32, one value per channel (the last "
                       "axis) of x 4x3",
                       Error);
  CHECK_THROWS_WITH_AS(batch_norm_training(x, c, ones({3}, DType::float64)),
                       Contains("batch_norm_training: beta is 3 float64; expected 3 float32"), Error);
  CHECK_THROWS_WITH_AS(batch_norm_training(ones({5}), ones({5}), ones({5})),
                       Contains("batch_norm_training: x is 5; expected at least rank 2 (batch, ..., channels)"), Error);
  CHECK_THROWS_WITH_AS(batch_norm_training(ones({0, 3}), c, c),
                       Contains("batch_norm_training: x is 0x3; expected at least one row and one channel"), Error);
  CHECK_THROWS_WITH_AS(batch_norm_training(x, c, c, -1),
                       Contains("batch_norm_training: epsilon is -1; expected a finite epsilon >= 0"), Error);
  CHECK_THROWS_WITH_AS(batch_norm_training(Tensor({1, 2, 3, 4}, {2, 2}, DType::int64), ones({2}), ones({2})),
                       Contains("batch_norm_training: x is 2x2 int64; expected a float32 or float64 tensor"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, c, ones({2}), c, c), Contains("batch_norm: variance is 2 float32; expected 3"),
                       Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor{}, c, c, c), Contains("batch_norm: mean is undefined"), Error);
  Generator generator(1);
  CHECK_THROWS_WITH_AS(dropout(x, 1.0, generator), "dropout: rate is 1 for x 4x3; expected 0 <= rate < 1", Error);
  CHECK_THROWS_WITH_AS(dropout(x, -0.5, generator), Contains("dropout: rate is -0.5"), Error);
}

TEST_CASE("errors: reshape's -1 and negative sizes name reshape") {
  const Tensor x = arange(10);
  CHECK_THROWS_WITH_AS(reshape(x, {-1, 3}),
                       "reshape: cannot infer -1 in [-1, 3] for 10 (10 elements): the other dimensions hold 3, "
                       "which does not divide 10",
                       Error);
  CHECK_THROWS_WITH_AS(reshape(x, {-1, -1}), Contains("reshape: [-1, -1] has more than one -1"), Error);
  CHECK_THROWS_WITH_AS(reshape(x, {-2, -5}), Contains("reshape: dimension -2 of [-2, -5] is negative"), Error);
  CHECK_THROWS_WITH_AS(reshape(x, {-1, 0}), Contains("reshape: cannot infer -1 in [-1, 0]"), Error);
  CHECK_THROWS_WITH_AS(reshape(x, {3, 4}), "reshape: cannot reshape 10 (10 elements) to 3x4 (12 elements)", Error);
}

TEST_CASE("errors: int64 reductions name the user's op") {
  const Tensor t({1, 2}, DType::int64);
  CHECK_THROWS_WITH_AS(mean(zeros({0}, DType::int64)), Contains("mean: the mean of an empty tensor"), Error);
  CHECK_THROWS_WITH_AS(mean(t, 3), Contains("mean"), Error);
  CHECK_THROWS_WITH_AS(logsumexp(t), "logsumexp: expected a float32 or float64 tensor, got 2 int64", Error);
  CHECK_THROWS_WITH_AS(softmax(t), "softmax: expected a float32 or float64 tensor, got 2 int64", Error);
  CHECK_THROWS_WITH_AS(log_softmax(t), "log_softmax: expected a float32 or float64 tensor, got 2 int64", Error);
  const int64_t top = INT64_MAX;
  CHECK_THROWS_WITH_AS(sum(Tensor(std::vector<int64_t>{top, 1})), Contains("sum: the int64 sum overflows"), Error);
}

TEST_CASE("errors: pooling padding at most half the pool size; count_include_pad is avg_pool2d's") {
  const Tensor x = ones({1, 4, 4, 1});
  CHECK_THROWS_WITH_AS(max_pool2d(x, {.pool_size = 2, .padding = 2}),
                       "max_pool2d: padding (top 2, bottom 2, left 2, right 2) with pool_size 2x2: a window could lie "
                       "wholly in the padding; expected at most half the pool size on each side (1 above and below, 1 "
                       "left and right)",
                       Error);
  CHECK_THROWS_WITH_AS(avg_pool2d(x, {.pool_size = {3, 2}, .padding = Padding::explicit_sides(0, 0, 0, 2)}),
                       Contains("avg_pool2d: padding (top 0, bottom 0, left 0, right 2) with pool_size 3x2"), Error);
  CHECK_THROWS_WITH_AS(avg_pool2d_backprop(ones({1, 3, 3, 1}), x.shape(), {.pool_size = 1, .padding = 1}),
                       Contains("avg_pool2d_backprop: padding (top 1"), Error);
  CHECK(avg_pool2d(x, {.pool_size = 3, .strides = 1, .padding = 1}).shape() == Shape{1, 4, 4, 1});  // 1 <= 3/2
  CHECK(max_pool2d(x, {.pool_size = 3, .padding = Padding::same()}).shape() == Shape{1, 2, 2, 1});
  CHECK_THROWS_WITH_AS(max_pool2d(x, {.count_include_pad = true}),
                       "max_pool2d: count_include_pad applies to avg_pool2d only; a maximum counts no pixels", Error);
  CHECK_THROWS_WITH_AS(max_pool2d(x, {.pool_size = 0}), "max_pool2d: pool_size 0x0; expected at least 1x1", Error);
  CHECK_THROWS_WITH_AS(max_pool2d(x, {.strides = {1, -1}}), Contains("max_pool2d: strides 1x-1"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, ones({1, 1, 1, 1}), {.dilation_rate = 0}),
                       Contains("conv2d: strides 1x1 and dilation_rate 0x0"), Error);
}
