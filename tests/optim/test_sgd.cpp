// optim::SGD: exact steps, the same bits as the book's hand-written update.

#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>
#include "autograd/ops/record.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

using namespace tapegrad;

TEST_CASE("SGD: one step and several, exactly") {
  Variable w(Tensor({1, 2, 3}, {3}), "w");
  const Tensor g({0.5, -1, 2}, {3});
  optim::SGD sgd(0.5);
  CHECK(sgd.learning_rate() == 0.5);
  CHECK(sgd.name() == "SGD");

  sgd.apply_gradients({g}, {w});
  CHECK(w.value().to_vector() == std::vector<double>{0.75, 2.5, 2});
  CHECK(sgd.iterations() == 1);

  sgd.apply_gradients({g}, {w});
  sgd.apply_gradients({g}, {w});
  CHECK(w.value().to_vector() == std::vector<double>{0.25, 3.5, 0});
  CHECK(sgd.iterations() == 3);

  sgd.set_learning_rate(0.25);
  sgd.apply_gradients({g}, {w});
  CHECK(w.value().to_vector() == std::vector<double>{0.125, 3.75, -0.5});
  CHECK_FALSE(sgd.get_slot(w, "momentum").defined());  // plain SGD keeps no state
}

TEST_CASE("SGD: the same bits as the manual update w - lr * g") {
  for (const DType dtype : {DType::float32, DType::float64}) {
    CAPTURE(dtype_name(dtype));
    Generator gen(17);
    const Tensor start = tapegrad::random_normal({4, 5}, gen, 0, 1, dtype);
    Variable w(start);
    Tensor manual = start;
    const double lr = 0.03;  // not exact in binary: the rounding must happen the same way
    optim::SGD sgd(lr);
    for (int step = 0; step < 20; ++step) {
      const Tensor g = tapegrad::random_normal({4, 5}, gen, 0, 1, dtype);
      sgd.apply_gradients({g}, {w});
      manual = manual - lr * g;
    }
    CHECK(w.value().to_vector() == manual.to_vector());
  }
}

TEST_CASE("SGD: gradients from a tape") {
  Variable w(Tensor({1, -2}, {2}), "w");
  optim::SGD sgd(0.25);
  GradientTape tape;
  const Tensor loss = sum(square(w.read()));  // d/dw = 2w
  sgd.apply_gradients(tape.gradient(loss, std::vector<Variable>{w}), {w});
  CHECK(w.value().to_vector() == std::vector<double>{0.5, -1});
}

TEST_CASE("SGD: an undefined gradient leaves its variable alone") {
  Variable a(Tensor({1}, {1}), "a"), b(Tensor({1}, {1}), "b");
  optim::SGD sgd(1.0);
  sgd.apply_gradients({Tensor{}, Tensor({1}, {1})}, {a, b});
  CHECK(a.value().item() == 1);
  CHECK(b.value().item() == 0);
}

TEST_CASE("SGD: the value a tape recorded does not change, and the step is not recorded") {
  Variable w(Tensor({1, 2}, {2}), "w");
  optim::SGD sgd(1.0);
  GradientTape tape({.persistent = true});
  const Tensor read = w.read();
  const size_t entries = tape.entries().size();
  sgd.apply_gradients({ones({2})}, {w});
  CHECK(tape.entries().size() == entries);
  CHECK(read.to_vector() == std::vector<double>{1, 2});
  CHECK(w.value().to_vector() == std::vector<double>{0, 1});
}

// The momentum cases below share one sequence: w0 = 1, gradients 1, 2, -1 (given, not from a
// loss), learning rate 0.5, momentum 0.5; every number is exact in binary.

TEST_CASE("SGD: momentum, Keras's formula v <- m v - lr g; w <- w + v") {
  Variable w(Tensor({1}, {1}, DType::float64), "w");
  optim::SGD sgd(0.5, {.momentum = 0.5});
  CHECK(sgd.options().momentum == 0.5);
  // v1 = -0.5 * 1 = -0.5;              w1 = 1 - 0.5 = 0.5
  // v2 = 0.5 * -0.5 - 0.5 * 2 = -1.25; w2 = 0.5 - 1.25 = -0.75
  // v3 = 0.5 * -1.25 + 0.5 = -0.125;   w3 = -0.75 - 0.125 = -0.875
  const std::vector<double> grads{1, 2, -1}, velocity{-0.5, -1.25, -0.125}, value{0.5, -0.75, -0.875};
  for (size_t step = 0; step < 3; ++step) {
    sgd.apply_gradients({Tensor({grads[step]}, {1}, DType::float64)}, {w});
    CHECK(sgd.get_slot(w, "momentum").item() == velocity[step]);
    CHECK(w.value().item() == value[step]);
  }
}

TEST_CASE("SGD: Nesterov, w <- w + m v - lr g with the new v") {
  Variable w(Tensor({1}, {1}, DType::float64), "w");
  optim::SGD sgd(0.5, {.momentum = 0.5, .nesterov = true});
  // v as above: -0.5, -1.25, -0.125
  // w1 = 1 + 0.5 * -0.5 - 0.5 * 1 = 0.25
  // w2 = 0.25 + 0.5 * -1.25 - 0.5 * 2 = -1.375
  // w3 = -1.375 + 0.5 * -0.125 - 0.5 * -1 = -0.9375
  // (PyTorch's form, b <- m b + g; w <- w - lr (g + m b), gives the same: b = 1, 2.5, 0.25.)
  const std::vector<double> grads{1, 2, -1}, value{0.25, -1.375, -0.9375};
  for (size_t step = 0; step < 3; ++step) {
    sgd.apply_gradients({Tensor({grads[step]}, {1}, DType::float64)}, {w});
    CHECK(w.value().item() == value[step]);
  }
  CHECK(sgd.get_slot(w, "momentum").item() == -0.125);
}

TEST_CASE("SGD: weight decay is PyTorch's L2 term, g <- g + wd w") {
  SUBCASE("plain: w0 = 2, g = 1, lr = 0.5, wd = 0.5") {
    Variable w(Tensor({2}, {1}, DType::float64), "w");
    optim::SGD sgd(0.5, {.weight_decay = 0.5});
    // g1 = 1 + 0.5 * 2 = 2;        w1 = 2 - 0.5 * 2 = 1
    // g2 = 1 + 0.5 * 1 = 1.5;      w2 = 1 - 0.75 = 0.25
    // g3 = 1 + 0.5 * 0.25 = 1.125; w3 = 0.25 - 0.5625 = -0.3125
    const std::vector<double> value{1, 0.25, -0.3125};
    for (size_t step = 0; step < 3; ++step) {
      sgd.apply_gradients({ones({1}, DType::float64)}, {w});
      CHECK(w.value().item() == value[step]);
    }
  }
  SUBCASE("with momentum 0.5, the decay goes through the velocity") {
    Variable w(Tensor({2}, {1}, DType::float64), "w");
    optim::SGD sgd(0.5, {.momentum = 0.5, .weight_decay = 0.5});
    // g1 = 2;     v1 = -1;                     w1 = 1
    // g2 = 1.5;   v2 = -0.5 - 0.75 = -1.25;    w2 = -0.25
    // g3 = 0.875; v3 = -0.625 - 0.4375 = -1.0625; w3 = -1.3125
    const std::vector<double> value{1, -0.25, -1.3125};
    for (size_t step = 0; step < 3; ++step) {
      sgd.apply_gradients({ones({1}, DType::float64)}, {w});
      CHECK(w.value().item() == value[step]);
    }
    CHECK(sgd.get_slot(w, "momentum").item() == -1.0625);
  }
}

TEST_CASE("SGD: each variable keeps its own velocity; an undefined gradient leaves it alone") {
  Variable a(Tensor({0, 0}, {2}, DType::float64), "a"), b(Tensor({0}, {1}, DType::float64), "b");
  optim::SGD sgd(1.0, {.momentum = 0.5});
  sgd.apply_gradients({Tensor({1, 2}, {2}, DType::float64), Tensor({4}, {1}, DType::float64)}, {a, b});
  // a: v = [-1, -2], w = [-1, -2];  b: v = -4, w = -4
  CHECK(sgd.get_slot(a, "momentum").to_vector() == std::vector<double>{-1, -2});
  CHECK(sgd.get_slot(b, "momentum").item() == -4);
  sgd.apply_gradients({Tensor({1, 2}, {2}, DType::float64), Tensor{}}, {a, b});
  // a: v = [-0.5 - 1, -1 - 2] = [-1.5, -3], w = [-2.5, -5];  b untouched
  CHECK(a.value().to_vector() == std::vector<double>{-2.5, -5});
  CHECK(sgd.get_slot(a, "momentum").to_vector() == std::vector<double>{-1.5, -3});
  CHECK(b.value().item() == -4);
  CHECK(sgd.get_slot(b, "momentum").item() == -4);
  sgd.apply_gradients({Tensor({0}, {1}, DType::float64)}, {b});
  // b: v = 0.5 * -4 - 0 = -2, w = -6: its velocity went on from where it was
  CHECK(b.value().item() == -6);
}

TEST_CASE("SGD: float32 with momentum agrees with the float64 numbers") {
  Variable w(Tensor({1}, {1}), "w");
  optim::SGD sgd(0.1, {.momentum = 0.9});
  for (int step = 0; step < 3; ++step) sgd.apply_gradients({ones({1})}, {w});
  // v = -0.1, -0.19, -0.271; w = 0.9, 0.71, 0.439
  CHECK(w.value().dtype() == DType::float32);
  CHECK(w.value().item() == doctest::Approx(0.439).epsilon(1e-6));
}

TEST_CASE("SGD: option errors") {
  CHECK_THROWS_WITH_AS(optim::SGD(0.1, {.momentum = -0.1}), doctest::Contains("SGD: momentum must be in [0, 1]"),
                       Error);
  CHECK_THROWS_WITH_AS(optim::SGD(0.1, {.momentum = 1.5}), doctest::Contains("momentum must be in [0, 1], got 1.5"),
                       Error);
  CHECK_THROWS_WITH_AS(optim::SGD(0.1, {.nesterov = true}), doctest::Contains("nesterov needs a momentum > 0"), Error);
  CHECK_THROWS_WITH_AS(optim::SGD(0.1, {.weight_decay = -1}), doctest::Contains("weight_decay must be"), Error);
  CHECK_THROWS_AS(optim::SGD(0.1, {.weight_decay = std::nan("")}), Error);
}
