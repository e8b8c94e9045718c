// nn::Dense: build on the first call, weights and their initial values, the forward pass, errors.

#include <tapegrad/nn.hpp>
#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

using namespace tapegrad;

namespace {

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector()) m = std::max(m, std::abs(v));
  return m;
}

double stddev(const Tensor& t) {
  const std::vector<double> v = t.to_vector();
  double mean = 0, square = 0;
  for (double x : v) mean += x / static_cast<double>(v.size());
  for (double x : v) square += (x - mean) * (x - mean) / static_cast<double>(v.size());
  return std::sqrt(square);
}

}  // namespace

TEST_CASE("Dense: the kernel is made on the first call from the input's last axis") {
  nn::reset_names();
  nn::Dense dense(4);
  CHECK(dense.name() == "dense");
  CHECK(dense.units() == 4);
  CHECK(dense.class_name() == "Dense");
  CHECK_FALSE(dense.built());
  CHECK_THROWS_WITH_AS(dense.kernel(), doctest::Contains("call the layer first"), Error);

  const Tensor y = dense(zeros({5, 3}));
  CHECK(y.shape() == Shape{5, 4});
  REQUIRE(dense.weights().size() == 2);
  CHECK(dense.weights()[0].name() == "dense/kernel");
  CHECK(dense.weights()[0].shape() == Shape{3, 4});
  CHECK(dense.weights()[1].name() == "dense/bias");
  CHECK(dense.weights()[1].shape() == Shape{4});
  CHECK(dense.kernel().id() == dense.weights()[0].id());
  CHECK(dense.bias().id() == dense.weights()[1].id());
  CHECK(dense.count_params() == 3 * 4 + 4);
  CHECK(nn::Dense(1).name() == "dense_1");

  nn::Dense plain(2, {.use_bias = false});
  plain(ones({1, 6}));
  REQUIRE(plain.weights().size() == 1);
  CHECK(plain.count_params() == 12);
  CHECK_THROWS_WITH_AS(plain.bias(), doctest::Contains("has no bias"), Error);
}

TEST_CASE("Dense: forward is x @ kernel + bias, by hand") {
  nn::Dense dense(2, {.dtype = DType::float64});
  const Tensor x({1, 2, 3,  //
                  -1, 0, 2},
                 {2, 3}, DType::float64);
  dense(x);
  dense.set_weights({Tensor({1, -1,  //
                             0, 2,   //
                             3, 1},
                            {3, 2}, DType::float64),
                     Tensor({0.5, -2}, {2}, DType::float64)});
  // Row 1: [1*1 + 2*0 + 3*3, 1*-1 + 2*2 + 3*1] + [0.5, -2] = [10, 6] + [0.5, -2] = [10.5, 4]
  // Row 2: [-1*1 + 0 + 2*3, -1*-1 + 0 + 2*1] + [0.5, -2] = [5, 3] + [0.5, -2] = [5.5, 1]
  const Tensor y = dense(x);
  CHECK(y.dtype() == DType::float64);
  CHECK(y.to_vector() == std::vector<double>{10.5, 4, 5.5, 1});
  CHECK(y.to_vector() == (matmul(x, dense.kernel().value()) + dense.bias().value()).to_vector());

  nn::Dense plain(2, {.use_bias = false, .kernel_initializer = nn::Ones()});
  CHECK(plain(Tensor({1, 2, 3}, {1, 3})).to_vector() == std::vector<double>{6, 6});
}

TEST_CASE("Dense: activation, as Keras's, applied after the bias") {
  Generator g(5);
  const Tensor x = tapegrad::random_normal({4, 3}, g);
  for (const Activation activation : {Activation::linear, Activation::relu, Activation::sigmoid}) {
    INFO(activation_name(activation));
    nn::Dense dense(5, {.activation = activation, .bias_initializer = nn::RandomNormal(), .seed = 8});
    const Tensor y = dense(x);
    CHECK(y.to_vector() ==
          apply_activation(matmul(x, dense.kernel().value()) + dense.bias().value(), activation).to_vector());
  }
}

TEST_CASE("Dense: gradients by the formulas dK = x^T dy, db = sum of dy over the batch") {
  nn::Dense dense(2, {.bias_initializer = nn::RandomNormal(), .seed = 3, .dtype = DType::float64});
  const Tensor x({1, 2, 3, 4, 5, 6}, {2, 3}, DType::float64);
  dense(x);
  GradientTape tape;
  const Tensor loss = sum(dense(x));  // dy = ones(2, 2)
  const std::vector<Tensor> grads = tape.gradient(loss, dense.trainable_variables());
  REQUIRE(grads.size() == 2);
  // x^T ones(2, 2): each row i holds x[0][i] + x[1][i] twice.
  CHECK(grads[0].to_vector() == std::vector<double>{5, 5, 7, 7, 9, 9});
  CHECK(grads[1].to_vector() == std::vector<double>{2, 2});
}

TEST_CASE("Dense: initial weights") {
  SUBCASE("Glorot uniform kernel, limit sqrt(6 / (fan_in + fan_out)), and zero bias by default") {
    nn::Dense dense(300, {.seed = 1});
    dense(zeros({1, 200}));
    const double limit = std::sqrt(6.0 / (200 + 300));
    const Tensor k = dense.kernel().value();
    CHECK(max_abs(k) <= limit);
    CHECK(max_abs(k) > 0.99 * limit);
    CHECK(stddev(k) == doctest::Approx(limit / std::sqrt(3.0)).epsilon(0.02));
    CHECK(dense.bias().value().to_vector() == std::vector<double>(300, 0.0));
  }
  SUBCASE("He normal: stddev sqrt(2 / fan_in)") {
    nn::Dense dense(100, {.kernel_initializer = nn::HeNormal(), .seed = 2});
    dense(zeros({1, 400}));
    CHECK(stddev(dense.kernel().value()) == doctest::Approx(std::sqrt(2.0 / 400)).epsilon(0.03));
  }
  SUBCASE("a seed gives the same weights every time") {
    nn::Dense a(3, {.seed = 42}), b(3, {.seed = 42}), c(3, {.seed = 43});
    for (nn::Dense* d : {&a, &b, &c}) (*d)(zeros({1, 4}));
    CHECK(a.kernel().value().to_vector() == b.kernel().value().to_vector());
    CHECK(a.kernel().value().to_vector() != c.kernel().value().to_vector());
  }
}

TEST_CASE("Conv2D with Glorot uniform counts the fans of an HWIO kernel as Keras does") {
  // kernel 5x5x6x16: fan_in = 5*5*6 = 150, fan_out = 5*5*16 = 400
  nn::Conv2D conv(16, {5, 5}, {.kernel_initializer = nn::GlorotUniform(), .seed = 4});
  conv(zeros({1, 5, 5, 6}));
  const double limit = std::sqrt(6.0 / (150 + 400));
  const Tensor k = conv.kernel().value();
  CHECK(max_abs(k) <= limit);
  CHECK(max_abs(k) > 0.98 * limit);
  CHECK(stddev(k) == doctest::Approx(limit / std::sqrt(3.0)).epsilon(0.03));
}

TEST_CASE("Dense: errors name the layer and the shape") {
  nn::Dense dense(3, {.name = "head"});
  CHECK(dense.name() == "head");
  CHECK_THROWS_WITH_AS(dense(ones({2, 4, 5})),
                       doctest::Contains("head: input is 2x4x5, expected rank 2 (batch, features)"), Error);
  CHECK_THROWS_WITH_AS(dense(ones({4})), doctest::Contains("head: input is 4, expected rank 2"), Error);
  CHECK_FALSE(dense.built());
  CHECK(dense.weights().empty());
  dense(ones({2, 4}));
  CHECK_THROWS_WITH_AS(dense(ones({2, 5})),
                       doctest::Contains("head: input 2x5 has 5 features, but the layer was built for 4"), Error);
  CHECK_THROWS_WITH_AS(dense(ones({2, 4}, DType::float64)), doctest::Contains("head: input is 2x4 float64"), Error);
  CHECK_THROWS_WITH_AS(nn::Dense(0), doctest::Contains("units must be at least 1, got 0"), Error);
}
