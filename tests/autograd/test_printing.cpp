// The tape a learner reads: fmt::format("{}", tape), to_string with values, the backward trace
// and the Graphviz DOT output, each checked against text written out by hand.

#include <tapegrad/tapegrad.hpp>

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
  SUBCASE("attributes follow a semicolon; a persistent tape says so; producer() finds entries") {
    const Tensor x({0.5, 4}, {2}, DType::float64);
    GradientTape tape({.persistent = true});
    tape.watch(x, "x");
    const Tensor p = pow(x, 3);
    const Tensor y = clip(p, -1, 2.5);
    CHECK(to_string(tape) == "GradientTape (2 entries, persistent)\n"
                             "  [0] pow(x 2; 3) -> 2 float64\n"
                             "  [1] clip([0]; -1, 2.5) -> 2 float64");
    CHECK(tape.producer(p.id()) == 0);
    CHECK(tape.producer(y.id()) == 1);
    CHECK(tape.producer(x.id()) == -1);
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
