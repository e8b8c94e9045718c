// optim::SGD: exact steps, the same bits as the book's hand-written update.

#include "autograd/tapegrad.hpp"
#include "optim/optim.hpp"

#include <doctest/doctest.h>

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
