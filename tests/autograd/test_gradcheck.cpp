// The gradient-check registry (tests/autograd/gradcheck/, one file per op family) enumerated: every
// registered op has entries, every entry passes a float64 central-difference check, README's op list
// names every registered op; and gradcheck itself catches a wrong gradient.

#include <tapegrad/tapegrad.hpp>
#include "autograd/ops/record.hpp"
#include "tests/autograd/gradcheck/registry.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace tapegrad;
using namespace tapegrad::testing;

namespace {

// Every family's entries, in one list.
const std::vector<OpCase>& registry() {
  static const std::vector<OpCase> cases = [] {
    std::vector<OpCase> all;
    const std::pair<const char*, void (*)(Registry&)> families[] = {
        {"elementwise", add_elementwise_cases},
        {"activation", add_activation_cases},
        {"reduce", add_reduce_cases},
        {"shape", add_shape_cases},
        {"index", add_index_cases},
        {"linalg", add_linalg_cases},
        {"conv", add_conv_cases},
        {"pool", add_pool_cases},
        {"loss", add_loss_cases},
        {"normalization", add_normalization_cases},
        {"dropout", add_dropout_cases},
    };
    for (const auto& [family, add_cases] : families) {
      Registry entries(all, family);
      add_cases(entries);
    }
    return all;
  }();
  return cases;
}

// The inputs of an entry: float64, seeded, scaled, drawn from each input's domain.
Inputs make_inputs(const OpCase& c, uint64_t seed) {
  Generator generator(seed);
  Inputs inputs;
  for (const Input& input : c.inputs) {
    std::vector<double> values(static_cast<size_t>(input.shape.numel()));
    for (double& v : values) {
      switch (input.domain) {
        case Domain::any: v = generator.normal(); break;
        case Domain::positive: v = 0.5 + 1.5 * generator.uniform(); break;
        case Domain::away_from_zero:
          v = (0.5 + 1.5 * generator.uniform()) * (generator.uniform() < 0.5 ? -1.0 : 1.0);
          break;
      }
      v *= c.scale;
    }
    inputs.emplace_back(values, input.shape, DType::float64);
  }
  return inputs;
}

// Tolerances that follow the inputs' magnitude: the step scales with it, and so does the floor.
GradcheckOptions options_for(const OpCase& c) {
  GradcheckOptions options;
  options.epsilon = 1e-6 * c.scale;
  options.atol = 1e-6 * std::min(1.0, c.scale);
  options.rtol = 1e-5;
  return options;
}

// The names README's op list gives: each word in backquotes in the paragraph that starts with
// "**Ops**", up to the next blank line; `+ - * /` stand for add, sub and neg, mul, div.
std::set<std::string> readme_op_names(const std::string& readme) {
  std::istringstream lines(readme);
  std::string line, paragraph;
  bool inside = false;
  while (std::getline(lines, line)) {
    if (!inside && line.starts_with("**Ops**")) inside = true;
    if (!inside) continue;
    if (line.find_first_not_of(" \t\r") == std::string::npos) break;
    paragraph += line + "\n";
  }
  const std::map<std::string, std::vector<std::string>> symbols{
      {"+", {"add"}}, {"-", {"sub", "neg"}}, {"*", {"mul"}}, {"/", {"div"}}};
  std::set<std::string> names;
  for (size_t open = paragraph.find('`'); open != std::string::npos; open = paragraph.find('`', open)) {
    const size_t close = paragraph.find('`', open + 1);
    if (close == std::string::npos) break;
    std::istringstream words(paragraph.substr(open + 1, close - open - 1));
    for (std::string word; words >> word;) {
      if (const auto symbol = symbols.find(word); symbol != symbols.end()) {
        names.insert(symbol->second.begin(), symbol->second.end());
      } else {
        names.insert(word);
      }
    }
    open = close + 1;
  }
  return names;
}

}  // namespace

TEST_CASE("op registry: every registered op has gradient checks, and every entry names a registered op") {
  const std::vector<std::string>& registered = differentiable_ops();
  std::set<std::string> covered;
  for (const OpCase& c : registry()) covered.insert(c.op);
  for (const std::string& name : registered) {
    INFO("registered op '", name,
         "' has no entry in the gradcheck registry: add one in tests/autograd/gradcheck/, in the file of its "
         "family (named as its file in autograd/ops/)");
    CHECK(covered.contains(name));
  }
  const std::set<std::string> names(registered.begin(), registered.end());
  for (const OpCase& c : registry()) {
    INFO("tests/autograd/gradcheck/", c.family, ".cpp names '", c.op, "', which no op registers");
    CHECK(names.contains(c.op));
  }
  CHECK_MESSAGE(names.size() == registered.size(), "an op name is registered twice");
}

TEST_CASE("op registry: README's op list names every registered op") {
  std::ifstream file(TAPEGRAD_README);
  REQUIRE_MESSAGE(file.good(), "cannot read ", TAPEGRAD_README);
  std::ostringstream text;
  text << file.rdbuf();
  const std::set<std::string> listed = readme_op_names(text.str());
  REQUIRE_MESSAGE(!listed.empty(), TAPEGRAD_README, " has no op list (a paragraph starting with **Ops**)");
  for (const std::string& name : differentiable_ops()) {
    INFO("registered op '", name, "' is missing from the op list (the **Ops** paragraph) of ", TAPEGRAD_README);
    CHECK(listed.contains(name));
  }
}

TEST_CASE("op registry: README's op list is parsed as written") {
  const std::set<std::string> names = readme_op_names(
      "# Title\n\nText with `exp` outside the list.\n\n**Ops** (all differentiable unless marked): `+ - * /` and\n"
      "`maximum`, `sum`/`reduce_sum`; `conv2d` (NHWC input,\n`valid`/`same`).\n\nAfter: `log`.\n");
  CHECK(names == std::set<std::string>{"add", "sub", "neg", "mul", "div", "maximum", "sum", "reduce_sum", "conv2d",
                                       "valid", "same"});
  CHECK(readme_op_names("no list here, `exp`\n").empty());
}

TEST_CASE("op registry: gradcheck of every entry (float64 central differences)") {
  uint64_t seed = 1000;
  for (const OpCase& c : registry()) {
    const Inputs inputs = make_inputs(c, seed++);
    INFO(c.op, ", ", c.label, " (tests/autograd/gradcheck/", c.family, ".cpp)");
    {
      // The entry must really run its op on the tape (not a shortcut that returns its input).
      GradientTape tape;
      for (const Tensor& x : inputs) tape.watch(x);
      const Tensor y = c.function(inputs);
      CHECK(y.dtype() == DType::float64);
      const bool recorded = std::ranges::any_of(tape.entries(), [&](const TapeEntry& e) { return e.op == c.op; });
      CHECK_MESSAGE(recorded, "the entry's function records no '", c.op, "' entry");
    }
    const GradcheckResult result = gradcheck(c.function, inputs, options_for(c));
    INFO(result.summary());
    CHECK(result.passed);
  }
}

TEST_CASE("gradcheck catches a wrong gradient") {
  // y = x^2 with a backward that says 3x: gradcheck must fail and point at it.
  const auto bad_square = [](const Inputs& x) {
    const Tensor y = square(x[0]).to(DType::float64);  // a fresh tensor the tape does not know
    return record("bad_square", {x[0]}, y,
                  [](const BackwardArgs& args) -> Grads { return {args.grad * args.input(0) * 3.0}; });
  };
  const GradcheckResult result = gradcheck(bad_square, {Tensor({1, -2, 3}, {3}, DType::float64)});
  CHECK_FALSE(result.passed);
  CHECK(result.input == 0);
  CHECK(result.error > 0.1);
  CHECK(result.summary().find("FAILED") != std::string::npos);

  const auto good_square = [](const Inputs& x) { return square(x[0]); };
  const GradcheckResult good = gradcheck(good_square, {Tensor({1, -2, 3}, {3}, DType::float64)});
  CHECK(good.passed);
  CHECK(good.summary().find("passed") != std::string::npos);
  CHECK(good.numeric == doctest::Approx(good.analytic).epsilon(1e-6));
}
