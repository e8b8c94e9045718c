// The tape a learner reads: fmt::format("{}", tape), to_string with values, the backward trace
// and the Graphviz DOT output, each checked against text written out by hand.

#include <tapegrad/tapegrad.hpp>
#include "autograd/ops/record.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "tests/skip.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

using namespace tapegrad;

namespace {

// Counts the (non-overlapping) occurrences of `needle` in `text`.
size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// The text up to the first newline.
std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

TEST_CASE("printing: the tape of y = (x*w + b)^2") {
  // x = [1, 2], w = [3, -1], b = 0.5: x*w = [3, -2], + b = [3.5, -1.5], squared = [12.25, 2.25].
  const Tensor x({1, 2}, {2});
  const Tensor w({3, -1}, {2});
  const Tensor b = Tensor::scalar(0.5);
  GradientTape tape;
  tape.watch(x, "x");
  tape.watch(w, "w");
  tape.watch(b, "b");
  const Tensor y = square(x * w + b);

  SUBCASE("fmt::format(\"{}\", tape): one numbered line per entry, in execution order") {
    CHECK(fmt::format("{}", tape) == "GradientTape (3 entries)\n"
                                     "  [0] mul(x 2, w 2) -> 2 float32\n"
                                     "  [1] add([0], b scalar) -> 2 float32\n"
                                     "  [2] square([1]) -> 2 float32");
    CHECK(fmt::format("{}", tape) == to_string(tape));
  }
  SUBCASE("with values: each entry's output under it") {
    CHECK(to_string(tape, {.values = true}) == "GradientTape (3 entries)\n"
                                               "  [0] mul(x 2, w 2) -> 2 float32\n"
                                               "        = [3, -2]\n"
                                               "  [1] add([0], b scalar) -> 2 float32\n"
                                               "        = [3.5, -1.5]\n"
                                               "  [2] square([1]) -> 2 float32\n"
                                               "        = [12.25, 2.25]");
  }
  SUBCASE("trace: one text per backward step, in reverse entry order, then the sources' gradients") {
    // dy/d[1] = 2 [3.5, -1.5] = [7, -3]; add passes it on (b sums it: 4); mul gives [7, -3] * w and * x.
    std::vector<std::string> steps;
    GradientOptions options;
    options.trace = [&](const std::string& step) { steps.push_back(step); };
    const auto grads = tape.gradient(y, {x, w, b}, options);
    REQUIRE(steps.size() == 4);
    CHECK(first_line(steps[0]) == "backward [2] square: upstream [1, 1]");
    CHECK(steps[0] == "backward [2] square: upstream [1, 1]\n"
                      "    -> d/d [1] = [7, -3]\n"
                      "    totals: [1] = [7, -3]");
    CHECK(steps[1] == "backward [1] add: upstream [7, -3]\n"
                      "    -> d/d [0] = [7, -3]\n"
                      "    -> d/d b scalar = 4\n"
                      "    totals: [0] = [7, -3]; b = 4");
    CHECK(steps[2] == "backward [0] mul: upstream [7, -3]\n"
                      "    -> d/d x 2 = [21, 3]\n"
                      "    -> d/d w 2 = [7, -6]\n"
                      "    totals: x = [21, 3]; w = [7, -6]");
    CHECK(steps[3] == "gradients: x = [21, 3]; w = [7, -6]; b = 4");
    CHECK(grads[0].to_vector() == std::vector<double>{21, 3});
    CHECK(grads[1].to_vector() == std::vector<double>{7, -6});
    CHECK(grads[2].item() == 4);
  }
  SUBCASE("trace: inputs that lead to no requested source are hidden, or \"(not needed)\" when asked") {
    std::vector<std::string> steps;
    GradientOptions options;
    options.trace = [&](const std::string& step) { steps.push_back(step); };
    GradientTape again({.persistent = true});
    again.watch(x, "x");
    again.watch(w, "w");
    again.watch(b, "b");
    const Tensor y2 = square(x * w + b);
    again.gradient(y2, x, options);
    REQUIRE(steps.size() == 4);
    CHECK(steps[1] == "backward [1] add: upstream [7, -3]\n"
                      "    -> d/d [0] = [7, -3]\n"
                      "    totals: [0] = [7, -3]");
    CHECK(steps[2] == "backward [0] mul: upstream [7, -3]\n"
                      "    -> d/d x 2 = [21, 3]\n"
                      "    totals: x = [21, 3]");
    CHECK(steps[3] == "gradients: x = [21, 3]");
    steps.clear();
    options.trace_options.not_needed = true;
    again.gradient(y2, x, options);
    REQUIRE(steps.size() == 4);
    CHECK(steps[1] == "backward [1] add: upstream [7, -3]\n"
                      "    -> d/d [0] = [7, -3]\n"
                      "    -> d/d b scalar = (not needed)\n"
                      "    totals: [0] = [7, -3]");
    CHECK(steps[2] == "backward [0] mul: upstream [7, -3]\n"
                      "    -> d/d x 2 = [21, 3]\n"
                      "    -> d/d w 2 = (not needed)\n"
                      "    totals: x = [21, 3]");
  }
  SUBCASE("to_dot: a digraph with one box per entry, an edge from each input, labelled when the op has several") {
    const std::string dot = to_dot(tape);
    CHECK(dot.starts_with("digraph"));
    CHECK(dot.ends_with("}\n"));
    CHECK(count(dot, "{") == 1);
    CHECK(count(dot, "}") == 1);
    CHECK(count(dot, "\"") % 2 == 0);
    CHECK(count(dot, "shape=box") == 3);
    CHECK(count(dot, " -> ") == 5);  // mul: 2 inputs, add: 2, square: 1
    CHECK(dot.find("e0 [shape=box, id=\"e0\", label=\"[0] mul\\n2 float32\"];") != std::string::npos);
    CHECK(dot.find("e1 [shape=box, id=\"e1\", label=\"[1] add\\n2 float32\"];") != std::string::npos);
    CHECK(dot.find("e2 [shape=box, id=\"e2\", label=\"[2] square\\n2 float32\"];") != std::string::npos);
    CHECK(dot.find("  e0 -> e1 [label=\"0\"];\n") != std::string::npos);
    CHECK(dot.find("  e1 -> e2;\n") != std::string::npos);  // square has one operand: no label
    CHECK(dot.find(fmt::format("  t{} -> e0 [label=\"0\"];\n", x.id())) != std::string::npos);
    CHECK(dot.find(fmt::format("  t{} -> e0 [label=\"1\"];\n", w.id())) != std::string::npos);
    CHECK(dot.find(fmt::format("  t{} -> e1 [label=\"1\"];\n", b.id())) != std::string::npos);
    CHECK(dot.find("label=\"x 2\"") != std::string::npos);
    CHECK(dot.find("label=\"b scalar\"") != std::string::npos);
    // Every line between the braces is a statement ending in ';'.
    const std::string body = dot.substr(dot.find('{') + 2, dot.rfind('}') - dot.find('{') - 2);
    size_t start = 0;
    while (start < body.size()) {
      const size_t end = body.find('\n', start);
      const std::string line = body.substr(start, end - start);
      INFO("line: ", line);
      CHECK(line.ends_with(";"));
      start = end == std::string::npos ? body.size() : end + 1;
    }
  }
  SUBCASE("to_dot with values, and with the target, the sources and their adjoints marked") {
    const std::string with_values = to_dot(tape, {.values = true});
    CHECK(with_values.find("label=\"[1] add\\n2 float32\\n= [3.5, -1.5]\"") != std::string::npos);
    CHECK(with_values.find("label=\"x 2\\n= [1, 2]\"") != std::string::npos);
    const std::string dot = to_dot(tape, y, {x, w});
    // The target: a double border; the sources: filled; each node on the path: its adjoint.
    CHECK(dot.find("e2 [shape=box, peripheries=2, color=\"#c0392b\", id=\"e2\", label=\"[2] square\\n2 "
                   "float32\\ngrad [1, 1]\"];") != std::string::npos);
    CHECK(dot.find("label=\"[1] add\\n2 float32\\ngrad [7, -3]\"") != std::string::npos);
    CHECK(dot.find("label=\"[0] mul\\n2 float32\\ngrad [7, -3]\"") != std::string::npos);
    CHECK(dot.find(fmt::format("t{} [shape=ellipse, style=\"bold,filled\", fillcolor=\"#d8ecff\", id=\"t{}\", "
                               "label=\"x 2\\ngrad [21, 3]\"];",
                               x.id(), x.id())) != std::string::npos);
    CHECK(dot.find("label=\"w 2\\ngrad [7, -6]\"") != std::string::npos);
    // b is watched but not a source: bold, not filled, and no adjoint.
    CHECK(dot.find(fmt::format("t{} [shape=ellipse, style=bold, id=\"t{}\", label=\"b scalar\"];", b.id(), b.id())) !=
          std::string::npos);
    const std::string both = to_dot(tape, y, {x}, {.values = true, .gradients = true});
    CHECK(both.find("label=\"x 2\\n= [1, 2]\\ngrad [21, 3]\"") != std::string::npos);
    CHECK(to_dot(tape, y, {x}, {.gradients = false}).find("grad") == std::string::npos);
    // The tape is not persistent: the pictures used no gradient call, so one is left.
    CHECK(tape.gradient(y, x).to_vector() == std::vector<double>{21, 3});
  }
}

TEST_CASE("printing: how inputs are named") {
  SUBCASE("a constant input prints as \"const <shape>\"") {
    const Tensor x({1, 2, 3}, {3});
    const Tensor c({4, 5, 6}, {3});
    GradientTape tape;
    tape.watch(x, "x");
    const Tensor y = x * c + 2.0;
    CHECK(to_string(tape) == "GradientTape (2 entries)\n"
                             "  [0] mul(x 3, const 3) -> 3 float32\n"
                             "  [1] add([0], const scalar) -> 3 float32");
  }
  SUBCASE("a variable read prints as \"read_variable(variable <name>)\"") {
    Variable v(Tensor({1, 2}, {2, 1}, DType::float64), "kernel");
    GradientTape tape;
    const Tensor y = v * v;
    CHECK(to_string(tape) == "GradientTape (2 entries)\n"
                             "  [0] read_variable(variable kernel) -> 2x1 float64\n"
                             "  [1] mul([0], [0]) -> 2x1 float64");
  }
  SUBCASE("unnamed watched tensors print as \"watched#k\", k counting every watch") {
    const Tensor a({1, 2}, {2}), b({3, 4}, {2}), c({5, 6}, {2});
    Variable v(Tensor({7, 8}, {2}), "v");
    GradientTape tape;
    tape.watch(a);
    tape.watch(v);
    tape.watch(b, "b");
    tape.watch(c);
    CHECK(tape.label(a.id()) == "watched#0");
    CHECK(tape.label(v.id()) == "v");
    CHECK(tape.label(b.id()) == "b");
    CHECK(tape.label(c.id()) == "watched#3");
    CHECK(tape.label(Tensor({1}, {1}).id()).empty());
    const Tensor y = a * b + c;
    CHECK(to_string(tape) == "GradientTape (2 entries)\n"
                             "  [0] mul(watched#0 2, b 2) -> 2 float32\n"
                             "  [1] add([0], watched#3 2) -> 2 float32");
  }
  SUBCASE("attributes follow the inputs, by name; a persistent tape says so; producer() finds entries") {
    const Tensor x({0.5, 4}, {2}, DType::float64);
    GradientTape tape({.persistent = true});
    tape.watch(x, "x");
    const Tensor p = pow(x, 3);
    const Tensor y = clip(p, -1, 2.5);
    CHECK(to_string(tape) == "GradientTape (2 entries, persistent)\n"
                             "  [0] pow(x 2, exponent=3) -> 2 float64\n"
                             "  [1] clip([0], low=-1, high=2.5) -> 2 float64");
    const std::string dot = to_dot(tape);
    CHECK(dot.find("e0 [shape=box, id=\"e0\", label=\"[0] pow(exponent=3)\\n2 float64\"];") != std::string::npos);
    CHECK(dot.find("e1 [shape=box, id=\"e1\", label=\"[1] clip(low=-1, high=2.5)\\n2 float64\"];") !=
          std::string::npos);
    CHECK(tape.producer(p.id()) == 0);
    CHECK(tape.producer(y.id()) == 1);
    CHECK(tape.producer(x.id()) == -1);
  }
  SUBCASE("each op family names its attributes: axes, axis, permutation, slices, padding") {
    const Tensor x({1, 2, 3, 4, 5, 6}, {2, 3}, DType::float64);
    GradientTape tape;
    tape.watch(x, "x");
    sum(x, {0, 1});
    reduce_max(x, {1});
    logsumexp(x, {-1}, true);
    log_softmax(x, 1);
    softmax(x, -1);
    concat({x, x}, -1);
    transpose(x);
    slice(x, {{}, {1, 3}});
    slice(x, {{0, 2, 2}, {-1, 10}});
    pad(x, {1, 0}, {0, 2});
    flip(x, {-1, 0});
    gather(x, Tensor({2, 0}, {2}, DType::int64), 1);
    CHECK(to_string(tape) == "GradientTape (12 entries)\n"
                             "  [0] sum(x 2x3, axes=[0, 1]) -> scalar float64\n"
                             "  [1] reduce_max(x 2x3, axes=[1]) -> 2 float64\n"
                             "  [2] logsumexp(x 2x3, axes=[1]) -> 2x1 float64\n"
                             "  [3] log_softmax(x 2x3, axis=1) -> 2x3 float64\n"
                             "  [4] softmax(x 2x3, axis=1) -> 2x3 float64\n"
                             "  [5] concat(x 2x3, x 2x3, axis=1) -> 2x6 float64\n"
                             "  [6] transpose(x 2x3, permutation=[1, 0]) -> 3x2 float64\n"
                             "  [7] slice(x 2x3, slices=[0:2, 1:3]) -> 2x2 float64\n"
                             "  [8] slice(x 2x3, slices=[0:2:2, 2:3]) -> 1x1 float64\n"
                             "  [9] pad(x 2x3, before=[1, 0], after=[0, 2]) -> 3x5 float64\n"
                             "  [10] flip(x 2x3, axes=[0, 1]) -> 2x3 float64\n"
                             "  [11] gather(x 2x3, const 2, axis=1) -> 2x2 float64");
  }
  SUBCASE("convolution and pooling print their geometry, the padding made explicit (top, bottom), (left, right)") {
    const Tensor image = ones({1, 5, 5, 1}, DType::float64);
    const Tensor kernel = ones({3, 3, 1, 2}, DType::float64);
    GradientTape tape;
    tape.watch(image, "image");
    tape.watch(kernel, "kernel");
    conv2d(image, kernel, {.strides = {2, 2}, .padding = Padding::same()});
    max_pool2d(image, {.pool_size = 2, .strides = 1});
    avg_pool2d(image, {.pool_size = {3, 3}, .strides = std::nullopt, .padding = Padding::explicit_sides(0, 1, 1, 0)});
    CHECK(to_string(tape) ==
          "GradientTape (3 entries)\n"
          "  [0] conv2d(image 1x5x5x1, kernel 3x3x1x2, strides=[2, 2], padding=[[1, 1], [1, 1]], dilation_rate=[1, 1]) "
          "-> 1x3x3x2 float64\n"
          "  [1] max_pool2d(image 1x5x5x1, pool_size=[2, 2], strides=[1, 1], padding=[[0, 0], [0, 0]]) "
          "-> 1x4x4x1 float64\n"
          "  [2] avg_pool2d(image 1x5x5x1, pool_size=[3, 3], strides=[3, 3], padding=[[0, 1], [1, 0]]) "
          "-> 1x2x2x1 float64");
  }
  SUBCASE("an empty tape") {
    GradientTape tape;
    CHECK(fmt::format("{}", tape) == "GradientTape (0 entries)");
    CHECK(to_dot(tape).starts_with("digraph"));
    CHECK(count(to_dot(tape), "shape=box") == 0);
  }
}

TEST_CASE("printing: the trace and the DOT of less regular graphs") {
  SUBCASE("a constant operand is \"(not needed)\"; entries off the target's path are skipped") {
    const Tensor x({2, -1}, {2}, DType::float64);
    const Tensor c({10, 20}, {2}, DType::float64);
    GradientTape tape;
    tape.watch(x, "x");
    const Tensor unused = exp(x);  // entry 0: recorded, but y does not use it
    const Tensor y = x * c;        // entry 1
    std::vector<std::string> steps;
    GradientOptions options;
    options.trace = [&](const std::string& step) { steps.push_back(step); };
    tape.gradient(y, x, options);
    REQUIRE(steps.size() == 2);
    CHECK(steps[0] == "backward [1] mul: upstream [1, 1]\n"
                      "    -> d/d x 2 = [10, 20]\n"
                      "    totals: x = [10, 20]");
    CHECK(steps[1] == "gradients: x = [10, 20]");
  }
  SUBCASE("DOT: a leaf used twice is one node with two edges; constants are not bold") {
    const Tensor x({1, 2}, {2});
    const Tensor c({3, 4}, {2});
    GradientTape tape;
    tape.watch(x, "x");
    const Tensor y = x * x + c;
    const std::string dot = to_dot(tape);
    CHECK(count(dot, "shape=box") == 2);
    CHECK(count(dot, fmt::format("t{} [", x.id())) == 1);
    CHECK(count(dot, fmt::format("t{} -> e0 [label=", x.id())) == 2);
    CHECK(dot.find(fmt::format("t{} [shape=ellipse, style=bold, id=\"t{}\", label=\"x 2\"];", x.id(), x.id())) !=
          std::string::npos);
    CHECK(dot.find(fmt::format("t{} [shape=ellipse, id=\"t{}\", label=\"const 2\"];", c.id(), c.id())) !=
          std::string::npos);
    CHECK(dot.find(fmt::format("t{} -> e1 [label=\"1\"];", c.id())) != std::string::npos);
    CHECK(dot.find("e0 -> e1 [label=\"0\"];") != std::string::npos);
  }
  SUBCASE("a variable in DOT and in the trace") {
    Variable v(Tensor({1, 2}, {2}), "v");
    GradientTape tape;
    const Tensor y = sum(v * 3.0);
    const std::string dot = to_dot(tape);
    CHECK(dot.find("label=\"variable v\"") != std::string::npos);
    std::vector<std::string> steps;
    GradientOptions options;
    options.trace = [&](const std::string& step) { steps.push_back(step); };
    tape.gradient(y, v, options);
    REQUIRE(steps.size() == 4);
    CHECK(first_line(steps[0]) == "backward [2] sum: upstream 1");
    CHECK(steps[2] == "backward [0] read_variable: upstream [3, 3]\n"
                      "    -> d/d variable v = [3, 3]\n"
                      "    totals: v = [3, 3]");
    CHECK(steps[3] == "gradients: v = [3, 3]");
  }
}

namespace {
// Two attribute structs of a test op, to show that a backward reads only the type its forward recorded.
struct FactorAttrs {
  double factor;
  std::string print() const { return fmt::format("factor={}", factor); }
};
struct OtherAttrs {
  double factor;
  std::string print() const { return fmt::format("other={}", factor); }
};
}  // namespace

TEST_CASE("printing: a test op's own attributes, and a backward that reads another type of them") {
  const Tensor x({1, 2}, {2}, DType::float64);
  GradientTape tape({.persistent = true});
  tape.watch(x, "x");
  auto tripled = [&](BackwardFn backward) {
    Tensor y;
    {
      StopRecording forward_only;
      y = x * 3.0;
    }
    return record("tripled", {x}, y, backward, FactorAttrs{3}, InputUse::shapes);
  };
  const Tensor good =
      tripled([](const BackwardArgs& args) -> Grads { return {args.grad * args.attrs<FactorAttrs>().factor}; });
  const Tensor bad =
      tripled([](const BackwardArgs& args) -> Grads { return {args.grad * args.attrs<OtherAttrs>().factor}; });
  CHECK(to_string(tape) == "GradientTape (2 entries, persistent)\n"
                           "  [0] tripled(x 2, factor=3) -> 2 float64\n"
                           "  [1] tripled(x 2, factor=3) -> 2 float64");
  CHECK(tape.gradient(good, x).to_vector() == std::vector<double>{3, 3});
  CHECK_THROWS_WITH_AS(tape.gradient(bad, x),
                       "backward of tripled: reads attributes of another type than it recorded (factor=3)", Error);
}

TEST_CASE("printing: the trace's running totals, and the order C++ evaluated the arguments in") {
  // y = log(x1) + x1*x2 - sin(x2) at x1 = 2, x2 = 5: x1's gradient has two parts, 1/x1 = 0.5 (log) and
  // x2 = 5 (mul); the later of the two steps shows the total 5.5. Which op is recorded first is the
  // compiler's choice (C++ leaves the order of evaluating arguments open): GCC records sin, mul, log;
  // clang log, mul.
  const Tensor x1 = Tensor::scalar(2, DType::float64);
  const Tensor x2 = Tensor::scalar(5, DType::float64);
  GradientTape tape;
  tape.watch(x1, "x1");
  tape.watch(x2, "x2");
  const Tensor y = log(x1) + x1 * x2 - sin(x2);
  REQUIRE(tape.entries().size() == 5);
  CHECK(std::string_view(tape.entries()[4].op) == "sub");
  std::vector<std::string> steps;
  GradientOptions options;
  options.trace = [&](const std::string& step) { steps.push_back(step); };
  const auto grads = tape.gradient(y, {x1, x2}, options);
  REQUIRE(steps.size() == 6);
  // Where add and sin stand on the tape: clang records log, mul, add, sin; GCC sin, mul, log, add.
  const auto entry_of = [&](std::string_view op) {
    const auto it = std::ranges::find_if(tape.entries(), [&](const TapeEntry& e) { return e.op == op; });
    REQUIRE(it != tape.entries().end());
    return it - tape.entries().begin();
  };
  const auto a = entry_of("add"), k = entry_of("sin");
  CHECK(steps[0] == fmt::format("backward [4] sub: upstream 1\n"
                                "    -> d/d [{}] = 1\n"
                                "    -> d/d [{}] = -1\n"
                                "    totals: [{}] = 1; [{}] = -1",
                                a, k, a, k));
  // The step of x1's last part (log or mul, whichever was recorded first) shows the total.
  const auto last_x1 = std::find_if(steps.rbegin() + 1, steps.rend(), [](const std::string& s) {
    return s.find("-> d/d x1 scalar") != std::string::npos;
  });
  REQUIRE(last_x1 != steps.rend());
  CHECK(last_x1->find("totals: x1 = 5.5") != std::string::npos);
  const auto first_x1 = std::find_if(steps.begin(), steps.end() - 1, [](const std::string& s) {
    return s.find("-> d/d x1 scalar") != std::string::npos;
  });
  CHECK((first_x1->find("totals: x1 = 0.5") != std::string::npos ||
         first_x1->find("totals: x1 = 5") != std::string::npos));
  CHECK(grads[0].item() == 5.5);
  CHECK(steps.back() == fmt::format("gradients: x1 = 5.5; x2 = {}", grads[1].item()));
  CHECK(grads[1].item() == doctest::Approx(2 - std::cos(5.0)).epsilon(1e-15));
#if defined(__GNUC__) && !defined(__clang__)
  CHECK(to_string(tape) == "GradientTape (5 entries)\n"
                           "  [0] sin(x2 scalar) -> scalar float64\n"
                           "  [1] mul(x1 scalar, x2 scalar) -> scalar float64\n"
                           "  [2] log(x1 scalar) -> scalar float64\n"
                           "  [3] add([2], [1]) -> scalar float64\n"
                           "  [4] sub([3], [0]) -> scalar float64");
#endif
}

TEST_CASE("printing: large tensors elided as NumPy's print options say") {
  const Tensor v = arange(10, DType::float64);
  SUBCASE("to_string of a tensor") {
    CHECK(to_string(v) == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
    CHECK(to_string(v, {.threshold = 9, .edgeitems = 2}) == "[0, 1, ..., 8, 9]");
    CHECK(to_string(v, {.threshold = 10, .edgeitems = 2}) == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
    CHECK(to_string(v, {.threshold = 0, .edgeitems = 0}) == "[...]");
    CHECK(to_string(v, {.threshold = 0, .edgeitems = 5}) == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
    CHECK(to_string(reshape(v, {2, 5}), {.threshold = 4, .edgeitems = 1}) == "[[0, ..., 4], [5, ..., 9]]");
    CHECK(to_string(reshape(arange(24, DType::float64), {4, 6}), {.threshold = 4, .edgeitems = 1}) ==
          "[[0, ..., 5], ..., [18, ..., 23]]");
    CHECK_THROWS_WITH_AS(to_string(v, {.threshold = -1}),
                         "to_string: print options threshold=-1, edgeitems=3; expected both >= 0", Error);
    CHECK_THROWS_WITH_AS(to_string(v, {.edgeitems = -2}), doctest::Contains("edgeitems=-2"), Error);
  }
  SUBCASE("in the trace, the tape's values and DOT") {
    GradientTape tape;
    tape.watch(v, "v");
    const Tensor y = sum(v * v);
    CHECK(to_string(tape, {.values = true, .print = {.threshold = 4, .edgeitems = 1}}) ==
          "GradientTape (2 entries)\n"
          "  [0] mul(v 10, v 10) -> 10 float64\n"
          "        = [0, ..., 81]\n"
          "  [1] sum([0], axes=[0]) -> scalar float64\n"
          "        = 285");
    CHECK(to_dot(tape, {.values = true}).find("= [0, 1, ..., 64, 81]") != std::string::npos);
    std::vector<std::string> steps;
    GradientOptions options;
    options.trace = [&](const std::string& step) { steps.push_back(step); };
    options.trace_options.print = {.threshold = 5, .edgeitems = 2};
    tape.gradient(y, v, options);
    REQUIRE(steps.size() == 3);
    CHECK(steps[1] == "backward [0] mul: upstream [1, 1, ..., 1, 1]\n"
                      "    -> d/d v 10 = [0, 1, ..., 8, 9]\n"
                      "    -> d/d v 10 = [0, 1, ..., 8, 9]\n"
                      "    totals: v = [0, 2, ..., 16, 18]");
    CHECK(steps[2] == "gradients: v = [0, 2, ..., 16, 18]");
  }
}

TEST_CASE("printing: a composite op's entries form one cluster named for it") {
  const Tensor logits({1, 2, 3, 3, 2, 1}, {2, 3}, DType::float64);
  const Tensor labels({2, 0}, {2}, DType::int64);
  const Tensor w({0.5, -1, 2}, {3}, DType::float64);
  GradientTape tape;
  tape.watch(w, "w");
  const Tensor z = logits * w;                           // entry 0, outside
  const Tensor loss = softmax_cross_entropy(z, labels);  // entries 1..k
  const Tensor doubled = loss * 2.0;                     // the last entry, outside
  const size_t composite = tape.entries().size() - 2;
  CHECK(composite >= 4);
  const std::string dot = to_dot(tape, doubled, {w});
  INFO(dot);
  CHECK(count(dot, "subgraph cluster_") == 1);
  const size_t open = dot.find("  subgraph cluster_0 {\n    label=\"softmax_cross_entropy\";\n");
  REQUIRE(open != std::string::npos);
  const size_t close = dot.find("\n  }\n", open);
  const std::string cluster = dot.substr(open, close - open);
  CHECK(count(cluster, "shape=box") == composite);
  for (size_t e = 1; e <= composite; ++e) CHECK(cluster.find(fmt::format("    e{} [", e)) != std::string::npos);
  CHECK(cluster.find("    e0 [") == std::string::npos);
  CHECK(cluster.find(fmt::format("e{} [", composite + 1)) == std::string::npos);
  CHECK(cluster.find(" -> ") == std::string::npos);  // edges sit outside, after the nodes

  SUBCASE("a NameScope inside another adds nothing; one with no entries adds no cluster") {
    {
      const NameScope outer("layer");
      const NameScope empty("nothing recorded");
    }
    {
      const NameScope outer("my_loss");
      const Tensor m = mse(doubled * w, doubled * w);
    }
    const std::string again = to_dot(tape);
    CHECK(count(again, "subgraph cluster_") == 2);
    CHECK(again.find("label=\"my_loss\"") != std::string::npos);
    CHECK(again.find("label=\"mse\"") == std::string::npos);
    CHECK(again.find("nothing recorded") == std::string::npos);
  }
}

TEST_CASE("printing: Graphviz's dot renders to_dot's output" * doctest::skip()) {
  if (std::system("command -v dot > /dev/null 2>&1") != 0) {
    testing::skip("Graphviz's dot is not installed (Debian's graphviz package; ./dev test installs it)");
    return;
  }
  const Tensor x({1, 2}, {2}, DType::float64);
  const Tensor labels({1}, {1}, DType::int64);
  GradientTape tape({.persistent = true});
  tape.watch(x, "x \"quoted\" \\ name");
  const Tensor h = reshape(x * x - 3.0, {1, 2});
  const Tensor loss = softmax_cross_entropy(h, labels) / sum(x);
  const std::vector<std::string> graphs = {to_dot(tape), to_dot(tape, {.values = true}),
                                           to_dot(tape, loss, {x}, {.values = true}), to_dot(GradientTape())};
  for (size_t g = 0; g < graphs.size(); ++g) {
    const std::string dir = fmt::format("test_printing_dot_{}", g);
    const std::string path = dir + ".dot", svg = dir + ".svg";
    std::FILE* file = std::fopen(path.c_str(), "w");
    REQUIRE(file != nullptr);
    std::fputs(graphs[g].c_str(), file);
    std::fclose(file);
    INFO(graphs[g]);
    // A syntax error fails the run; a warning (an unknown attribute) is written to the .err file.
    const std::string command = fmt::format("dot -Tsvg {} -o {} 2> {}.err", path, svg, dir);
    CHECK(std::system(command.c_str()) == 0);
    std::FILE* err = std::fopen((dir + ".err").c_str(), "r");
    REQUIRE(err != nullptr);
    CHECK(std::fgetc(err) == EOF);  // no warning either
    std::fclose(err);
    std::FILE* out = std::fopen(svg.c_str(), "r");
    REQUIRE(out != nullptr);
    std::string text;
    for (int c = std::fgetc(out); c != EOF; c = std::fgetc(out)) text += static_cast<char>(c);
    std::fclose(out);
    CHECK(text.find("<svg") != std::string::npos);
    if (g == 2) CHECK(text.find("softmax_cross_entropy") != std::string::npos);
  }
}

namespace {
// The JSON of the explorer's data, as the page embeds it.
std::string page_data(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"tape-data\">";
  const size_t start = html.find(open);
  if (start == std::string::npos) return {};
  return html.substr(start + open.size(), html.find("</script>", start) - start - open.size());
}

// Sets an environment variable for the scope (PATH without Graphviz's dot).
struct ScopedEnv {
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }
  const char* name_;
  std::optional<std::string> old_;
};
}  // namespace

TEST_CASE("printing: the tape explorer, to_html") {
  const Tensor x({1, 2}, {2}, DType::float64);
  const Tensor w({3, -1}, {2}, DType::float64);
  const Tensor b = Tensor::scalar(0.5, DType::float64);
  GradientTape tape;
  tape.watch(x, "x");
  tape.watch(w, "w");
  tape.watch(b, "b");
  const Tensor y = square(x * w + b);

  SUBCASE("the builtin layout: one self-contained page with the graph, the list and every sweep step") {
    const std::string html =
        to_html(tape, y, {x, w}, {.title = "y = (x*w + b) <squared>", .layout = GraphLayout::builtin});
    CHECK(html.starts_with("<!DOCTYPE html>"));
    CHECK(html.find("<title>y = (x*w + b) &lt;squared&gt;</title>") != std::string::npos);
    CHECK(html.find("class=\"builtin-layout\"") != std::string::npos);
    CHECK(html.find("laid out by tapegrad") != std::string::npos);
    for (const std::string node : {"e0", "e1", "e2"}) {
      CHECK(html.find(fmt::format("<g id=\"{0}\" class=\"node\"><title>{0}</title><polygon", node)) !=
            std::string::npos);
    }
    for (const Tensor* leaf : {&x, &w, &b}) {
      CHECK(html.find(fmt::format("<g id=\"t{0}\" class=\"node\"><title>t{0}</title><ellipse", leaf->id())) !=
            std::string::npos);
    }
    CHECK(count(html, "class=\"edge\"") == 5);
    CHECK(html.find("<li id=\"entry-1\" data-node=\"e1\">[1] add([0], b scalar) -&gt; 2 float64</li>") !=
          std::string::npos);
    // Nothing to fetch: no src or href, no url() but the arrow marker's.
    CHECK(html.find("src=") == std::string::npos);
    CHECK(html.find("href") == std::string::npos);
    CHECK(count(html, "url(") == count(html, "url(#arrow)"));
    // The data the script shows: three backward steps, each with its upstream, input gradients and totals.
    const std::string data = page_data(html);
    REQUIRE(!data.empty());
    CHECK(data.find("\"seed\":\"[1, 1]\"") != std::string::npos);
    CHECK(data.find("{\"entry\":2,\"upstream\":\"[1, 1]\",\"inputs\":[{\"node\":\"e1\",\"grad\":\"[7, -3]\"}],"
                    "\"totals\":{\"e1\":\"[7, -3]\"}}") != std::string::npos);
    CHECK(data.find(fmt::format("{{\"entry\":1,\"upstream\":\"[7, -3]\",\"inputs\":[{{\"node\":\"e0\",\"grad\":\"[7, "
                                "-3]\"}},{{\"node\":\"t{}\",\"grad\":null}}],\"totals\":{{\"e0\":\"[7, -3]\"}}}}",
                                b.id())) != std::string::npos);
    CHECK(data.find(fmt::format("\"totals\":{{\"t{}\":\"[21, 3]\",\"t{}\":\"[7, -6]\"}}", x.id(), w.id())) !=
          std::string::npos);
    CHECK(data.find(fmt::format("\"gradients\":[{{\"node\":\"t{}\",\"grad\":\"[21, 3]\"}},{{\"node\":\"t{}\",\"grad\":"
                                "\"[7, -6]\"}}]",
                                x.id(), w.id())) != std::string::npos);
    // The page did not use up the tape's one gradient call.
    CHECK(tape.gradient(y, x).to_vector() == std::vector<double>{21, 3});
  }
  SUBCASE("automatic layout without Graphviz on the PATH: the builtin one; forced Graphviz: an error") {
    const ScopedEnv no_dot("PATH", "/nonexistent");
    CHECK(to_html(tape, y, {x}).find("class=\"builtin-layout\"") != std::string::npos);
    CHECK_THROWS_WITH_AS(to_html(tape, y, {x}, {.layout = GraphLayout::graphviz}),
                         "to_html: layout graphviz: Graphviz's dot is not on the PATH (Debian's graphviz package); "
                         "expected Graphviz installed, or layout automatic or builtin",
                         Error);
  }
  SUBCASE("a cluster framed in the builtin layout; a script-closing string in a name is escaped") {
    const Tensor labels({1}, {1}, DType::int64);
    GradientTape other;
    other.watch(x, "</script><b>");
    const Tensor loss = softmax_cross_entropy(reshape(x * 2.0, {1, 2}), labels);
    const std::string html = to_html(other, loss, {x}, {.layout = GraphLayout::builtin});
    CHECK(count(html, "class=\"cluster\"") == 1);
    CHECK(html.find(">softmax_cross_entropy</text>") != std::string::npos);
    CHECK(count(html, "</script>") == 2);  // the data's and the script's own
    CHECK(html.find("&lt;/script&gt;&lt;b&gt;") != std::string::npos);
  }
  SUBCASE("bad input") {
    CHECK_THROWS_WITH_AS(to_html(tape, Tensor({1}, {1}, DType::int64), {x}),
                         "to_html: target is 1 int64, expected a float tensor", Error);
    CHECK_THROWS_WITH_AS(to_html(tape, Tensor({1.0, 2.0}, {2}), {x}),
                         "to_html: the target (2 float32) is not an output of the tape's 3 entries; expected a tensor "
                         "the tape recorded",
                         Error);
    CHECK_THROWS_WITH_AS(to_dot(tape, Tensor({1}, {1}, DType::int64), {x}),
                         "to_dot: target is 1 int64, expected a float tensor", Error);
    CHECK_THROWS_WITH_AS(save_html("/nonexistent/dir/tape.html", tape, y, {x}),
                         "save_html: /nonexistent/dir/tape.html: cannot create a temporary file: No such file or "
                         "directory",
                         Error);
  }
  SUBCASE("save_html writes the page whole, replacing an older one") {
    const std::string path = "test_printing_explorer.html";
    std::FILE* old = std::fopen(path.c_str(), "w");
    REQUIRE(old != nullptr);
    std::fputs("an older page", old);
    std::fclose(old);
    save_html(path, tape, y, {x, w, b}, {.layout = GraphLayout::builtin});
    std::FILE* file = std::fopen(path.c_str(), "r");
    REQUIRE(file != nullptr);
    std::string text;
    for (int c = std::fgetc(file); c != EOF; c = std::fgetc(file)) text += static_cast<char>(c);
    std::fclose(file);
    CHECK(text == to_html(tape, y, {x, w, b}, {.layout = GraphLayout::builtin}));
    std::remove(path.c_str());
  }
}

TEST_CASE("printing: the tape explorer laid out by Graphviz's dot" * doctest::skip()) {
  if (std::system("command -v dot > /dev/null 2>&1") != 0) {
    testing::skip("Graphviz's dot is not installed (Debian's graphviz package; ./dev test installs it)");
    return;
  }
  const Tensor x({1, 2}, {2}, DType::float64);
  GradientTape tape;
  tape.watch(x, "x");
  const Tensor y = sum(exp(x) - x);
  for (const GraphLayout layout : {GraphLayout::graphviz, GraphLayout::automatic}) {
    const std::string html = to_html(tape, y, {x}, {.layout = layout});
    CHECK(html.find("laid out by Graphviz's dot") != std::string::npos);
    CHECK(html.find("builtin-layout") == std::string::npos);
    CHECK(html.find("<?xml") == std::string::npos);  // the SVG element alone, inline
    // dot keeps the node ids the page's script highlights.
    for (const std::string& node : std::vector<std::string>{"e0", "e1", "e2", fmt::format("t{}", x.id())}) {
      CHECK(html.find(fmt::format("<g id=\"{}\" class=\"node\">", node)) != std::string::npos);
    }
  }
}
