// optim::Adam: steps against the published formulas (Kingma and Ba, Algorithm 1), AMSGrad,
// decoupled weight decay, per-variable state.
//
// The expected numbers are the formulas evaluated by hand or by a separate scalar script (Python,
// float64), written below as literals: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// w -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).

#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>
#include "autograd/ops/record.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

using namespace tapegrad;

namespace {

Tensor scalar64(double value) { return Tensor({value}, {1}, DType::float64); }

}  // namespace

TEST_CASE("Adam: Keras's defaults") {
  const optim::Adam adam;
  CHECK(adam.learning_rate() == 0.001);
  CHECK(adam.name() == "Adam");
  CHECK(adam.options().beta_1 == 0.9);
  CHECK(adam.options().beta_2 == 0.999);
  CHECK(adam.options().epsilon == 1e-7);
  CHECK(adam.options().weight_decay == 0.0);
  CHECK_FALSE(adam.options().amsgrad);
}

TEST_CASE("Adam: three steps against the formulas") {
  // w0 = 1, gradients 1, -2, 0.5, lr = 0.1, defaults otherwise.
  // t = 1: m = 0.1, v = 0.001; m_hat = 1, v_hat = 1; w1 = 1 - 0.1 / (1 + 1e-7) = 0.90000001
  // t = 2: m = 0.09 - 0.2 = -0.11, v = 0.000999 + 0.004 = 0.004999;
  //        m_hat = -0.11 / 0.19 = -0.57894737, v_hat = 0.004999 / 0.001999 = 2.50075038, sqrt = 1.58137610
  //        w2 = 0.90000001 + 0.1 * 0.57894737 / 1.58137610 = 0.93661036
  // t = 3: m = -0.099 + 0.05 = -0.049, v = 0.004994001 + 0.00025 = 0.005244001;
  //        m_hat = -0.049 / 0.271 = -0.18081181, v_hat = 0.005244001 / 0.002997001 = 1.74975196, sqrt = 1.32278190
  //        w3 = 0.93661036 + 0.1 * 0.18081181 / 1.32278190 = 0.95027943
  Variable w(scalar64(1), "w");
  optim::Adam adam(0.1);
  const std::vector<double> grads{1, -2, 0.5};
  const std::vector<double> value{0.900000009999999, 0.9366103603884888, 0.9502794256602131};
  const std::vector<double> m{0.1, -0.11, -0.049}, v{0.001, 0.004999, 0.005244001};
  for (size_t step = 0; step < 3; ++step) {
    CAPTURE(step);
    adam.apply_gradients({scalar64(grads[step])}, {w});
    CHECK(w.value().item() == doctest::Approx(value[step]).epsilon(1e-13));
    CHECK(adam.get_slot(w, "m").item() == doctest::Approx(m[step]).epsilon(1e-13));
    CHECK(adam.get_slot(w, "v").item() == doctest::Approx(v[step]).epsilon(1e-13));
    CHECK(adam.get_slot(w, "step").item() == static_cast<double>(step + 1));
  }
  CHECK_FALSE(adam.get_slot(w, "vhat").defined());
  CHECK(adam.iterations() == 3);
}

TEST_CASE("Adam: the first step moves each element by lr in the gradient's direction (epsilon 0)") {
  Variable w(Tensor({0, 0, 0}, {3}, DType::float64), "w");
  optim::Adam adam(0.5, {.epsilon = 0});
  adam.apply_gradients({Tensor({3, -0.001, 1e6}, {3}, DType::float64)}, {w});
  const std::vector<double> expected{-0.5, 0.5, -0.5};
  for (size_t i = 0; i < 3; ++i)
    CHECK(w.value().flat(static_cast<int64_t>(i)) == doctest::Approx(expected[i]).epsilon(1e-14));
}

TEST_CASE("Adam: AMSGrad divides by the largest second moment so far") {
  // w0 = 1, gradients 2, 0, 0.1, lr = 0.1. v = 0.004, 0.003996, 0.004002004: it falls at t = 2,
  // so AMSGrad uses vhat = 0.004 there (v_hat = 0.004 / 0.001999 instead of 0.003996 / 0.001999).
  const std::vector<double> grads{2, 0, 0.1};
  const auto run = [&](bool amsgrad) {
    Variable w(scalar64(1), "w");
    optim::Adam adam(0.1, {.amsgrad = amsgrad});
    std::vector<double> values;
    for (double g : grads) {
      adam.apply_gradients({scalar64(g)}, {w});
      values.push_back(w.value().item());
    }
    if (amsgrad) CHECK(adam.get_slot(w, "vhat").item() == doctest::Approx(0.004002004).epsilon(1e-13));
    return values;
  };
  const std::vector<double> plain = run(false), ams = run(true);
  const std::vector<double> plain_expected{0.9000000049999998, 0.8329941843255585, 0.7780699763227664};
  const std::vector<double> ams_expected{0.9000000049999998, 0.8330276956134447, 0.7781034876106526};
  for (size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(plain[i] == doctest::Approx(plain_expected[i]).epsilon(1e-13));
    CHECK(ams[i] == doctest::Approx(ams_expected[i]).epsilon(1e-13));
  }
}

TEST_CASE("Adam: decoupled weight decay, w <- w - lr wd w before the step") {
  // w0 = 1, g = 1 twice, lr = 0.1, wd = 0.1.
  // t = 1: w = 1 - 0.01 = 0.99; then - 0.1 / (1 + 1e-7): 0.89000001
  // t = 2: w = 0.89000001 * 0.99 = 0.88110001; m_hat = 0.19 / 0.19 = 1, v_hat = 0.001999 / 0.001999 = 1;
  //        w = 0.88110001 - 0.1 / (1 + 1e-7) = 0.78110002
  Variable w(scalar64(1), "w");
  optim::Adam adam(0.1, {.weight_decay = 0.1});
  adam.apply_gradients({scalar64(1)}, {w});
  CHECK(w.value().item() == doctest::Approx(0.890000009999999).epsilon(1e-13));
  adam.apply_gradients({scalar64(1)}, {w});
  CHECK(w.value().item() == doctest::Approx(0.7811000198999987).epsilon(1e-13));
  // the decay does not enter the moments
  CHECK(adam.get_slot(w, "m").item() == doctest::Approx(0.19).epsilon(1e-13));
}

TEST_CASE("Adam: each variable keeps its own moments and step count") {
  Variable a(scalar64(1), "a"), b(scalar64(-1), "b");
  optim::Adam adam(0.1);
  adam.apply_gradients({scalar64(1), scalar64(3)}, {a, b});
  CHECK(adam.get_slot(a, "m").item() == doctest::Approx(0.1).epsilon(1e-13));
  CHECK(adam.get_slot(b, "m").item() == doctest::Approx(0.3).epsilon(1e-13));
  CHECK(adam.get_slot(a, "v").item() == doctest::Approx(0.001).epsilon(1e-13));
  CHECK(adam.get_slot(b, "v").item() == doctest::Approx(0.009).epsilon(1e-13));
  // b: -1 - 0.1 * 1 / (sqrt(1) + 1e-7) = -1.1 + 1e-8 / (1 + 1e-7)
  CHECK(b.value().item() == doctest::Approx(-1.0999999966666667).epsilon(1e-13));

  // An undefined gradient: b, its moments and its step count stay as they were.
  adam.apply_gradients({scalar64(-2), Tensor{}}, {a, b});
  CHECK(a.value().item() == doctest::Approx(0.9366103603884888).epsilon(1e-13));  // as in "three steps"
  CHECK(adam.get_slot(a, "step").item() == 2);
  CHECK(b.value().item() == doctest::Approx(-1.0999999966666667).epsilon(1e-13));
  CHECK(adam.get_slot(b, "m").item() == doctest::Approx(0.3).epsilon(1e-13));
  CHECK(adam.get_slot(b, "step").item() == 1);

  // b's second update is its t = 2: m = 0.27 - 0.1 = 0.17, v = 0.008991 + 0.001 = 0.009991;
  // m_hat = 0.17 / 0.19 = 0.89473684, v_hat = 0.009991 / 0.001999 = 4.99799900, sqrt = 2.23562944;
  // w = -1.09999999667 - 0.1 * 0.89473684 / 2.23562944 = -1.14002185
  adam.apply_gradients({Tensor{}, scalar64(-1)}, {a, b});
  CHECK(b.value().item() == doctest::Approx(-1.1400218520719192).epsilon(1e-13));
  CHECK(adam.get_slot(b, "step").item() == 2);
  CHECK(adam.get_slot(a, "step").item() == 2);
  CHECK(adam.iterations() == 3);
}

TEST_CASE("Adam: float32 variables, tensors of several elements, gradients from a tape") {
  Variable w(Tensor({1, -2, 3}, {3}), "w");
  optim::Adam adam(0.1);
  for (int step = 0; step < 3; ++step) {
    GradientTape tape;
    const Tensor loss = sum(square(w.read()));  // g = 2w: the sign of w, so each step moves w by about lr
    const size_t entries = tape.entries().size();
    adam.apply_gradients(tape.gradient(loss, std::vector<Variable>{w}), {w});
    CHECK(tape.entries().size() == entries);  // the update is not recorded
  }
  CHECK(w.value().dtype() == DType::float32);
  CHECK(adam.get_slot(w, "m").dtype() == DType::float32);
  const std::vector<double> values = w.value().to_vector();
  // With g of one sign and |g| shrinking only slightly, each step is close to lr: about 0.3 in all.
  CHECK(values[0] == doctest::Approx(0.7).epsilon(0.01));
  CHECK(values[1] == doctest::Approx(-1.7).epsilon(0.01));
  CHECK(values[2] == doctest::Approx(2.7).epsilon(0.01));
}

TEST_CASE("Adam: option errors, and gradient errors change nothing") {
  CHECK_THROWS_WITH_AS(optim::Adam(0.1, {.beta_1 = 1.0}), doctest::Contains("Adam: beta_1 must be in [0, 1), got 1"),
                       Error);
  CHECK_THROWS_WITH_AS(optim::Adam(0.1, {.beta_2 = -0.5}), doctest::Contains("beta_2 must be in [0, 1)"), Error);
  CHECK_THROWS_WITH_AS(optim::Adam(0.1, {.epsilon = -1}), doctest::Contains("epsilon must be"), Error);
  CHECK_THROWS_WITH_AS(optim::Adam(0.1, {.weight_decay = -1}), doctest::Contains("weight_decay must be"), Error);
  CHECK_THROWS_AS(optim::Adam(std::nan("")), Error);

  Variable w(Tensor({1, 2}, {2}), "w");
  optim::Adam adam;
  CHECK_THROWS_WITH_AS(
      adam.apply_gradients({ones({3})}, {w}),
      doctest::Contains("Adam.apply_gradients: gradient 0 is 3 float32, but variable 'w' is 2 float32"), Error);
  CHECK(w.value().to_vector() == std::vector<double>{1, 2});
  CHECK_FALSE(adam.get_slot(w, "m").defined());
  CHECK(adam.iterations() == 0);
}
