// Census rows: tensors, shapes, the elementwise, reduction, shape and index ops.

#include "census.hpp"

#include <cmath>
#include <limits>
#include <span>
#include <sstream>
#include <vector>

using namespace tapegrad;
using census::exempt;
using census::row;
using census::value_row;

namespace {

constexpr int64_t kMax = INT64_MAX;
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

Tensor f32(std::initializer_list<double> v) { return Tensor(v, Shape{static_cast<int64_t>(v.size())}); }
Tensor labels() { return Tensor({1, 2}, {2}, DType::int64); }
bool is_nan(const Tensor& t, int64_t i) { return std::isnan(t.flat(i)); }

// Each public op of one or two tensors given an undefined tensor names itself.
std::vector<census::Row> undefined_rows() {
  const Tensor u;
  const Tensor x = ones({2});
  std::vector<census::Row> list;
  auto unary_row = [&](const char* api, const char* op, std::function<void()> run) {
    list.push_back(row(api, "undefined", std::string(op) + ": the input is an undefined tensor", std::move(run)));
  };
  auto binary_row = [&](const char* api, const char* op, std::function<void()> run) {
    list.push_back(row(api, "undefined", std::string(op) + ": input 2 of 2 is an undefined tensor", std::move(run)));
  };
  binary_row("add", "add", [=] { add(x, u); });
  binary_row("sub", "sub", [=] { sub(x, u); });
  binary_row("mul", "mul", [=] { mul(x, u); });
  binary_row("div", "div", [=] { div(x, u); });
  binary_row("operator+", "add", [=] { x + u; });
  binary_row("operator-", "sub", [=] { x - u; });
  binary_row("operator*", "mul", [=] { x* u; });
  binary_row("operator/", "div", [=] { x / u; });
  unary_row("operator*", "mul", [=] { u * 2.0; });
  unary_row("operator+", "add", [=] { 1.0 + u; });
  unary_row("neg", "neg", [=] { neg(u); });
  unary_row("abs", "abs", [=] { abs(u); });
  unary_row("square", "square", [=] { square(u); });
  unary_row("pow", "pow", [=] { pow(u, 2); });
  unary_row("exp", "exp", [=] { exp(u); });
  unary_row("log", "log", [=] { log(u); });
  unary_row("sin", "sin", [=] { sin(u); });
  unary_row("cos", "cos", [=] { cos(u); });
  unary_row("sign", "sign", [=] { sign(u); });
  unary_row("sqrt", "sqrt", [=] { sqrt(u); });
  unary_row("tanh", "tanh", [=] { tanh(u); });
  unary_row("relu", "relu", [=] { relu(u); });
  unary_row("sigmoid", "sigmoid", [=] { sigmoid(u); });
  unary_row("clip", "clip", [=] { clip(u, 0, 1); });
  unary_row("stop_gradient", "stop_gradient", [=] { stop_gradient(u); });
  unary_row("sum", "sum", [=] { sum(u); });
  unary_row("mean", "mean", [=] { mean(u); });
  unary_row("reduce_sum", "reduce_sum", [=] { reduce_sum(u); });
  unary_row("reduce_mean", "reduce_mean", [=] { reduce_mean(u); });
  unary_row("reduce_max", "reduce_max", [=] { reduce_max(u); });
  unary_row("logsumexp", "logsumexp", [=] { logsumexp(u); });
  unary_row("softmax", "softmax", [=] { softmax(u); });
  unary_row("log_softmax", "log_softmax", [=] { log_softmax(u); });
  unary_row("argmax", "argmax", [=] { argmax(u); });
  unary_row("reshape", "reshape", [=] { reshape(u, {2}); });
  unary_row("transpose", "transpose", [=] { transpose(u); });
  unary_row("broadcast_to", "broadcast_to", [=] { broadcast_to(u, {2}); });
  unary_row("sum_to", "sum_to", [=] { sum_to(u, {1}); });
  unary_row("slice", "slice", [=] { slice(u, {{0, 1, 1}}); });
  unary_row("rows", "rows", [=] { rows(u, 0, 1); });
  unary_row("cols", "cols", [=] { cols(u, 0, 1); });
  unary_row("unslice", "unslice", [=] { unslice(u, {2}, {{0, 1, 1}}); });
  unary_row("pad", "pad", [=] { pad(u, {1}, {1}); });
  unary_row("flip", "flip", [=] { flip(u, {0}); });
  unary_row("expand_dims", "expand_dims", [=] { expand_dims(u, 0); });
  unary_row("squeeze", "squeeze", [=] { squeeze(u); });
  unary_row("one_hot", "one_hot", [=] { one_hot(u, 3); });
  unary_row("max_pool2d", "max_pool2d", [=] { max_pool2d(u); });
  unary_row("avg_pool2d", "avg_pool2d", [=] { avg_pool2d(u); });
  unary_row("avg_pool2d_backprop", "avg_pool2d_backprop", [=] { avg_pool2d_backprop(u, {1, 2, 2, 1}); });
  binary_row("maximum", "maximum", [=] { maximum(x, u); });
  binary_row("minimum", "minimum", [=] { minimum(x, u); });
  binary_row("equal", "equal", [=] { equal(x, u); });
  binary_row("not_equal", "not_equal", [=] { not_equal(x, u); });
  binary_row("less", "less", [=] { less(x, u); });
  binary_row("less_equal", "less_equal", [=] { less_equal(x, u); });
  binary_row("greater", "greater", [=] { greater(x, u); });
  binary_row("greater_equal", "greater_equal", [=] { greater_equal(x, u); });
  binary_row("matmul", "matmul", [=] { matmul(x, u); });
  binary_row("corr2d", "corr2d", [=] { corr2d(ones({3, 3}), u); });
  binary_row("conv2d", "conv2d", [=] { conv2d(ones({1, 3, 3, 1}), u); });
  binary_row("conv2d_backprop_input", "conv2d_backprop_input", [=] {
    conv2d_backprop_input(ones({1, 2, 2, 1}), u, {1, 3, 3, 1});
  });
  binary_row("conv2d_backprop_filter", "conv2d_backprop_filter", [=] {
    conv2d_backprop_filter(ones({1, 3, 3, 1}), u, {2, 2, 1, 1});
  });
  binary_row("max_pool2d_backprop", "max_pool2d_backprop", [=] { max_pool2d_backprop(ones({1, 1, 1, 1}), u); });
  binary_row("max_pool2d_select", "max_pool2d_select", [=] { max_pool2d_select(ones({1, 2, 2, 1}), u); });
  binary_row("relu_backprop", "relu_backprop", [=] { relu_backprop(x, u); });
  binary_row("sigmoid_backprop", "sigmoid_backprop", [=] { sigmoid_backprop(x, u); });
  binary_row("abs_backprop", "abs_backprop", [=] { abs_backprop(x, u); });
  binary_row("pow_backprop", "pow_backprop", [=] { pow_backprop(x, u, 2); });
  binary_row("gather", "gather", [=] { gather(x, u); });
  binary_row("scatter_add", "scatter_add", [=] { scatter_add(x, u, 0, {2}); });
  binary_row("mse", "mse", [=] { mse(x, u); });
  binary_row("softmax_cross_entropy", "softmax_cross_entropy", [=] { softmax_cross_entropy(ones({1, 2}), u); });
  list.push_back(row("where", "undefined", "where: input 3 of 3 is an undefined tensor", [=] { where(x, x, u); }));
  list.push_back(row("concat", "undefined", "concat: input 2 of 2 is an undefined tensor", [=] { concat({x, u}); }));
  list.push_back(row("stack", "undefined", "stack: input 2 of 2 is an undefined tensor", [=] { stack({x, u}); }));
  return list;
}

const bool registered_undefined = census::add(undefined_rows());

const bool registered = census::add({
    // ---- Shape
    row("Shape::Shape", "shapes", "Shape: dimension -1 is negative",
        [] {
          Shape{2, -1};
        }),
    row("Shape::Shape", "overflow", "Shape: 9223372036854775807x2 has more elements",
        [] {
          Shape{kMax, 2};
        }),
    row("Shape::Shape", "overflow", "Shape: 0x4611686018427387904x4 has more elements",
        [] {
          Shape{0, int64_t{1} << 62, 4};
        }),
    row("Shape::Shape", "shapes", "Shape: rank 9 is more than", [] { Shape{1, 1, 1, 1, 1, 1, 1, 1, 1}; }),
    row("Shape::operator[]", "shapes", "Shape: axis 2 is out of range for rank 2",
        [] {
          Shape{2, 3}[2];
        }),
    row("Shape::with", "shapes", "Shape::with: dimension -3 is negative", [] { Shape{2}.with(0, -3); }),
    row("Shape::with", "overflow", "Shape: 9223372036854775807x2 has more",
        [] {
          Shape{1, 2}.with(0, kMax);
        }),
    row("Shape::push_back", "overflow", "Shape: 9223372036854775807x2 has more",
        [] {
          Shape s{kMax};
          s.push_back(2);
        }),
    row("Shape::push_back", "shapes", "Shape: dimension -1 is negative",
        [] {
          Shape s;
          s.push_back(-1);
        }),
    row("normalize_axis", "shapes", "my_op: axis 3 is out of range for rank 2", [] { normalize_axis(3, 2, "my_op"); }),
    row("broadcast_shapes", "shapes", "my_op: shapes 2 and 3 do not broadcast",
        [] { broadcast_shapes({2}, {3}, "my_op"); }),
    row("broadcast_shapes", "overflow", "my_op: the broadcast shape would be 1099511627776x1099511627776x0",
        [] {
          broadcast_shapes({int64_t{1} << 40, 1, 0}, {1, int64_t{1} << 40, 0}, "my_op");
        }),
});

const bool registered_ops = census::add({
    // ---- Tensor
    row("Tensor::Tensor", "shapes", "Tensor: 3 values given for shape 2x2",
        [] {
          Tensor({1, 2, 3}, {2, 2});
        }),
    row("Tensor::Tensor", "nan", "Tensor: nan has no int64 value", [] { Tensor({kNaN}, {1}, DType::int64); }),
    row("Tensor::Tensor", "shapes", "Tensor: 3 values given for shape 2x2, which holds 4",
        [] {
          const std::vector<float> values{1, 2, 3};
          Tensor(std::span<const float>(values), Shape{2, 2});
        }),
    row("Tensor::Tensor", "shapes", "Tensor: 5 values given for shape 2x2, which holds 4",
        [] {
          const std::vector<int64_t> labels{0, 1, 2, 3, 4};
          Tensor(std::span<const int64_t>(labels), Shape{2, 2});
        }),
    row("Tensor::Tensor", "nan", "Tensor: nan has no int64 value",
        [] {
          const std::vector<float> values{1, std::numeric_limits<float>::quiet_NaN()};
          Tensor(std::span<const float>(values), DType::int64);
        }),
    value_row("Tensor::Tensor", "empty", "an empty std::vector makes a 1-d tensor of 0 elements",
              [] {
                const std::vector<double> none;
                return Tensor(std::span<const double>(none)).shape() == Shape{0};
              }),
    row("Tensor::scalar", "overflow", "full: 1e+300 has no int64 value", [] { Tensor::scalar(1e300, DType::int64); }),
    row("Tensor::empty", "overflow", "Shape: 9223372036854775807x9223372036854775807 has more",
        [] {
          Tensor::empty({kMax, kMax}, DType::float32);
        }),
    row("Tensor::shape", "undefined", "Tensor: used an undefined tensor", [] { Tensor().shape(); }),
    row("Tensor::dtype", "undefined", "Tensor: used an undefined tensor", [] { Tensor().dtype(); }),
    row("Tensor::rank", "undefined", "Tensor: used an undefined tensor", [] { Tensor().rank(); }),
    row("Tensor::numel", "undefined", "Tensor: used an undefined tensor", [] { Tensor().numel(); }),
    row("Tensor::id", "undefined", "Tensor: used an undefined tensor", [] { Tensor().id(); }),
    row("Tensor::raw_data", "undefined", "Tensor: used an undefined tensor", [] { Tensor().raw_data(); }),
    row("Tensor::data", "dtypes", "Tensor::data: tensor is float32, asked for float64",
        [] { ones({2}).data<double>(); }),
    row("Tensor::mutable_data", "tape", "Tensor::mutable_data: the 2 tensor is shared",
        [] {
          const Tensor a = ones({2});
          const Tensor b = a;
          a.mutable_data<float>();
        }),
    row("Tensor::mutable_raw_data", "tape", "Tensor::mutable_data: the 2 tensor is shared",
        [] {
          const Tensor a = ones({2});
          const Tensor b = a;
          a.mutable_raw_data();
        }),
    row("Tensor::at", "shapes", "Tensor::at: index 2 is out of range on axis 0",
        [] {
          ones({2, 2}).at({2, 0});
        }),
    row("Tensor::at", "shapes", "Tensor::at: 1 indices given for a tensor of shape 2x2",
        [] {
          ones({2, 2}).at({1});
        }),
    row("Tensor::flat", "shapes", "Tensor::flat: position -1 is outside", [] { ones({2}).flat(-1); }),
    row("Tensor::item", "shapes", "Tensor::item: expected a one-element tensor, got shape 2", [] { ones({2}).item(); }),
    row("Tensor::item", "empty", "Tensor::item: expected a one-element tensor, got shape 0", [] { ones({0}).item(); }),
    row("Tensor::to_vector", "undefined", "Tensor: used an undefined tensor", [] { Tensor().to_vector(); }),
    row("Tensor::with", "shapes", "Tensor::with: 1 ranges given for a tensor of shape 2x2",
        [] {
          ones({2, 2}).with({all}, 0);
        }),
    row("Tensor::with", "nan", "Tensor::with: nan has no int64 value",
        [] { ones({2}, DType::int64).with({all}, kNaN); }),
    row("Tensor::to", "nan", "Tensor::to: inf has no int64 value", [] { f32({kInf}).to(DType::int64); }),
    row("Tensor::reshaped", "shapes", "reshaped: cannot view 2 (2 elements) as 3", [] { ones({2}).reshaped({3}); }),
    row("zeros", "overflow", "Shape: 4611686018427387904x4 has more",
        [] {
          zeros({int64_t{1} << 62, 4});
        }),
    row("ones", "shapes", "Shape: dimension -2 is negative", [] { ones({-2}); }),
    row("full", "nan", "full: nan has no int64 value", [] { full({2}, kNaN, DType::int64); }),
    row("zeros_like", "undefined", "Tensor: used an undefined tensor", [] { zeros_like(Tensor()); }),
    row("ones_like", "undefined", "Tensor: used an undefined tensor", [] { ones_like(Tensor()); }),
    row("arange", "shapes", "arange: expected finite start, stop and a non-zero step", [] { arange(0, 5, 0); }),
    row("arange", "nan", "arange: expected finite start, stop", [] { arange(0, kNaN); }),
    row("arange", "overflow", "arange: from 0 to 1e+300 by 1 is 1e+300 elements; expected at most 2^60",
        [] { arange(0, 1e300); }),
    row("arange", "overflow", "arange: from -1.7e+308 to 1.7e+308 by 1 is inf elements",
        [] { arange(-1.7e308, 1.7e308, 1); }),
    value_row("arange", "empty", "arange(5, 0) is empty, as NumPy", [] { return arange(5, 0).numel() == 0; }),
    value_row("to_string", "undefined", "to_string of an undefined tensor is \"(undefined)\"",
              [] { return to_string(Tensor()) == "(undefined)"; }),
    // ---- Elementwise: shapes, dtypes, empty tensors
    row("add", "shapes", "add: shapes 2x3 and 3x2 do not broadcast",
        [] {
          add(ones({2, 3}), ones({3, 2}));
        }),
    row("add", "dtypes", "add: dtypes differ (2 float32 and 2 float64)",
        [] { add(ones({2}), ones({2}, DType::float64)); }),
    row("sub", "dtypes", "sub: expected a float32 or float64 tensor, got int64", [] { sub(labels(), labels()); }),
    row("mul", "shapes", "mul: shapes 4 and 5 do not broadcast", [] { mul(ones({4}), ones({5})); }),
    row("div", "dtypes", "div: dtypes differ", [] { div(ones({2}), labels()); }),
    row("operator-", "dtypes", "neg: expected a float32 or float64 tensor, got int64", [] { -labels(); }),
    row("operator/", "dtypes", "div: expected a float32 or float64 tensor, got int64", [] { labels() / 2.0; }),
    row("operator-", "dtypes", "sub: expected a float32 or float64 tensor, got int64", [] { 1.0 - labels(); }),
    row("neg", "dtypes", "neg: expected a float32 or float64 tensor, got int64", [] { neg(labels()); }),
    row("abs", "dtypes", "abs: expected a float32 or float64 tensor, got int64", [] { abs(labels()); }),
    row("square", "dtypes", "square: expected a float32 or float64", [] { square(labels()); }),
    row("pow", "dtypes", "pow: expected a float32 or float64", [] { pow(labels(), 2); }),
    row("exp", "dtypes", "exp: expected a float32 or float64 tensor, got int64", [] { exp(labels()); }),
    row("log", "dtypes", "log: expected a float32 or float64", [] { log(labels()); }),
    row("sin", "dtypes", "sin: expected a float32 or float64", [] { sin(labels()); }),
    row("cos", "dtypes", "cos: expected a float32 or float64", [] { cos(labels()); }),
    row("sign", "dtypes", "sign: expected a float32 or float64", [] { sign(labels()); }),
    row("sqrt", "dtypes", "sqrt: expected a float32 or float64", [] { sqrt(labels()); }),
    row("tanh", "dtypes", "tanh: expected a float32 or float64", [] { tanh(labels()); }),
    row("relu", "dtypes", "relu: expected a float32 or float64", [] { relu(labels()); }),
    row("sigmoid", "dtypes", "sigmoid: expected a float32 or float64 tensor, got int64", [] { sigmoid(labels()); }),
    row("apply_activation", "undefined", "apply_activation: the input is an undefined tensor",
        [] { apply_activation(Tensor{}, Activation::linear); }),
    row("apply_activation", "enum",
        "apply_activation: activation 7 is not an Activation; expected linear, relu or sigmoid",
        [] { apply_activation(ones({2}), static_cast<Activation>(7)); }),
    row("apply_activation", "dtypes", "apply_activation: expected a float32 or float64 tensor, got int64",
        [] { apply_activation(labels(), Activation::relu); }),
    row("activation_name", "enum", "activation_name: activation -1 is not an Activation; expected linear, relu",
        [] { activation_name(static_cast<Activation>(-1)); }),
    row("conv2d_bias_activation", "undefined", "conv2d_bias_activation: input 3 of 3 is an undefined tensor",
        [] { conv2d_bias_activation(ones({1, 3, 3, 1}), ones({2, 2, 1, 1}), Tensor{}, Activation::relu); }),
    row("conv2d_bias_activation", "shapes", "conv2d_bias_activation: bias is 2, expected (1) for the kernel's 1",
        [] { conv2d_bias_activation(ones({1, 3, 3, 1}), ones({2, 2, 1, 1}), ones({2}), Activation::relu); }),
    row("conv2d_bias_activation", "shapes", "conv2d_bias_activation: bias is 1x1, expected (1)",
        [] { conv2d_bias_activation(ones({1, 3, 3, 1}), ones({2, 2, 1, 1}), ones({1, 1}), Activation::relu); }),
    row("conv2d_bias_activation", "shapes", "conv2d_bias_activation: input 1x3x3x2 has 2 channels but kernel",
        [] { conv2d_bias_activation(ones({1, 3, 3, 2}), ones({2, 2, 1, 1}), ones({1}), Activation::relu); }),
    row("conv2d_bias_activation", "dtypes", "conv2d_bias_activation: input is 1x3x3x1 float32 but bias is 1 float64",
        [] {
          conv2d_bias_activation(ones({1, 3, 3, 1}), ones({2, 2, 1, 1}), ones({1}, DType::float64),
                                 Activation::sigmoid);
        }),
    row("conv2d_bias_activation", "enum", "conv2d_bias_activation: activation 3 is not an Activation",
        [] {
          conv2d_bias_activation(ones({1, 3, 3, 1}), ones({2, 2, 1, 1}), ones({1}), static_cast<Activation>(3));
        }),
    row("clip", "shapes", "clip: bounds [1, 0] for shape 2; expected low <= high", [] { clip(ones({2}), 1, 0); }),
    row("clip", "nan", "clip: bounds [nan, 1]", [] { clip(ones({2}), kNaN, 1); }),
    row("maximum", "shapes", "maximum: shapes 2 and 3 do not broadcast", [] { maximum(ones({2}), ones({3})); }),
    row("minimum", "dtypes", "minimum: dtypes differ", [] { minimum(ones({2}), ones({2}, DType::float64)); }),
    row("where", "shapes", "where: shapes 2 and 3 do not broadcast", [] { where(ones({2}), ones({3}), ones({3})); }),
    row("where", "dtypes", "where: a is 2 float32 but b is 2 float64",
        [] { where(ones({2}), ones({2}), ones({2}, DType::float64)); }),
    row("equal", "shapes", "equal: shapes 2 and 3 do not broadcast", [] { equal(ones({2}), ones({3})); }),
    row("not_equal", "dtypes", "not_equal: dtypes differ", [] { not_equal(ones({2}), labels()); }),
    row("less", "shapes", "less: shapes 2 and 3", [] { less(ones({2}), ones({3})); }),
    row("less_equal", "shapes", "less_equal: shapes 2 and 3", [] { less_equal(ones({2}), ones({3})); }),
    row("greater", "shapes", "greater: shapes 2 and 3", [] { greater(ones({2}), ones({3})); }),
    row("greater_equal", "shapes", "greater_equal: shapes 2 and 3", [] { greater_equal(ones({2}), ones({3})); }),
    row("relu_backprop", "shapes", "relu_backprop: gradient 2 float32 and input 3 float32",
        [] { relu_backprop(ones({2}), ones({3})); }),
    row("sigmoid_backprop", "dtypes", "sigmoid_backprop: gradient 2 float32 and output 2 float64",
        [] { sigmoid_backprop(ones({2}), ones({2}, DType::float64)); }),
    row("abs_backprop", "shapes", "abs_backprop: gradient 2x3 float32 and input 3 float32",
        [] {
          abs_backprop(ones({2, 3}), ones({3}));
        }),
    row("pow_backprop", "dtypes", "pow_backprop: gradient 3 float32 and input 3 int64",
        [] { pow_backprop(ones({3}), ones({3}, DType::int64), 2); }),
    value_row("add", "empty", "empty + empty is empty, as NumPy",
              [] {
                return add(ones({0, 3}), ones({3})).numel() == 0;
              }),
    // ---- Reductions
    row("sum", "shapes", "sum: axis 2 is out of range for rank 2",
        [] {
          sum(ones({2, 2}), 2);
        }),
    row("sum", "shapes", "sum: axis -2 appears twice for shape 2x2",
        [] {
          sum(ones({2, 2}), std::vector<int>{0, -2});
        }),
    value_row("sum", "dtypes", "the sum of int64 is an exact int64, as NumPy's",
              [] {
                const Tensor total = sum(labels());
                return total.dtype() == DType::int64 && total.data<int64_t>()[0] == 3;
              }),
    row("sum", "overflow", "sum: ",
        [] {
          const std::vector<int64_t> values{INT64_MAX, 1};
          sum(Tensor(std::span<const int64_t>(values)));
        }),
    row("mean", "empty", "mean: the mean of an empty tensor (0x3) is undefined",
        [] {
          mean(ones({0, 3}));
        }),
    row("mean", "empty", "mean: axis 0 of shape 0x3 is empty",
        [] {
          mean(ones({0, 3}), 0);
        }),
    row("reduce_sum", "shapes", "reduce_sum: axis 5 is out of range", [] { reduce_sum(ones({2}), {5}); }),
    row("reduce_mean", "empty", "reduce_mean: the mean over no elements",
        [] {
          reduce_mean(ones({2, 0}), {1});
        }),
    row("reduce_max", "empty", "reduce_max: the maximum over no elements", [] { reduce_max(ones({0})); }),
    value_row("reduce_max", "dtypes", "the largest of int64 values is an exact int64",
              [] {
                const Tensor largest = reduce_max(labels());
                return largest.dtype() == DType::int64 && largest.data<int64_t>()[0] == 2;
              }),
    row("logsumexp", "empty", "logsumexp: no elements to reduce",
        [] {
          logsumexp(ones({3, 0}), {1});
        }),
    row("softmax", "shapes", "softmax: axis -1 is out of range for rank 0", [] { softmax(Tensor::scalar(1)); }),
    row("softmax", "empty", "softmax: axis 1 of shape 3x0 is empty",
        [] {
          softmax(ones({3, 0}));
        }),
    row("softmax", "dtypes", "softmax: expected a float32 or float64 tensor, got 2 int64", [] { softmax(labels()); }),
    row("log_softmax", "dtypes", "log_softmax: expected a float32 or float64 tensor, got 2 int64",
        [] { log_softmax(labels()); }),
    row("log_softmax", "empty", "log_softmax: axis 1 of shape 2x0 is empty",
        [] {
          log_softmax(ones({2, 0}));
        }),
    row("argmax", "empty", "argmax: axis -1 of shape 2x0 is empty",
        [] {
          argmax(ones({2, 0}));
        }),
    row("argmax", "dtypes", "argmax: expected a float32 or float64", [] { argmax(labels()); }),
    // ---- NaN is never masked
    value_row("reduce_max", "nan", "reduce_max([1, NaN, 3]) is NaN, as NumPy",
              [] {
                return is_nan(reduce_max(f32({1, kNaN, 3})), 0);
              }),
    value_row("argmax", "nan", "argmax([1, NaN, 3]) is 1 (the first NaN), as NumPy",
              [] {
                return argmax(f32({1, kNaN, 3})).item() == 1;
              }),
    value_row("argmax", "nan", "argmax([NaN, 5, NaN]) is 0",
              [] {
                return argmax(f32({kNaN, 5, kNaN})).item() == 0;
              }),
    value_row("maximum", "nan", "maximum(NaN, 1) and maximum(1, NaN) are NaN, as NumPy",
              [] {
                return is_nan(maximum(f32({kNaN, 1}), f32({1, kNaN})), 0) &&
                       is_nan(maximum(f32({kNaN, 1}), f32({1, kNaN})), 1);
              }),
    value_row("minimum", "nan", "minimum(NaN, 1) and minimum(1, NaN) are NaN, as NumPy",
              [] {
                return is_nan(minimum(f32({kNaN, 1}), f32({1, kNaN})), 0) &&
                       is_nan(minimum(f32({kNaN, 1}), f32({1, kNaN})), 1);
              }),
    value_row("relu", "nan", "relu(NaN) is NaN, as PyTorch", [] { return is_nan(relu(f32({kNaN})), 0); }),
    value_row("clip", "nan", "clip(NaN, 0, 1) is NaN", [] { return is_nan(clip(f32({kNaN}), 0, 1), 0); }),
    value_row("softmax", "nan", "softmax of a row holding NaN is NaN",
              [] {
                return is_nan(softmax(f32({1, kNaN})), 0);
              }),
    // ---- Shape ops
    row("reshape", "shapes", "reshape: cannot reshape 2x3 (6 elements) to 4 (4 elements)",
        [] {
          reshape(ones({2, 3}), {4});
        }),
    row("transpose", "shapes", "transpose: expected a matrix (rank 2), got shape 3", [] { transpose(ones({3})); }),
    row("transpose", "shapes", "transpose: permutation [0, 0] does not reorder",
        [] {
          transpose(ones({2, 2}), {0, 0});
        }),
    row("broadcast_to", "shapes", "broadcast_to: shapes 3 and 2 do not broadcast",
        [] { broadcast_to(ones({3}), {2}); }),
    row("broadcast_to", "shapes", "broadcast_to: cannot broadcast 2x2 to 2",
        [] {
          broadcast_to(ones({2, 2}), {2});
        }),
    row("sum_to", "shapes", "sum_to: cannot sum 2 down to 2x2",
        [] {
          sum_to(ones({2}), {2, 2});
        }),
    row("slice", "shapes", "slice: step 0 on axis 0 of shape 5",
        [] {
          slice(ones({5}), {{0, 5, 0}});
        }),
    row("slice", "shapes", "slice: 2 slices given for a tensor of shape 5",
        [] {
          slice(ones({5}), {{}, {}});
        }),
    value_row("slice", "overflow", "x[0:5:huge] has 1 element, x[0], as Python and NumPy",
              [] {
                const Tensor y = slice(arange(5), {{0, 5, kMax}});
                return y.numel() == 1 && y.item() == 0;
              }),
    value_row("slice", "overflow", "x[3:huge] of 5 elements is x[3:5]",
              [] {
                return slice(arange(5), {{3, kMax, 1}}).numel() == 2;
              }),
    value_row("slice", "overflow", "x[-huge:2] is x[0:2]",
              [] {
                return slice(arange(5), {{-kMax, 2, 1}}).numel() == 2;
              }),
    row("rows", "shapes", "rows: expected a matrix (rank 2), got shape 3", [] { rows(ones({3}), 0, 1); }),
    row("cols", "shapes", "cols: expected a matrix (rank 2), got shape 3", [] { cols(ones({3}), 0, 1); }),
    row("unslice", "shapes", "unslice: the slice of 5 is 2, but the tensor given is 3",
        [] {
          unslice(ones({3}), {5}, {{0, 2, 1}});
        }),
    row("pad", "shapes", "pad: padding [1] before and [1, 1] after for shape 2",
        [] {
          pad(ones({2}), {1}, {1, 1});
        }),
    row("pad", "shapes", "pad: padding [-1] before", [] { pad(ones({2}), {-1}, {0}); }),
    row("pad", "overflow", "pad: 9223372036854775807 before and 9223372036854775807 after axis 0 of shape 2",
        [] { pad(ones({2}), {kMax}, {kMax}); }),
    row("pad", "overflow", "pad: 1 before and 9223372036854775807 after axis 0", [] { pad(ones({2}), {1}, {kMax}); }),
    row("pad", "overflow", "pad: the output would be 4611686018427387906x4611686018427387904: more elements",
        [] {
          pad(ones({2, 0}), {int64_t{1} << 62, int64_t{1} << 62}, {0, 0});
        }),
    row("flip", "shapes", "flip: axis -1 appears twice in [0, -1]",
        [] {
          flip(ones({2}), {0, -1});
        }),
    row("flip", "shapes", "flip: axis 1 is out of range for rank 1", [] { flip(ones({2}), {1}); }),
    // ---- Joining and indexing
    row("concat", "empty", "concat: expected at least one tensor, got none", [] { concat({}); }),
    row("concat", "shapes", "concat: 2x3 float32 does not fit 2x2 float32",
        [] {
          concat({ones({2, 2}), ones({2, 3})});
        }),
    row("concat", "overflow", "concat: 2 tensors along axis 1 make more than an int64 counts",
        [] {
          concat({ones({0, kMax}), ones({0, kMax})}, 1);
        }),
    row("stack", "shapes", "stack: 2 float32 and 3 float32 differ",
        [] {
          stack({ones({2}), ones({3})});
        }),
    row("stack", "dtypes", "stack: 2 float32 and 2 float64 differ",
        [] {
          stack({ones({2}), ones({2}, DType::float64)});
        }),
    row("stack", "shapes", "stack: axis 3 is out of range for rank 2",
        [] {
          stack({ones({2}), ones({2})}, 3);
        }),
    row("stack", "empty", "stack: expected at least one tensor, got none", [] { stack({}); }),
    row("gather", "dtypes", "gather: indices are float32, expected int64", [] { gather(ones({3}), ones({1})); }),
    row("gather", "shapes", "gather: index 3 is out of range for axis 0 of shape 3",
        [] { gather(ones({3}), Tensor({3}, {1}, DType::int64)); }),
    row("scatter_add", "shapes", "scatter_add: values 3 do not match 2 gathered",
        [] {
          scatter_add(ones({3}), Tensor({0, 1}, {2}, DType::int64), 0, {2});
        }),
    row("one_hot", "dtypes", "one_hot: indices are float32, expected int64", [] { one_hot(ones({2}), 3); }),
    row("one_hot", "shapes", "one_hot: depth -1 is negative", [] { one_hot(labels(), -1); }),
    row("one_hot", "overflow", "one_hot: the output would be 0x9223372036854775807x9223372036854775807",
        [] {
          one_hot(Tensor::empty({0, kMax}, DType::int64), kMax);
        }),
    row("expand_dims", "shapes", "expand_dims: axis 3 is out of range for rank 2", [] { expand_dims(ones({2}), 3); }),
    row("squeeze", "shapes", "squeeze: axis 0 of shape 2 has size 2, expected 1", [] { squeeze(ones({2}), {0}); }),
    // ---- Linear algebra
    row("matmul", "shapes", "matmul: 2x3 @ 2x3: a's last axis (3) must equal b's second-to-last (2)",
        [] {
          matmul(ones({2, 3}), ones({2, 3}));
        }),
    row("matmul", "shapes",
        "matmul: transpose_a of a 3 @ b 3x2; expected a transposed operand of rank 2 or more (its last two axes "
        "swap)",
        [] { matmul(ones({3}), ones({3, 2}), {.transpose_a = true}); }),
    row("matmul", "shapes", "matmul: operands scalar and 2; expected at least one axis each",
        [] { matmul(Tensor::scalar(1), ones({2})); }),
    row("matmul", "dtypes", "matmul: 2x2 float32 @ 2x2 float64; expected one dtype",
        [] {
          matmul(ones({2, 2}), ones({2, 2}, DType::float64));
        }),
    row("matmul", "overflow", "matmul: the output would be 1099511627776x1099511627776",
        [] {
          matmul(ones({int64_t{1} << 40, 0}), ones({0, int64_t{1} << 40}));
        }),
    // ---- Losses
    row("mse", "shapes", "mse: prediction 2 and target 3 differ", [] { mse(ones({2}), ones({3})); }),
    row("mse", "dtypes", "mse: expected a float32 or float64 tensor, got 2 int64", [] { mse(labels(), labels()); }),
    row("mse", "empty", "mse: prediction 0 is empty", [] { mse(ones({0}), ones({0})); }),
    row("softmax_cross_entropy", "shapes", "softmax_cross_entropy: logits 2x3 and int64 labels 3",
        [] {
          softmax_cross_entropy(ones({2, 3}), Tensor({0, 1, 2}, {3}, DType::int64));
        }),
    row("softmax_cross_entropy", "shapes", "softmax_cross_entropy: label 3 is out of range for 3 classes",
        [] {
          softmax_cross_entropy(ones({1, 3}), Tensor({3}, {1}, DType::int64));
        }),
    row("softmax_cross_entropy", "dtypes", "softmax_cross_entropy: expected a float32 or float64 tensor, got 1x3 int64",
        [] {
          softmax_cross_entropy(ones({1, 3}, DType::int64), Tensor({0}, {1}, DType::int64));
        }),
    row("softmax_cross_entropy", "empty", "softmax_cross_entropy: logits 0x10 hold no examples",
        [] {
          softmax_cross_entropy(ones({0, 10}), Tensor::empty({0}, DType::int64));
        }),
    row("softmax_cross_entropy", "empty", "softmax_cross_entropy: logits 2x0 have no classes",
        [] {
          softmax_cross_entropy(ones({2, 0}), Tensor({0, 0}, {2}, DType::int64));
        }),
    row("softmax_cross_entropy", "shapes", "softmax_cross_entropy: logits are a scalar",
        [] { softmax_cross_entropy(Tensor::scalar(1), Tensor::scalar(0)); }),
    // ---- Normalization and dropout
    row("batch_norm", "shapes", "batch_norm: mean is 2 float32; expected 3 float32, one value per channel",
        [] {
          batch_norm(ones({2, 3}), ones({2}), ones({3}), ones({3}), ones({3}));
        }),
    row("batch_norm", "shapes", "batch_norm: x is 3; expected at least rank 2 (batch, ..., channels)",
        [] { batch_norm(ones({3}), ones({3}), ones({3}), ones({3}), ones({3})); }),
    row("batch_norm", "dtypes", "batch_norm: x is 2x3 int64; expected a float32 or float64 tensor",
        [] {
          batch_norm(ones({2, 3}, DType::int64), ones({3}), ones({3}), ones({3}), ones({3}));
        }),
    row("batch_norm", "undefined", "batch_norm: x is undefined",
        [] { batch_norm(Tensor(), ones({3}), ones({3}), ones({3}), ones({3})); }),
    row("batch_norm", "undefined", "batch_norm: beta is undefined",
        [] {
          batch_norm(ones({2, 3}), ones({3}), ones({3}), ones({3}), Tensor());
        }),
    row("batch_norm", "nan", "batch_norm: epsilon is nan; expected a finite epsilon >= 0",
        [] {
          batch_norm(ones({2, 3}), ones({3}), ones({3}), ones({3}), ones({3}), kNaN);
        }),
    row("batch_norm", "empty", "batch_norm: x is 0x3; expected at least one row and one channel",
        [] {
          batch_norm(ones({0, 3}), ones({3}), ones({3}), ones({3}), ones({3}));
        }),
    value_row("batch_norm", "nan", "a negative variance gives NaN (the square root of a negative), never masked",
              [] {
                const Tensor y = batch_norm(ones({1, 1}), zeros({1}), Tensor({-1.0}, Shape{1}), ones({1}), zeros({1}));
                return std::isnan(y.item());
              }),
    row("batch_norm_training", "dtypes", "batch_norm_training: gamma is 3 float64; expected 3 float32",
        [] {
          batch_norm_training(ones({2, 3}), ones({3}, DType::float64), ones({3}));
        }),
    row("batch_norm_training", "empty", "batch_norm_training: x is 0x3; expected at least one row and one channel",
        [] {
          batch_norm_training(ones({0, 3}), ones({3}), ones({3}));
        }),
    row("batch_norm_training", "shapes", "batch_norm_training: epsilon is -1; expected a finite epsilon >= 0",
        [] {
          batch_norm_training(ones({2, 3}), ones({3}), ones({3}), -1);
        }),
    value_row("batch_norm_training", "empty", "one example per channel: variance 0, the output is beta, finite",
              [] {
                const BatchNormTrainingResult r = batch_norm_training(ones({1, 2}), ones({2}), zeros({2}));
                const std::vector<double> y = r.output.to_vector();
                return y == std::vector<double>{0.0, 0.0} && r.variance.to_vector() == std::vector<double>{0.0, 0.0};
              }),
    row("dropout", "shapes", "dropout: rate is 1 for x 2; expected 0 <= rate < 1",
        [] {
          Generator g(1);
          dropout(ones({2}), 1.0, g);
        }),
    row("dropout", "nan", "dropout: rate is nan for x 2; expected 0 <= rate < 1",
        [] {
          Generator g(1);
          dropout(ones({2}), kNaN, g);
        }),
    row("dropout", "dtypes", "dropout: x is 2 int64; expected a float32 or float64 tensor",
        [] {
          Generator g(1);
          dropout(ones({2}, DType::int64), 0.5, g);
        }),
    row("dropout", "undefined", "dropout: x is undefined",
        [] {
          Generator g(1);
          dropout(Tensor(), 0.5, g);
        }),
    value_row("dropout", "empty", "rate 0 returns x itself; an empty x gives an empty y",
              [] {
                Generator g(1);
                const Tensor x = ones({2});
                return dropout(x, 0.0, g).id() == x.id() && dropout(ones({0, 3}), 0.5, g).shape() == Shape{0, 3};
              }),
    // ---- Printing
    value_row("operator<<", "undefined", "an undefined tensor prints as (undefined)",
              [] {
                std::ostringstream out;
                out << Tensor();
                return out.str() == "(undefined)";
              }),
});

const bool exempted = census::add(std::vector<census::Exemption>{
    exempt("Shape::dims", "an accessor of a valid shape"),
    exempt("Shape::numel", "an accessor of a valid shape"),
    exempt("Shape::rank", "an accessor of a valid shape"),
    exempt("Shape::str", "prints any valid shape"),
    exempt("Shape::strides", "of any valid shape; they fit, as its sizes other than 0 multiply within int64"),
});

}  // namespace
