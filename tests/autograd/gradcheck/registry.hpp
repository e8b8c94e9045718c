// The gradient-check registry: every differentiable op's float64 central-difference checks, one file
// per op family as in autograd/ops/ (elementwise.cpp, activation.cpp, ...), each adding its entries.
// tests/autograd/test_gradcheck.cpp enumerates them all, and fails when a registered op has none.
#pragma once

#include <tapegrad/tapegrad.hpp>

#include <fmt/format.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace tapegrad::testing {

using Inputs = std::vector<Tensor>;
using OpFunction = std::function<Tensor(const Inputs&)>;

/// Where an input's random values come from.
enum class Domain {
  any,             // normal
  positive,        // uniform in [0.5, 2): for log, pow, sqrt
  away_from_zero,  // +-uniform in [0.5, 2): for abs, and denominators
};

/// One input of an entry: its shape and where its values come from.
struct Input {
  Shape shape;
  Domain domain = Domain::any;
};

/// One entry of the registry: which op, what it builds, from which inputs.
struct OpCase {
  std::string op;     // the name the op registers
  std::string label;  // what this entry covers
  std::vector<Input> inputs;
  OpFunction function;
  double scale = 1.0;       // the inputs' magnitude
  std::string family = "";  // the file that adds it: tests/autograd/gradcheck/<family>.cpp
};

/// Collects the entries of one op family (a file in tests/autograd/gradcheck/).
class Registry {
 public:
  explicit Registry(std::vector<OpCase>& cases, std::string family) : cases_(cases), family_(std::move(family)) {}

  /// One entry: `op` is the registered name that `f` must record.
  void add(std::string op, std::string label, std::vector<Input> inputs, OpFunction f, double scale = 1.0) {
    cases_.push_back({std::move(op), std::move(label), std::move(inputs), std::move(f), scale, family_});
  }

  /// A binary elementwise op: equal shapes, broadcasts, scalars, large and small magnitudes.
  void binary(const char* op, const OpFunction& f, Domain second) {
    add(op, "3x4 with 3x4", {{{3, 4}}, {{3, 4}, second}}, f);
    add(op, "3x1 with 1x4", {{{3, 1}}, {{1, 4}, second}}, f);
    add(op, "2x3x4 with 4", {{{2, 3, 4}}, {{4}, second}}, f);
    add(op, "4 with 2x3x4", {{{4}}, {{2, 3, 4}, second}}, f);
    add(op, "2x1x3 with 4x1", {{{2, 1, 3}}, {{4, 1}, second}}, f);
    add(op, "scalar with 2x3", {{{}}, {{2, 3}, second}}, f);
    add(op, "2x3 with scalar", {{{2, 3}}, {{}, second}}, f);
    add(op, "5 with 5, magnitude 1e3", {{{5}}, {{5}, second}}, f, 1e3);
    add(op, "5 with 5, magnitude 1e-3", {{{5}}, {{5}, second}}, f, 1e-3);
  }

  /// A unary elementwise op: a matrix, a scalar, a broadcastable shape, a large and a small magnitude.
  void unary(const char* op, const OpFunction& f, Domain domain, double large, double small) {
    add(op, "3x4", {{{3, 4}, domain}}, f);
    add(op, "scalar", {{{}, domain}}, f);
    add(op, "2x1x3", {{{2, 1, 3}, domain}}, f);
    add(op, fmt::format("5, magnitude {}", large), {{{5}, domain}}, f, large);
    add(op, fmt::format("5, magnitude {}", small), {{{5}, domain}}, f, small);
  }

 private:
  std::vector<OpCase>& cases_;
  std::string family_;
};

// Each op family's entries, one file each in tests/autograd/gradcheck/.
void add_elementwise_cases(Registry& registry);
void add_activation_cases(Registry& registry);
void add_reduce_cases(Registry& registry);
void add_shape_cases(Registry& registry);
void add_index_cases(Registry& registry);
void add_linalg_cases(Registry& registry);
void add_conv_cases(Registry& registry);
void add_pool_cases(Registry& registry);
void add_loss_cases(Registry& registry);
void add_normalization_cases(Registry& registry);
void add_dropout_cases(Registry& registry);

}  // namespace tapegrad::testing
