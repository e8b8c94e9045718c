// The tape a learner reads: fmt::format("{}", tape), to_string with values, the backward trace
// and the Graphviz DOT output, each checked against text written out by hand.

#include <tapegrad/tapegrad.hpp>
#include "autograd/ops/record.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
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
  SUBCASE("trace: one string per backward step, in reverse entry order") {
    // dy/d[1] = 2 [3.5, -1.5] = [7, -3]; add passes it on (b sums it: 4); mul gives [7, -3] * w and * x.
    std::vector<std::string> steps;
    GradientOptions options;
    options.trace = [&](const std::string& step) { steps.push_back(step); };
    const auto grads = tape.gradient(y, {x, w, b}, options);
    REQUIRE(steps.size() == 3);
    CHECK(first_line(steps[0]) == "backward [2] square: upstream [1, 1]");
    CHECK(steps[0] == "backward [2] square: upstream [1, 1]\n"
                      "    -> d/d [1] = [7, -3]");
    CHECK(steps[1] == "backward [1] add: upstream [7, -3]\n"
                      "    -> d/d [0] = [7, -3]\n"
                      "    -> d/d b scalar = 4");
    CHECK(steps[2] == "backward [0] mul: upstream [7, -3]\n"
                      "    -> d/d x 2 = [21, 3]\n"
                      "    -> d/d w 2 = [7, -6]");
    CHECK(grads[0].to_vector() == std::vector<double>{21, 3});
    CHECK(grads[1].to_vector() == std::vector<double>{7, -6});
    CHECK(grads[2].item() == 4);
  }
  SUBCASE("trace: inputs that lead to no requested source are \"(not needed)\"") {
    std::vector<std::string> steps;
    GradientOptions options;
    options.trace = [&](const std::string& step) { steps.push_back(step); };
    tape.gradient(y, x, options);
    REQUIRE(steps.size() == 3);
    CHECK(steps[1] == "backward [1] add: upstream [7, -3]\n"
                      "    -> d/d [0] = [7, -3]\n"
                      "    -> d/d b scalar = (not needed)");
    CHECK(steps[2] == "backward [0] mul: upstream [7, -3]\n"
                      "    -> d/d x 2 = [21, 3]\n"
                      "    -> d/d w 2 = (not needed)");
  }
  SUBCASE("to_dot: a digraph with one box per entry and an edge from each input") {
    const std::string dot = to_dot(tape);
    CHECK(dot.starts_with("digraph"));
    CHECK(dot.ends_with("}\n"));
    CHECK(count(dot, "{") == 1);
    CHECK(count(dot, "}") == 1);
    CHECK(count(dot, "\"") % 2 == 0);
    CHECK(count(dot, "shape=box") == 3);
    CHECK(count(dot, " -> ") == 5);  // mul: 2 inputs, add: 2, square: 1
    CHECK(dot.find("e0 [shape=box, label=\"[0] mul\\n2 float32\"];") != std::string::npos);
    CHECK(dot.find("e1 [shape=box, label=\"[1] add\\n2 float32\"];") != std::string::npos);
    CHECK(dot.find("e2 [shape=box, label=\"[2] square\\n2 float32\"];") != std::string::npos);
    CHECK(dot.find("  e0 -> e1;\n") != std::string::npos);
    CHECK(dot.find("  e1 -> e2;\n") != std::string::npos);
    CHECK(dot.find(fmt::format("  t{} -> e0;\n", x.id())) != std::string::npos);
    CHECK(dot.find(fmt::format("  t{} -> e0;\n", w.id())) != std::string::npos);
    CHECK(dot.find(fmt::format("  t{} -> e1;\n", b.id())) != std::string::npos);
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
    CHECK(dot.find("e0 [shape=box, label=\"[0] pow(exponent=3)\\n2 float64\"];") != std::string::npos);
    CHECK(dot.find("e1 [shape=box, label=\"[1] clip(low=-1, high=2.5)\\n2 float64\"];") != std::string::npos);
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
    REQUIRE(steps.size() == 1);
    CHECK(steps[0] == "backward [1] mul: upstream [1, 1]\n"
                      "    -> d/d x 2 = [10, 20]\n"
                      "    -> d/d const 2 = (not needed)");
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
    CHECK(count(dot, fmt::format("t{} -> e0;", x.id())) == 2);
    CHECK(dot.find(fmt::format("t{} [shape=ellipse, style=bold, label=\"x 2\"];", x.id())) != std::string::npos);
    CHECK(dot.find(fmt::format("t{} [shape=ellipse, label=\"const 2\"];", c.id())) != std::string::npos);
    CHECK(dot.find(fmt::format("t{} -> e1;", c.id())) != std::string::npos);
    CHECK(dot.find("e0 -> e1;") != std::string::npos);
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
    REQUIRE(steps.size() == 3);
    CHECK(first_line(steps[0]) == "backward [2] sum: upstream 1");
    CHECK(steps[2] == "backward [0] read_variable: upstream [3, 3]\n"
                      "    -> d/d variable v = [3, 3]");
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
