// The learning-rate schedules against Keras's formulas, and SGD and Adam driven by them.

#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <vector>

using namespace tapegrad;
using optim::CosineDecay;
using optim::ExponentialDecay;
using optim::PiecewiseConstantDecay;

namespace {

constexpr double kPi = std::numbers::pi;

// Keras 3's CosineDecay decay phase: from * ((1 - alpha) * 0.5 (1 + cos(pi s / decay_steps)) + alpha).
double keras_cosine(double from, double s, double decay_steps, double alpha) {
  return from * ((1 - alpha) * 0.5 * (1 + std::cos(kPi * (s / decay_steps))) + alpha);
}

}  // namespace

TEST_CASE("PiecewiseConstantDecay: values[i] while boundaries[i-1] < step <= boundaries[i]") {
  const PiecewiseConstantDecay schedule({10, 20}, {1.0, 0.5, 0.1});
  CHECK(schedule.name() == "PiecewiseConstantDecay");
  // A pair, not a structured binding: clang's OpenMP cannot capture one in doctest's CAPTURE.
  for (const std::pair<int64_t, double>& expected : std::vector<std::pair<int64_t, double>>{
           {0, 1.0}, {9, 1.0}, {10, 1.0}, {11, 0.5}, {20, 0.5}, {21, 0.1}, {1000000, 0.1}}) {
    CAPTURE(expected.first);
    CHECK(schedule(expected.first) == expected.second);
  }
  CHECK(PiecewiseConstantDecay({}, {0.3})(12345) == 0.3);

  CHECK_THROWS_WITH_AS(PiecewiseConstantDecay({10, 20}, {1.0, 0.5}),
                       "PiecewiseConstantDecay: 2 boundaries need 3 values, got 2", Error);
  CHECK_THROWS_WITH_AS(PiecewiseConstantDecay({10, 10}, {1.0, 0.5, 0.1}),
                       "PiecewiseConstantDecay: boundaries must increase strictly, got [10, 10]", Error);
  CHECK_THROWS_WITH_AS(PiecewiseConstantDecay({10}, {1.0, -0.5}),
                       "PiecewiseConstantDecay: each value must be a finite number >= 0, got -0.5", Error);
}

TEST_CASE("ExponentialDecay: initial * decay_rate^(step / decay_steps), floored with staircase") {
  const ExponentialDecay smooth(0.1, 10, 0.5);
  const ExponentialDecay stairs(0.1, 10, 0.5, /*staircase=*/true);
  CHECK(smooth.name() == "ExponentialDecay");
  for (const int64_t step : {0, 1, 5, 9, 10, 15, 20, 37, 1000}) {
    CAPTURE(step);
    const double p = static_cast<double>(step) / 10.0;
    CHECK(smooth(step) == 0.1 * std::pow(0.5, p));
    CHECK(stairs(step) == 0.1 * std::pow(0.5, std::floor(p)));
  }
  CHECK(smooth(10) == 0.05);
  CHECK(stairs(19) == 0.05);
  CHECK(stairs(20) == 0.025);
  CHECK(smooth(5) == doctest::Approx(0.1 / std::sqrt(2.0)).epsilon(1e-15));
  // Keras's docstring example: 0.1 decayed by 0.96 every 100000 steps, in steps.
  CHECK(ExponentialDecay(0.1, 100000, 0.96, true)(250000) == doctest::Approx(0.1 * 0.96 * 0.96).epsilon(1e-15));

  CHECK_THROWS_WITH_AS(ExponentialDecay(0.1, 0, 0.5),
                       "ExponentialDecay: decay_steps must be a finite number > 0, got 0", Error);
  CHECK_THROWS_WITH_AS(ExponentialDecay(-0.1, 10, 0.5),
                       "ExponentialDecay: initial_learning_rate must be a finite number >= 0, got -0.1", Error);
  CHECK_THROWS_WITH_AS(ExponentialDecay(0.1, 10, std::nan("")),
                       "ExponentialDecay: decay_rate must be a finite number >= 0, got nan", Error);
}

TEST_CASE("CosineDecay: Keras 3's cosine decay and its linear warm-up") {
  SUBCASE("no warm-up: from initial_learning_rate to alpha * it over decay_steps, then flat") {
    const CosineDecay schedule(0.1, 100);
    CHECK(schedule.name() == "CosineDecay");
    CHECK(schedule(0) == 0.1);
    CHECK(schedule(50) == doctest::Approx(0.05).epsilon(1e-15));
    CHECK(schedule(100) == 0.0);
    CHECK(schedule(1000) == 0.0);
    for (const int64_t step : {1, 13, 50, 99}) CHECK(schedule(step) == keras_cosine(0.1, double(step), 100, 0.0));
    const CosineDecay floor(0.1, 100, {.alpha = 0.1});
    CHECK(floor(100) == doctest::Approx(0.01).epsilon(1e-15));
    CHECK(floor(5000) == floor(100));
    CHECK(floor(30) == keras_cosine(0.1, 30, 100, 0.1));
  }
  SUBCASE("warm-up: linear from initial_learning_rate to warmup_target, then the decay from warmup_target") {
    const CosineDecay schedule(0.0, 100, {.warmup_target = 0.1, .warmup_steps = 10});
    CHECK(schedule(0) == 0.0);
    CHECK(schedule(5) == 0.05);
    CHECK(schedule(9) == (0.1 - 0.0) * (9.0 / 10.0) + 0.0);
    CHECK(schedule(10) == 0.1);  // the decay starts at warmup_target
    CHECK(schedule(60) == keras_cosine(0.1, 50, 100, 0.0));
    CHECK(schedule(110) == 0.0);
    CHECK(schedule(100000) == 0.0);
    const CosineDecay from_above(0.2, 10, {.alpha = 0.5, .warmup_target = 0.1, .warmup_steps = 4});
    CHECK(from_above(2) == (0.1 - 0.2) * 0.5 + 0.2);  // a warm-up may go down too
    CHECK(from_above(14) == keras_cosine(0.1, 10, 10, 0.5));
    CHECK(from_above(14) == doctest::Approx(0.05).epsilon(1e-15));
    // warmup_steps 0 with a target: the decay starts from the target at once.
    CHECK(CosineDecay(0.5, 10, {.warmup_target = 0.1})(0) == 0.1);
  }
  SUBCASE("bad arguments") {
    CHECK_THROWS_WITH_AS(CosineDecay(0.1, -1), "CosineDecay: decay_steps must be a finite number > 0, got -1", Error);
    CHECK_THROWS_WITH_AS(CosineDecay(0.1, 10, {.alpha = 1.5}), "CosineDecay: alpha must be in [0, 1], got 1.5", Error);
    CHECK_THROWS_WITH_AS(CosineDecay(0.1, 10, {.warmup_target = -1.0, .warmup_steps = 3}),
                         "CosineDecay: warmup_target must be a finite number >= 0, got -1", Error);
    CHECK_THROWS_WITH_AS(CosineDecay(0.1, 10, {.warmup_target = 1.0, .warmup_steps = -3}),
                         "CosineDecay: warmup_steps must be a finite number >= 0, got -3", Error);
  }
}

TEST_CASE("SGD and Adam take a schedule, evaluated at the optimizer's iteration count") {
  SUBCASE("SGD: each step moves by that step's rate") {
    Variable w(Tensor({0}, {1}, DType::float64), "w");
    optim::SGD sgd(ExponentialDecay(0.1, 1, 0.5));  // 0.1, 0.05, 0.025, ...
    CHECK(sgd.learning_rate_setting().schedule() != nullptr);
    CHECK(sgd.learning_rate() == 0.1);
    std::vector<double> rates;
    double expected = 0;
    for (int step = 0; step < 4; ++step) {
      rates.push_back(sgd.learning_rate());
      expected -= 0.1 * std::pow(0.5, step);
      sgd.apply_gradients({Tensor({1}, {1}, DType::float64)}, {w});
      CHECK(w.value().item() == expected);
    }
    CHECK(rates == std::vector<double>{0.1, 0.05, 0.025, 0.0125});
    CHECK(sgd.iterations() == 4);
    // The state records the next step's rate; a constant replaces the schedule.
    for (const auto& [name, value] : sgd.state()) {
      if (name == "learning_rate") CHECK(value.item() == 0.00625);
    }
    sgd.set_learning_rate(0.5);
    CHECK(sgd.learning_rate_setting().schedule() == nullptr);
    CHECK(sgd.learning_rate() == 0.5);
  }
  SUBCASE("a schedule survives load_state, which puts it back at the saved iteration") {
    const PiecewiseConstantDecay steps({1}, {1.0, 0.25});
    Variable a(Tensor({0}, {1}, DType::float64), "w"), b(Tensor({0}, {1}, DType::float64), "w");
    optim::SGD straight(steps, {.momentum = 0.5});
    for (int i = 0; i < 4; ++i) straight.apply_gradients({Tensor({1}, {1}, DType::float64)}, {a});
    optim::SGD first(steps, {.momentum = 0.5});
    for (int i = 0; i < 2; ++i) first.apply_gradients({Tensor({1}, {1}, DType::float64)}, {b});
    optim::SGD resumed(steps, {.momentum = 0.5});
    resumed.load_state(first.state());
    CHECK(resumed.learning_rate() == 0.25);
    CHECK(resumed.learning_rate_setting().schedule() != nullptr);
    for (int i = 0; i < 2; ++i) resumed.apply_gradients({Tensor({1}, {1}, DType::float64)}, {b});
    CHECK(b.value().item() == a.value().item());
  }
  SUBCASE("Adam: the step's rate scales its update") {
    // Adam's first update is -lr * g / (|g| + epsilon') with bias correction: about -lr * sign(g).
    Variable w(Tensor({0}, {1}, DType::float64), "w");
    optim::Adam adam(CosineDecay(0.0, 10, {.warmup_target = 0.2, .warmup_steps = 2}), {.epsilon = 0});
    adam.apply_gradients({Tensor({3}, {1}, DType::float64)}, {w});  // rate 0: no move
    CHECK(w.value().item() == 0.0);
    CHECK(adam.learning_rate() == 0.1);
    adam.apply_gradients({Tensor({3}, {1}, DType::float64)}, {w});  // rate 0.1, m_hat / sqrt(v_hat) = 1
    CHECK(w.value().item() == doctest::Approx(-0.1).epsilon(1e-12));
  }
}

namespace {

// A schedule gone wrong at step 2: a negative rate, then NaN.
class Faulty : public optim::LearningRateSchedule {
 public:
  double operator()(int64_t step) const override { return step < 2 ? 0.1 : step == 2 ? -1.0 : std::nan(""); }
  std::string name() const override { return "Faulty"; }
};

}  // namespace

TEST_CASE("Optimizer: a negative or NaN learning rate, constant or scheduled, is an error naming the optimizer") {
  CHECK_THROWS_WITH_AS(optim::SGD(-0.1), "SGD: learning rate must be a finite number >= 0, got -0.1", Error);
  CHECK_THROWS_WITH_AS(optim::Adam(std::nan("")), "Adam: learning rate must be a finite number >= 0, got nan", Error);
  optim::SGD sgd(0.1);
  CHECK_THROWS_WITH_AS(sgd.set_learning_rate(-1e-9), "SGD: learning rate must be a finite number >= 0, got -1e-09",
                       Error);
  CHECK(sgd.learning_rate() == 0.1);
  CHECK_NOTHROW(optim::SGD(0.0));  // zero is allowed: a step that changes nothing

  Variable w(Tensor({1}, {1}), "w");
  optim::SGD scheduled{Faulty()};
  scheduled.apply_gradients({ones({1})}, {w});
  scheduled.apply_gradients({ones({1})}, {w});
  const double before = w.value().item();
  CHECK_THROWS_WITH_AS(scheduled.apply_gradients({ones({1})}, {w}),
                       "SGD.apply_gradients: the learning rate is -1 (Faulty at iteration 2); expected a finite number "
                       ">= 0",
                       Error);
  CHECK(scheduled.iterations() == 2);
  CHECK(w.value().item() == before);
  optim::Adam adam{Faulty()};
  adam.load_state([&] {
    optim::Adam other(0.1);
    NamedTensors state = other.state();
    state[0].second = Tensor::scalar(3, DType::int64);  // iterations
    return state;
  }());
  CHECK_THROWS_WITH_AS(adam.apply_gradients({ones({1})}, {w}),
                       "Adam.apply_gradients: the learning rate is nan (Faulty at iteration 3); expected a finite "
                       "number >= 0",
                       Error);
}
