// Census rows: convolution and pooling geometry (overflow included), the tape, variables, random
// numbers, threads, gradcheck, anomaly detection, the allocator, and safetensors files.

#include "census.hpp"

#include <cmath>
#include <fstream>
#include <limits>
#include <memory>
#include <span>
#include <thread>

using namespace tapegrad;
using census::exempt;
using census::row;
using census::value_row;

namespace {

constexpr int64_t kMax = INT64_MAX;
constexpr int64_t k2e62 = int64_t{1} << 62;
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

Tensor image() { return ones({1, 5, 5, 1}); }
Tensor kernel2() { return ones({2, 2, 1, 1}); }
Conv2DOptions conv(std::array<int64_t, 2> strides, std::array<int64_t, 2> dilations, Padding padding = {}) {
  return {.strides = {strides[0], strides[1]}, .padding = padding, .dilation_rate = {dilations[0], dilations[1]}};
}
Tensor f32(std::initializer_list<double> v, const Shape& shape) { return Tensor(v, shape); }
// The explorer's options with tapegrad's own layout: no Graphviz run for a page an error stops.
HtmlOptions builtin_layout() {
  HtmlOptions options;
  options.layout = GraphLayout::builtin;
  return options;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

const bool registered = census::add({
    // ---- Convolution: shapes, dtypes, and the overflow of its integer geometry
    row("corr2d", "shapes", "corr2d: kernel 3x3 is larger than input 2x5",
        [] {
          corr2d(ones({2, 5}), ones({3, 3}));
        }),
    row("corr2d", "empty", "corr2d: kernel 0x2 is empty",
        [] {
          corr2d(ones({3, 3}), ones({0, 2}));
        }),
    row("corr2d", "dtypes", "corr2d: input is 3x3 float32 but kernel is 2x2 float64",
        [] {
          corr2d(ones({3, 3}), ones({2, 2}, DType::float64));
        }),
    row("conv2d", "shapes", "conv2d: input is 5x5, expected rank 4",
        [] {
          conv2d(ones({5, 5}), kernel2());
        }),
    row("conv2d", "shapes", "conv2d: input 1x5x5x1 has 1 channels but kernel 2x2x3x1 expects 3",
        [] {
          conv2d(image(), ones({2, 2, 3, 1}));
        }),
    row("conv2d", "dtypes", "conv2d: expected float32 or float64 tensors, got int64",
        [] {
          conv2d(ones({1, 5, 5, 1}, DType::int64), ones({2, 2, 1, 1}, DType::int64));
        }),
    row("conv2d", "empty", "conv2d: kernel 0x2x1x1 is empty",
        [] {
          conv2d(image(), ones({0, 2, 1, 1}));
        }),
    row("conv2d", "shapes", "conv2d: strides 0x1 and dilation_rate 1x1; expected each at least 1",
        [] {
          conv2d(image(), kernel2(), conv({0, 1}, {1, 1}));
        }),
    row("conv2d", "shapes", "conv2d: padding -1, 0, 0, 0; expected non-negative sizes",
        [] {
          conv2d(image(), kernel2(), conv({1, 1}, {1, 1}, Padding::explicit_sides(-1, 0, 0, 0)));
        }),
    row("conv2d", "shapes", "conv2d: kernel 2x2 (dilated 6x6) is larger than the padded input 5x5",
        [] {
          conv2d(image(), kernel2(), conv({1, 1}, {5, 5}));
        }),
    row("conv2d", "overflow", "conv2d: kernel 2x2 dilated by 9223372036854775807x9223372036854775807 spans more pixels",
        [] {
          conv2d(image(), kernel2(), conv({1, 1}, {kMax, kMax}));
        }),
    row("conv2d", "overflow", "conv2d: kernel 2x2 dilated by 9223372036854775807x9223372036854775807 spans more pixels",
        [] {
          conv2d(image(), kernel2(), conv({1, 1}, {kMax, kMax}, Padding::same()));
        }),
    value_row("conv2d", "overflow", "strides INT64_MAX: a 1x1 output (the first window), as TensorFlow",
              [] {
                return conv2d(image(), kernel2(), conv({kMax, kMax}, {1, 1})).shape() == Shape{1, 1, 1, 1};
              }),
    value_row(
        "conv2d", "overflow", "strides INT64_MAX with \"same\" padding: a 1x1 output",
        [] {
          return conv2d(image(), kernel2(), conv({kMax, kMax}, {1, 1}, Padding::same())).shape() == Shape{1, 1, 1, 1};
        }),
    row("conv2d", "overflow", "conv2d: input 5x5 padded by 4611686018427387904, 4611686018427387904",
        [] {
          conv2d(image(), kernel2(), conv({1, 1}, {1, 1}, Padding::uniform(k2e62)));
        }),
    row("conv2d", "overflow", "conv2d: input 5x5 padded by 9223372036854775807, 0",
        [] {
          conv2d(image(), kernel2(), conv({1, 1}, {1, 1}, Padding::explicit_sides(kMax, 0, 0, 0)));
        }),
    row("conv2d", "overflow", "conv2d: the padded input would be 1x",
        [] {
          conv2d(image(), kernel2(), conv({1, 1}, {1, 1}, Padding::uniform(int64_t{1} << 40)));
        }),
    row("conv2d", "overflow", "conv2d: the padded input would be 1x",
        [] {
          conv2d(image(), kernel2(),
                 conv({1, 1}, {int64_t{1} << 40, int64_t{1} << 40}, Padding::uniform(int64_t{1} << 39)));
        }),
    row("conv2d_backprop_input", "shapes",
        "conv2d_backprop_input: gradient is 1x3x3x1, expected the output shape 1x4x4x1",
        [] {
          conv2d_backprop_input(ones({1, 3, 3, 1}), kernel2(), {1, 5, 5, 1});
        }),
    row("conv2d_backprop_input", "overflow", "conv2d_backprop_input: kernel 2x2 dilated by",
        [] {
          conv2d_backprop_input(ones({1, 1, 1, 1}), kernel2(), {1, 5, 5, 1}, conv({1, 1}, {kMax, 1}));
        }),
    row("conv2d_backprop_filter", "shapes", "conv2d_backprop_filter: gradient is 1x3x3x1, expected the output shape",
        [] {
          conv2d_backprop_filter(image(), ones({1, 3, 3, 1}), {2, 2, 1, 1});
        }),
    row("conv2d_backprop_filter", "overflow", "conv2d_backprop_filter: input 5x5 padded by",
        [] {
          conv2d_backprop_filter(image(), ones({1, 1, 1, 1}), {2, 2, 1, 1},
                                 conv({1, 1}, {1, 1}, Padding::explicit_sides(0, kMax, 0, 0)));
        }),
    // ---- Pooling
    row("max_pool2d", "shapes", "max_pool2d: input is 5x5, expected rank 4",
        [] {
          max_pool2d(ones({5, 5}));
        }),
    row("max_pool2d", "dtypes", "max_pool2d: expected a float32 or float64 tensor, got int64",
        [] {
          max_pool2d(ones({1, 4, 4, 1}, DType::int64));
        }),
    row("max_pool2d", "shapes", "max_pool2d: pool_size 0x2; expected at least 1x1",
        [] {
          max_pool2d(image(), {{0, 2}, OptionalSize2{}, Padding::valid()});
        }),
    row("max_pool2d", "overflow", "max_pool2d: the window would be",
        [] {
          max_pool2d(ones({1, 5, 5, 0}), {{kMax, kMax}, OptionalSize2{}, Padding::valid()});
        }),
    row("max_pool2d", "overflow", "max_pool2d: padding (top 9223372036854775807, bottom 9223372036854775807,",
        [] {
          max_pool2d(image(), {{2, 2}, OptionalSize2{}, Padding::uniform(kMax)});
        }),
    value_row("max_pool2d", "nan", "max_pool2d of [1, NaN, 1, 1] is NaN, as PyTorch (wherever the NaN is)",
              [] {
                return std::isnan(max_pool2d(f32({1, kNaN, 1, 1}, {1, 2, 2, 1})).item()) &&
                       std::isnan(max_pool2d(f32({kNaN, 1, 1, 1}, {1, 2, 2, 1})).item()) &&
                       std::isnan(max_pool2d(f32({1, 1, 1, kNaN}, {1, 2, 2, 1})).item());
              }),
    value_row("max_pool2d", "nan", "max_pool2d (reference path, a 9x9 window) of a window holding NaN is NaN",
              [] {
                Tensor x = ones({1, 9, 9, 1}).with({all, {4, 5}, {4, 5}, all}, kNaN);
                return std::isnan(max_pool2d(x, {{9, 9}, OptionalSize2{}, Padding::valid()}).item());
              }),
    value_row("max_pool2d_backprop", "nan", "the gradient of max_pool2d reaches the window's first NaN",
              [] {
                const Tensor dx = max_pool2d_backprop(ones({1, 1, 1, 1}), f32({1, kNaN, 5, kNaN}, {1, 2, 2, 1}));
                return dx.to_vector() == std::vector<double>{0, 1, 0, 0};
              }),
    value_row(
        "max_pool2d_select", "nan", "max_pool2d_select picks the values at the window's first NaN",
        [] {
          const Tensor out = max_pool2d_select(f32({10, 20, 30, 40}, {1, 2, 2, 1}), f32({1, 5, kNaN, 9}, {1, 2, 2, 1}));
          return out.item() == 30;
        }),
    row("max_pool2d_backprop", "shapes", "max_pool2d_backprop: gradient is 1x3x3x1, expected the output shape 1x2x2x1",
        [] {
          max_pool2d_backprop(ones({1, 3, 3, 1}), ones({1, 4, 4, 1}));
        }),
    row("max_pool2d_select", "shapes", "max_pool2d_select: values 1x2x2x1 and input 1x4x4x1; expected one shape",
        [] {
          max_pool2d_select(ones({1, 2, 2, 1}), ones({1, 4, 4, 1}));
        }),
    row("avg_pool2d", "shapes", "avg_pool2d: input is 4, expected rank 4", [] { avg_pool2d(ones({4})); }),
    row("avg_pool2d", "shapes", "avg_pool2d: kernel 3x3 (dilated 3x3) is larger than the padded input 2x2",
        [] {
          avg_pool2d(ones({1, 2, 2, 1}), {{3, 3}, OptionalSize2{}, Padding::valid()});
        }),
    row("avg_pool2d_backprop", "shapes", "avg_pool2d_backprop: gradient is 1x1x1x1, expected the output shape 1x2x2x1",
        [] {
          avg_pool2d_backprop(ones({1, 1, 1, 1}), {1, 4, 4, 1});
        }),
    // ---- The tape, and misusing it
    row("GradientTape::gradient", "tape",
        "GradientTape::gradient: this tape is not persistent and has computed a gradient already",
        [] {
          const Tensor x = ones({2});
          GradientTape tape;
          tape.watch(x);
          const Tensor y = sum(x * x);
          tape.gradient(y, x);
          tape.gradient(y, x);
        }),
    row("GradientTape::gradient", "dtypes", "GradientTape::gradient: target is 2 int64, expected a float tensor",
        [] {
          GradientTape tape;
          tape.gradient(Tensor({1, 2}, {2}, DType::int64), ones({2}));
        }),
    row("GradientTape::gradient", "dtypes", "GradientTape::gradient: source 1 of 1 is 3 int64, an integer tensor",
        [] {
          const Tensor labels({1, 2, 3}, {3}, DType::int64);
          GradientTape tape;
          tape.gradient(sum(labels.to(DType::float32)), labels);
        }),
    row("GradientTape::gradient", "shapes",
        "GradientTape::gradient: output_gradients is 3 float32, expected the target's 2",
        [] {
          const Tensor x = ones({2});
          GradientTape tape;
          tape.watch(x);
          GradientOptions options;
          options.output_gradients = ones({3});
          tape.gradient(x * 2.0, x, options);
        }),
    row("GradientTape::gradient", "undefined", "GradientTape::gradient: the target is an undefined tensor",
        [] {
          GradientTape tape;
          tape.gradient(Tensor(), ones({2}));
        }),
    value_row("GradientTape::gradient", "tape",
              "an unconnected source gets an undefined gradient, as TensorFlow's None",
              [] {
                const Tensor x = ones({2}), z = ones({2});
                GradientTape tape;
                tape.watch(x);
                return !tape.gradient(sum(z * 2.0), x).defined();
              }),
    row("GradientTape::watch", "dtypes", "GradientTape::watch: tensor 3 int64 is an integer tensor",
        [] {
          GradientTape tape;
          tape.watch(Tensor({1, 2, 3}, {3}, DType::int64));
        }),
    row("GradientTape::watch", "dtypes", "GradientTape::watch: variable 'step' (scalar int64) is an integer variable",
        [] {
          GradientTape tape;
          tape.watch(Variable(Tensor::scalar(3, DType::int64), "step"));
        }),
    row("GradientTape::watch", "undefined", "GradientTape::watch: the tensor is undefined",
        [] {
          GradientTape tape;
          tape.watch(Tensor());
        }),
    row("GradientTape::jacobian", "tape", "GradientTape::jacobian: this tape is not persistent",
        [] {
          const Tensor x = ones({2});
          GradientTape tape;
          tape.watch(x);
          const Tensor y = x * 2.0;
          tape.gradient(y, x);
          tape.jacobian(y, x);
        }),
    row("GradientTape::jacobian", "dtypes", "GradientTape::jacobian: source 1 of 1 is 2 int64",
        [] {
          GradientTape tape({.persistent = true});
          tape.jacobian(ones({2}), Tensor({1, 2}, {2}, DType::int64));
        }),
    row("GradientTape::batch_jacobian", "shapes",
        "GradientTape::batch_jacobian: target 2x3 and source 3x2; expected one batch size",
        [] {
          const Tensor x = ones({3, 2});
          GradientTape tape({.persistent = true});
          tape.watch(x);
          tape.batch_jacobian(ones({2, 3}), x);
        }),
    row("GradientTape::GradientTape", "tape", "GradientTape::gradient: this tape is not persistent",
        [] {
          const Tensor x = ones({1});
          GradientTape tape({.persistent = false});
          tape.watch(x);
          const Tensor y = x * 3.0;
          tape.gradient(y, x);
          tape.gradient(y, x);
        }),
    value_row("GradientTape::reset", "tape", "a reset tape forgets what it watched and records again",
              [] {
                const Tensor x = ones({2});
                GradientTape tape({.persistent = true});
                tape.watch(x);
                tape.reset();
                return !tape.watches(x.id()) && tape.entries().empty();
              }),
    value_row("StopRecording::StopRecording", "tape", "nothing is recorded inside StopRecording",
              [] {
                const Tensor x = ones({2});
                GradientTape tape;
                tape.watch(x);
                {
                  StopRecording pause;
                  (void)(x * 2.0);
                }
                return tape.entries().empty();
              }),
    value_row("any_tape_tracks", "tape", "a tensor no tape watches is not tracked",
              [] {
                GradientTape tape;
                return !any_tape_tracks(ones({2}));
              }),
    value_row("GradientTape::producer", "tape", "an id no entry made has producer -1",
              [] {
                GradientTape tape;
                return tape.producer(12345) == -1;
              }),
    value_row("GradientTape::label", "tape", "an id not watched has the label \"\"",
              [] {
                GradientTape tape;
                return tape.label(12345).empty();
              }),
    row("Source::Source", "undefined", "Source: an undefined tensor has no gradient to ask for",
        [] { (void)Source{Tensor()}; }),
    row("Source::Source", "undefined", "Variable: used an empty variable handle", [] { (void)Source{Variable()}; }),
    value_row("to_dot", "tape", "an empty tape's graph is a valid, empty digraph",
              [] {
                GradientTape tape;
                return to_dot(tape).find("digraph") != std::string::npos;
              }),
    row("to_dot", "undefined", "to_dot: the target is an undefined tensor",
        [] {
          GradientTape tape;
          to_dot(tape, Tensor(), std::span<const Source>());
        }),
    row("to_html", "tape", "to_html: the target (2 float32) is not an output of the tape's 1 entries",
        [] {
          const Tensor x = ones({2});
          GradientTape tape;
          tape.watch(x, "x");
          (void)(x * 2.0);
          to_html(tape, ones({2}), {x}, builtin_layout());
        }),
    row("to_html", "undefined", "to_html: the target is an undefined tensor",
        [] {
          GradientTape tape;
          to_html(tape, Tensor(), std::span<const Source>(), builtin_layout());
        }),
    row("to_html", "dtypes", "to_html: target is 2 int64, expected a float tensor",
        [] {
          GradientTape tape;
          to_html(tape, ones({2}, DType::int64), std::span<const Source>(), builtin_layout());
        }),
    row("save_html", "data files", "save_html: /nonexistent-folder/tape.html: ",
        [] {
          const Tensor x = ones({2});
          GradientTape tape;
          tape.watch(x, "x");
          const Tensor y = x * 2.0;
          save_html("/nonexistent-folder/tape.html", tape, y, {x}, builtin_layout());
        }),
    row("save_html", "tape", "save_html: the target (2 float32) is not an output of the tape's 0 entries",
        [] {
          GradientTape tape;
          save_html(census::scratch("tape.html"), tape, ones({2}), std::span<const Source>(), builtin_layout());
        }),
    value_row("NameScope::NameScope", "tape", "a scope opened while no tape records is harmless; tapes after it record",
              [] {
                const Tensor x = ones({2});
                {
                  const NameScope scope("nothing to group");
                  (void)(x * 2.0);
                }
                GradientTape tape;
                tape.watch(x, "x");
                const Tensor y = x * 2.0;
                return tape.producer(y.id()) == 0;
              }),
    value_row("NameScope::NameScope", "tape", "a scope that outlives its tape leaves nothing dangling",
              [] {
                const Tensor x = ones({2});
                auto tape = std::make_unique<GradientTape>();
                const NameScope scope("outlives");
                tape->watch(x, "x");
                (void)(x * 2.0);
                tape.reset();
                GradientTape next;
                next.watch(x, "x");
                const Tensor y = x * 3.0;
                return next.producer(y.id()) == 0;
              }),
    // ---- Variables
    row("Variable::Variable", "undefined", "Variable 'w': the initial value is an undefined tensor",
        [] { Variable(Tensor(), "w"); }),
    row("Variable::read", "undefined", "Variable: used an empty variable handle", [] { Variable().read(); }),
    row("Variable::value", "undefined", "Variable: used an empty variable handle", [] { Variable().value(); }),
    row("Variable::operatorTensor", "undefined", "Variable: used an empty variable handle",
        [] { Tensor t = Variable(); }),
    row("Variable::name", "undefined", "Variable: used an empty variable handle", [] { Variable().name(); }),
    row("Variable::trainable", "undefined", "Variable: used an empty variable handle", [] { Variable().trainable(); }),
    row("Variable::id", "undefined", "Variable: used an empty variable handle", [] { Variable().id(); }),
    row("Variable::shape", "undefined", "Variable: used an empty variable handle", [] { Variable().shape(); }),
    row("Variable::dtype", "undefined", "Variable: used an empty variable handle", [] { Variable().dtype(); }),
    row("Variable::assign", "shapes", "Variable::assign: 'w' is 2 float32, got 3 float32",
        [] { Variable(ones({2}), "w").assign(ones({3})); }),
    row("Variable::assign", "dtypes", "Variable::assign: 'w' is 2 float32, got 2 float64",
        [] { Variable(ones({2}), "w").assign(ones({2}, DType::float64)); }),
    row("Variable::assign", "undefined", "Variable::assign: 'w' is 2 float32, got undefined",
        [] { Variable(ones({2}), "w").assign(Tensor()); }),
    row("Variable::assign_sub", "undefined", "Variable::assign_sub: 'w' is 2 float32, got a delta undefined",
        [] { Variable(ones({2}), "w").assign_sub(Tensor()); }),
    row("Variable::assign_sub", "shapes", "Variable::assign_sub: 'w' is 2 float32, got a delta 2x2 float32",
        [] {
          Variable(ones({2}), "w").assign_sub(ones({2, 2}));
        }),
    row("Variable::assign_add", "dtypes", "Variable::assign_add: 'w' is 2 float32, got a delta 2 float64",
        [] { Variable(ones({2}), "w").assign_add(ones({2}, DType::float64)); }),
    row("Variable::assign_add", "shapes", "Variable::assign_add: shapes 2 and 3 do not broadcast",
        [] { Variable(ones({2}), "w").assign_add(ones({3})); }),
    value_row("Variable::defined", "undefined", "an empty handle is not defined", [] { return !Variable().defined(); }),
    // ---- Random numbers
    row("random_normal", "nan", "random_normal: mean nan and stddev 1; expected finite numbers",
        [] {
          Generator g(1);
          random_normal({2}, g, kNaN);
        }),
    row("random_normal", "nan", "random_normal: mean 0 and stddev inf",
        [] {
          Generator g(1);
          random_normal({2}, g, 0, kInf);
        }),
    row("random_normal", "shapes", "random_normal: mean 0 and stddev -1",
        [] {
          Generator g(1);
          random_normal({2}, g, 0, -1);
        }),
    row("random_normal", "dtypes", "random_normal: ",
        [] {
          Generator g(1);
          random_normal({2}, g, 0, 1, DType::int64);
        }),
    row("random_uniform", "shapes", "random_uniform: low 1 and high 0",
        [] {
          Generator g(1);
          random_uniform({2}, g, 1, 0);
        }),
    row("random_uniform", "nan", "random_uniform: low -inf and high 0",
        [] {
          Generator g(1);
          random_uniform({2}, g, -kInf, 0);
        }),
    row("Generator::below", "shapes", "Generator::below: bound must be positive", [] { Generator(1).below(0); }),
    row("Generator::fill", "undefined", "Generator::fill: words is a null pointer for 2 words",
        [] { Generator(1).fill(nullptr, 2); }),
    row("Generator::fill", "shapes", "Generator::fill: count is -1, expected a count >= 0",
        [] {
          uint64_t word = 0;
          Generator(1).fill(&word, -1);
        }),
    value_row("Generator::fill", "empty", "0 words: nothing written, nothing drawn; else next_u64's numbers",
              [] {
                Generator g(1), h(1);
                g.fill(nullptr, 0);
                uint64_t words[2] = {0, 0};
                g.fill(words, 2);
                return words[0] == h.next_u64() && words[1] == h.next_u64();
              }),
    // ---- Threads
    row("set_num_threads", "threads", "set_num_threads: 0 threads; expected 1 to 1024", [] { set_num_threads(0); }),
    row("set_num_threads", "threads", "set_num_threads: 1048576 threads; expected 1 to 1024",
        [] { set_num_threads(1 << 20); }),
    row("set_num_threads", "threads", "set_num_threads: -3 threads", [] { set_num_threads(-3); }),
    // ---- gradcheck and anomaly detection
    row("gradcheck", "undefined", "gradcheck: input 1 of 1 is an undefined tensor",
        [] { gradcheck([](const std::vector<Tensor>& x) { return x[0]; }, {Tensor()}); }),
    row("gradcheck", "dtypes", "gradcheck: the function must return a float64 tensor",
        [] { gradcheck([](const std::vector<Tensor>& x) { return x[0].to(DType::float32); }, {ones({2})}); }),
    row("DetectAnomaly::DetectAnomaly", "nan", "DetectAnomaly: the forward of 'log' (tape entry [0]) produced -inf",
        [] {
          const Tensor x = f32({1, 0}, {2});
          DetectAnomaly anomaly;
          GradientTape tape;
          tape.watch(x, "x");
          log(x);
        }),
    row("DetectAnomaly::DetectAnomaly", "nan", "DetectAnomaly: the backward of 'sqrt' (the gradient of tape entry [0]",
        [] {
          const Tensor x = f32({0, 1}, {2});
          DetectAnomaly anomaly;
          GradientTape tape;
          tape.watch(x, "x");
          const Tensor y = sum(sqrt(x) * 0.0);
          tape.gradient(y, x);
        }),
    value_row("anomaly_detection_enabled", "nan", "on inside a DetectAnomaly scope, off after it",
              [] {
                bool inside = false;
                {
                  DetectAnomaly anomaly;
                  inside = anomaly_detection_enabled();
                }
                return inside && !anomaly_detection_enabled();
              }),
    // ---- The allocator
    row("allocate", "overflow", "allocate: 18446744073709551607 bytes is more than the allocator serves",
        [] {
          size_t block = 0;
          allocate(SIZE_MAX - 8, &block);
        }),
    row("Tensor::empty", "overflow", "Tensor: 2305843009213693952 float32 is more than the 2^62 bytes",
        [] { Tensor::empty({int64_t{1} << 61}, DType::float32); }),
    row("zeros", "overflow", "Tensor: 4611686018427387872 float32 has more bytes than memory addresses",
        [] { zeros({(int64_t{1} << 62) - 32}); }),
    // ---- safetensors files
    row("save", "undefined", "save: ",
        [] {
          save(census::scratch("u.safetensors"), {{"w", Tensor()}});
        }),
    row("save", "shapes", "save: ",
        [] {
          save(census::scratch("e.safetensors"), {{"", ones({2})}});
        }),
    row("save", "data files", "save: ",
        [] {
          save("/nonexistent-folder/x.safetensors", {{"w", ones({2})}});
        }),
    row("to_safetensors", "undefined", "save: ",
        [] {
          to_safetensors({{"w", Tensor()}});
        }),
    row("load", "data files", "/nonexistent-folder/x.safetensors: ", [] { load("/nonexistent-folder/x.safetensors"); }),
    row("load_file", "data files", "",
        [] {
          const std::string path = census::scratch("short.safetensors");
          write_bytes(path, "abc");
          try {
            load_file(path);
          } catch (const Error& e) {
            if (std::string(e.what()).rfind(path + ": ", 0) == 0) throw;
            throw Error("the message does not name the file: " + std::string(e.what()));
          }
        }),
    row("parse_safetensors", "data files", "mem: ",
        [] {
          const std::string bytes = "\x08\0\0\0\0\0\0\0{\"a\":1} ";
          parse_safetensors(std::as_bytes(std::span(bytes.data(), bytes.size())), "mem");
        }),
    row("Checkpoint::set", "checkpoints", "Checkpoint::set: part name 'a/b' must be non-empty and without '/'",
        [] {
          Checkpoint().set("a/b", {{"w", ones({2})}});
        }),
    row("Checkpoint::get", "checkpoints", "Checkpoint: no part 'model'", [] { Checkpoint().get("model"); }),
    value_row("Checkpoint::has", "checkpoints", "an empty checkpoint has no part",
              [] { return !Checkpoint().has("x"); }),
    row("Checkpoint::save", "checkpoints", "save: ",
        [] {
          Checkpoint c;
          c.set("model", {{"w", Tensor()}});
          c.save(census::scratch("c.safetensors"));
        }),
    row("Checkpoint::load", "checkpoints", "",
        [] {
          const std::string path = census::scratch("plain.safetensors");
          save(path, {{"w", ones({2})}});
          try {
            Checkpoint::load(path);
          } catch (const Error& e) {
            if (std::string(e.what()).rfind(path + ": tensor 'w' belongs to no part", 0) == 0) throw;
            throw Error("unexpected: " + std::string(e.what()));
          }
        }),
});

const bool exempted = census::add(std::vector<census::Exemption>{
    exempt("Error::Error", "makes an exception from any message"),
    exempt("fail", "throws an Error from any message: that is its whole job"),
    exempt("dtype_name", "names each DType; takes no input a caller builds by hand"),
    exempt("dtype_size", "a size per DType"),
    exempt("is_floating", "true or false for any DType"),
    exempt("dtype_of", "a compile-time mapping; another type is a static_assert"),
    exempt("dispatch", "calls its function for each DType"),
    exempt("dispatch_floating", "its int64 error is covered through every op's int64 row"),
    exempt("Tensor::defined", "true or false for any handle, undefined included"),
    exempt("Tensor::unique", "true or false for any handle, undefined included"),
    exempt("Tensor::copy_of_own", "any handle, undefined included, copies"),
    exempt("Padding::valid", "makes a constant"),
    exempt("Padding::same", "makes a constant"),
    exempt("Padding::explicit_sides", "any sides; conv2d's rows check them (negative, overflow)"),
    exempt("Padding::uniform", "any sides; conv2d's rows check them (negative, overflow)"),
    exempt("Padding::Padding", "any sides; conv2d's rows check them (negative, overflow)"),
    exempt("Size2::Size2", "any sizes; conv2d's and max_pool2d's rows check them (below 1, overflow)"),
    exempt("Size2::operator[]", "an accessor: height for 0, width otherwise"),
    exempt("Size2::operator==", "compares any two"),
    exempt("OptionalSize2::OptionalSize2", "any sizes, or none; the pooling rows check them"),
    exempt("Source::id", "an accessor of a made source"),
    exempt("Source::shape", "an accessor of a made source"),
    exempt("Source::dtype", "an accessor of a made source"),
    exempt("GradientTape::entries", "an accessor: the list of entries"),
    exempt("GradientTape::options", "an accessor: the options given"),
    exempt("GradientTape::recording", "an accessor: true or false"),
    exempt("GradientTape::watched", "an accessor: the watched ids"),
    exempt("GradientTape::watches", "true or false for any id"),
    exempt("active_tapes", "an accessor of this thread's tapes"),
    exempt("Generator::Generator", "every 64-bit seed is a seed"),
    exempt("Generator::next_u64", "no input"),
    exempt("Generator::uniform", "no input"),
    exempt("Generator::normal", "no input"),
    exempt("GradcheckResult::summary", "prints any result"),
    exempt("num_threads", "no input"),
    exempt("differentiable_ops", "no input"),
    exempt("allocator_stats", "no input"),
    exempt("release_cached_memory", "no input"),
    exempt("deallocate", "takes back what allocate gave; its contract is allocate's block and size"),
    exempt("next_id", "no input (internal, declared for the tape)"),
});

}  // namespace
