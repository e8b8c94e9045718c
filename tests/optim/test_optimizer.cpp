// optim::Optimizer: the checks of apply_gradients, per-variable state that survives steps, and the
// whole state saved and restored (state / load_state) so that training continues bit for bit.

#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
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

TEST_CASE("Optimizer: a step with no gradient at all is an error, as TensorFlow's, and is not counted") {
  Variable w(Tensor({1, 2}, {2}), "dense/kernel"), b(Tensor({3}, {1}), "dense/bias");
  for (const bool adam : {false, true}) {
    CAPTURE(adam);
    std::unique_ptr<optim::Optimizer> optimizer =
        adam ? std::unique_ptr<optim::Optimizer>(std::make_unique<optim::Adam>(0.1))
             : std::unique_ptr<optim::Optimizer>(std::make_unique<optim::SGD>(0.1));
    // A loss that reads no variable: the tape's gradients are all undefined.
    std::vector<Tensor> gradients;
    {
      GradientTape tape;
      const Tensor loss = sum(square(Tensor({1, 2}, {2})));
      gradients = tape.gradient(loss, std::vector<Variable>{w, b});
    }
    REQUIRE(gradients.size() == 2);
    CHECK_FALSE(gradients[0].defined());
    CHECK_THROWS_WITH_AS(optimizer->apply_gradients(gradients, {w, b}),
                         (optimizer->name() +
                          ".apply_gradients: No gradients provided for any variable: ['dense/kernel', 'dense/bias']; "
                          "every gradient is undefined, so the loss does not depend on these variables (was the loss "
                          "computed from them, under the tape?)")
                             .c_str(),
                         Error);
    CHECK(optimizer->iterations() == 0);
    CHECK(w.value().to_vector() == std::vector<double>{1, 2});
    // One defined gradient is a step, and the other variable is left alone.
    optimizer->apply_gradients({ones({2}), Tensor{}}, {w, b});
    CHECK(optimizer->iterations() == 1);
    CHECK(b.value().item() == 3);
    w.assign(Tensor({1, 2}, {2}));
    // Empty lists: nothing to do, and not a step (Keras).
    optimizer->apply_gradients({}, {});
    CHECK(optimizer->iterations() == 1);
  }
}

TEST_CASE("Optimizer: the same variable twice in one step is an error, and nothing changes") {
  Variable w(Tensor({1, 2}, {2}), "w"), v(Tensor({3}, {1}), "v");
  optim::SGD sgd(0.1);
  CHECK_THROWS_WITH_AS(sgd.apply_gradients({ones({2}), ones({1}), ones({2})}, {w, v, w}),
                       "SGD.apply_gradients: variable 'w' is given twice (at 0 and 2); each variable may appear once "
                       "in a step",
                       Error);
  const Variable alias = v;  // another handle to the same variable
  CHECK_THROWS_WITH_AS(sgd.apply_gradients({ones({1}), Tensor{}}, {v, alias}),
                       doctest::Contains("variable 'v' is given twice (at 0 and 1)"), Error);
  CHECK(w.value().to_vector() == std::vector<double>{1, 2});
  CHECK(v.value().item() == 3);
  CHECK(sgd.iterations() == 0);
}

namespace {

// Two variables stepped `steps` times by `optimizer` with gradients that change each step.
void train(optim::Optimizer& optimizer, const std::vector<Variable>& variables, int first_step, int steps) {
  for (int step = first_step; step < first_step + steps; ++step) {
    std::vector<Tensor> gradients;
    for (const Variable& v : variables) gradients.push_back(sin(v.value() * (1.0 + step)) + 0.1 * step);
    optimizer.apply_gradients(gradients, variables);
  }
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), static_cast<size_t>(a.numel()) * dtype_size(a.dtype())) == 0;
}

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>()>;

// 5 steps in one go, against 3 steps, state() into a new optimizer and new variables, 2 more steps.
void check_resume(const MakeOptimizer& make, const MakeOptimizer& make_other) {
  const auto variables = [] {
    return std::vector<Variable>{Variable(Tensor({0.5, -1.5, 2.0}, {3}), "dense/kernel"),
                                 Variable(Tensor({0.25, 0.125}, {2}, DType::float64), "dense/bias")};
  };
  const std::vector<Variable> straight = variables();
  auto uninterrupted = make();
  train(*uninterrupted, straight, 0, 5);

  const std::vector<Variable> first = variables();
  auto before = make();
  train(*before, first, 0, 3);
  const NamedTensors state = before->state();

  std::vector<Variable> resumed = variables();  // new variables with the values reached, by name
  for (size_t i = 0; i < resumed.size(); ++i) resumed[i].assign(first[i].value());
  auto after = make_other();  // other hyper-parameters: the state restores them
  after->load_state(state);
  CHECK(after->iterations() == 3);
  CHECK(after->hyper_parameters() == before->hyper_parameters());
  train(*after, resumed, 3, 2);
  CHECK(after->iterations() == 5);
  for (size_t i = 0; i < resumed.size(); ++i) CHECK(same_bits(resumed[i].value(), straight[i].value()));
}

}  // namespace

TEST_CASE("Optimizer: a gradient aggregator sees the checked gradients before the update") {
  Variable w(Tensor({1, 2}, {2}), "w"), v(Tensor({3}, {1}), "v");
  optim::SGD sgd(0.5);
  CHECK_FALSE(sgd.has_gradient_aggregator());
  int calls = 0;
  // Doubles each gradient, as the sum over two processes would.
  sgd.set_gradient_aggregator([&](const std::vector<Tensor>& gradients, const std::vector<Variable>& variables) {
    ++calls;
    CHECK(variables.size() == 2);
    std::vector<Tensor> doubled;
    for (const Tensor& g : gradients) doubled.push_back(g.defined() ? g * 2.0 : Tensor{});
    return doubled;
  });
  CHECK(sgd.has_gradient_aggregator());
  sgd.apply_gradients({ones({2}), Tensor{}}, {w, v});
  CHECK(calls == 1);
  CHECK(w.value().to_vector() == std::vector<double>{0, 1});  // w - 0.5 * 2 * 1
  CHECK(v.value().item() == 3);                               // an undefined gradient stays undefined
  // A bad gradient is an Error before the aggregator runs.
  CHECK_THROWS_WITH_AS(sgd.apply_gradients({ones({3}), Tensor{}}, {w, v}),
                       doctest::Contains("gradient 0 is 3 float32, but variable 'w' is 2 float32"), Error);
  CHECK(calls == 1);
  // An aggregator that changes a shape or the count is an Error, and nothing changes.
  sgd.set_gradient_aggregator([](const std::vector<Tensor>& gradients, const std::vector<Variable>&) {
    return std::vector<Tensor>{ones({3}), gradients[1]};
  });
  CHECK_THROWS_WITH_AS(sgd.apply_gradients({ones({2}), Tensor{}}, {w, v}),
                       doctest::Contains("SGD.apply_gradients: the gradient aggregator changed gradient 0 of variable "
                                         "'w' from 2 float32 to 3 float32"),
                       Error);
  sgd.set_gradient_aggregator(
      [](const std::vector<Tensor>&, const std::vector<Variable>&) { return std::vector<Tensor>{}; });
  CHECK_THROWS_WITH_AS(sgd.apply_gradients({ones({2}), Tensor{}}, {w, v}),
                       doctest::Contains("the gradient aggregator returned 0 gradients for 2"), Error);
  CHECK(w.value().to_vector() == std::vector<double>{0, 1});
  CHECK(sgd.iterations() == 1);
  sgd.set_gradient_aggregator({});  // back to the gradients as given
  sgd.apply_gradients({ones({2}), Tensor{}}, {w, v});
  CHECK(w.value().to_vector() == std::vector<double>{-0.5, 0.5});
}

TEST_CASE("Optimizer: state names iterations, learning rate, hyper-parameters and slots") {
  optim::SGD sgd(0.1, {.momentum = 0.9});
  Variable w(Tensor({1, 2}, {2}), "dense/kernel");
  sgd.apply_gradients({Tensor({1, 1}, {2})}, {w});
  std::vector<std::string> names;
  for (const auto& [name, value] : sgd.state()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"iterations", "learning_rate", "hyper/momentum", "hyper/nesterov",
                                          "hyper/weight_decay", "slots/dense/kernel/momentum"});
  CHECK(sgd.state()[0].second.dtype() == DType::int64);
  CHECK(sgd.state()[1].second.dtype() == DType::float64);
}

TEST_CASE("Optimizer: restored from its state, training continues bit for bit") {
  SUBCASE("SGD with momentum") {
    check_resume([] { return std::make_unique<optim::SGD>(0.05, optim::SGDOptions{.momentum = 0.9}); },
                 [] { return std::make_unique<optim::SGD>(0.5, optim::SGDOptions{.momentum = 0.1}); });
  }
  SUBCASE("SGD with Nesterov momentum and weight decay") {
    check_resume(
        [] {
          return std::make_unique<optim::SGD>(
              0.05, optim::SGDOptions{.momentum = 0.8, .nesterov = true, .weight_decay = 0.01});
        },
        [] { return std::make_unique<optim::SGD>(0.05); });
  }
  SUBCASE("Adam") {
    check_resume([] { return std::make_unique<optim::Adam>(0.01); },
                 [] { return std::make_unique<optim::Adam>(0.3, optim::AdamOptions{.beta_1 = 0.5}); });
  }
  SUBCASE("Adam with amsgrad and weight decay") {
    check_resume(
        [] { return std::make_unique<optim::Adam>(0.01, optim::AdamOptions{.weight_decay = 0.1, .amsgrad = true}); },
        [] { return std::make_unique<optim::Adam>(0.01); });
  }
}

TEST_CASE("Optimizer: load_state is strict") {
  optim::Adam adam(0.01);
  Variable w(Tensor({1, 2}, {2}), "w");
  adam.apply_gradients({Tensor({1, 1}, {2})}, {w});
  const NamedTensors adam_state = adam.state();

  optim::SGD sgd(0.1, {.momentum = 0.9});
  const NamedTensors sgd_state = sgd.state();
  CHECK_THROWS_WITH_AS(sgd.load_state(adam_state),
                       "SGD.load_state: the state is not a SGD optimizer's: unexpected: hyper/amsgrad, hyper/beta_1, "
                       "hyper/beta_2, hyper/epsilon; missing: hyper/momentum, hyper/nesterov",
                       Error);
  NamedTensors bad = sgd_state;
  bad[0].second = Tensor::scalar(1.5, DType::float64);
  CHECK_THROWS_WITH_AS(sgd.load_state(bad), "SGD.load_state: 'iterations' must be a int64 scalar, got scalar float64",
                       Error);
  bad = sgd_state;
  bad[2].second = Tensor::scalar(2.0, DType::float64);  // momentum 2
  CHECK_THROWS_WITH_AS(sgd.load_state(bad), "SGD: momentum must be in [0, 1], got 2", Error);

  SUBCASE("slots wait for the next step, which must have their variables") {
    optim::Adam other(0.01);
    other.load_state(adam_state);
    CHECK(other.state().size() == adam_state.size());  // the waiting slots are part of the state
    Variable stranger(Tensor({1, 2}, {2}), "stranger");
    CHECK_THROWS_WITH_AS(other.apply_gradients({Tensor({1, 1}, {2})}, {stranger}),
                         "Adam.apply_gradients: the restored state has slots for w, which are not among the 1 "
                         "variables given",
                         Error);
  }
}
