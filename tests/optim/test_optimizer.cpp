// optim::Optimizer: the checks of apply_gradients, and per-variable state that survives steps.

#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

using namespace tapegrad;

namespace {

// Heavy-ball momentum, v <- 0.5 v + g; w <- w - lr v: a test of the slots a later optimizer needs.
class Momentum : public optim::Optimizer {
 public:
  explicit Momentum(double learning_rate) : optim::Optimizer("Momentum", learning_rate) {}

 protected:
  void update_step(Variable& variable, const Tensor& gradient, Slots& slots) override {
    auto [velocity, fresh] = slots.try_emplace("momentum", zeros_like(gradient));
    velocity->second = 0.5 * velocity->second + gradient;
    variable.assign_sub(learning_rate() * velocity->second);
  }
};

}  // namespace

TEST_CASE("Optimizer: per-variable state survives between steps") {
  Variable a(Tensor({0}, {1}), "a"), b(Tensor({0}, {1}), "b");
  Momentum opt(1.0);
  const Tensor g({1}, {1});
  opt.apply_gradients({g, g}, {a, b});         // v = 1
  opt.apply_gradients({g, Tensor{}}, {a, b});  // a: v = 1.5; b: skipped, state kept
  CHECK(a.value().item() == -2.5);
  CHECK(b.value().item() == -1);
  CHECK(opt.get_slot(a, "momentum").item() == 1.5);
  CHECK(opt.get_slot(b, "momentum").item() == 1);
  CHECK_FALSE(opt.get_slot(a, "velocity").defined());
  CHECK_FALSE(opt.get_slot(Variable(zeros({1})), "momentum").defined());
  opt.apply_gradients({g}, {b});  // b: v = 1.5, as if a were not there
  CHECK(b.value().item() == -2.5);
  CHECK(opt.iterations() == 3);
}

TEST_CASE("Optimizer: apply_gradients errors, and nothing changes on one") {
  Variable w(Tensor({1, 2}, {2}), "w"), v(Tensor({3}, {1}), "v");
  optim::SGD sgd(0.1);
  CHECK_THROWS_WITH_AS(sgd.apply_gradients({ones({2})}, {w, v}),
                       doctest::Contains("SGD.apply_gradients: 1 gradients for 2 variables"), Error);
  CHECK_THROWS_WITH_AS(sgd.apply_gradients({ones({2}), ones({2})}, {w, v}),
                       doctest::Contains("gradient 1 is 2 float32, but variable 'v' is 1 float32"), Error);
  CHECK_THROWS_WITH_AS(sgd.apply_gradients({ones({2}), ones({1}, DType::float64)}, {w, v}),
                       doctest::Contains("gradient 1 is 1 float64, but variable 'v' is 1 float32"), Error);
  CHECK_THROWS_WITH_AS(sgd.apply_gradients({ones({2})}, {Variable{}}), doctest::Contains("empty handle"), Error);
  CHECK(w.value().to_vector() == std::vector<double>{1, 2});  // the valid first pair was not applied
  CHECK(sgd.iterations() == 0);
  CHECK_THROWS_AS(optim::SGD(std::nan("")), Error);
  CHECK_THROWS_AS(sgd.set_learning_rate(std::numeric_limits<double>::infinity()), Error);
}
