// nn::Conv2D: build on the first call, weights, options, the forward pass, gradients.

#include <tapegrad/nn.hpp>
#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

using namespace tapegrad;

TEST_CASE("Conv2D: the kernel is made on the first call from the input's channels") {
  nn::reset_names();
  nn::Conv2D conv(4, {2, 3});
  CHECK(conv.name() == "conv2d");
  CHECK_FALSE(conv.built());
  CHECK(conv.weights().empty());
  CHECK_THROWS_WITH_AS(conv.kernel(), doctest::Contains("call the layer first"), Error);

  const Tensor y = conv(zeros({2, 5, 6, 3}));
  CHECK(conv.built());
  CHECK(y.shape() == Shape{2, 4, 4, 4});
  REQUIRE(conv.weights().size() == 2);
  CHECK(conv.weights()[0].name() == "conv2d/kernel");
  CHECK(conv.weights()[0].shape() == Shape{2, 3, 3, 4});  // HWIO
  CHECK(conv.weights()[1].name() == "conv2d/bias");
  CHECK(conv.weights()[1].shape() == Shape{4});
  CHECK(conv.kernel().id() == conv.weights()[0].id());
  CHECK(conv.bias().id() == conv.weights()[1].id());
  CHECK(conv.trainable_variables().size() == 2);
}

TEST_CASE("Conv2D: use_bias = false makes no bias") {
  nn::Conv2D conv(1, {1, 2}, {.use_bias = false});
  conv(ones({1, 6, 8, 1}));
  REQUIRE(conv.weights().size() == 1);
  CHECK(conv.weights()[0].shape() == Shape{1, 2, 1, 1});
  CHECK_THROWS_WITH_AS(conv.bias(), doctest::Contains("has no bias"), Error);
}

TEST_CASE("Conv2D: initial weights") {
  SUBCASE("random normal (stddev 0.05) kernel and zero bias by default") {
    nn::Conv2D conv(32, {3, 3}, {.seed = 1});
    conv(zeros({1, 3, 3, 16}));
    const std::vector<double> k = conv.kernel().value().to_vector();
    double mean = 0, square = 0;
    for (double v : k) mean += v / static_cast<double>(k.size());
    for (double v : k) square += (v - mean) * (v - mean) / static_cast<double>(k.size());
    CHECK(std::abs(mean) < 0.005);
    CHECK(std::sqrt(square) == doctest::Approx(0.05).epsilon(0.05));
    CHECK(conv.bias().value().to_vector() == std::vector<double>(32, 0.0));
  }
  SUBCASE("a seed gives the same weights every time") {
    nn::Conv2D a(2, {2, 2}, {.bias_initializer = nn::RandomUniform(), .seed = 42});
    nn::Conv2D b(2, {2, 2}, {.bias_initializer = nn::RandomUniform(), .seed = 42});
    nn::Conv2D c(2, {2, 2}, {.bias_initializer = nn::RandomUniform(), .seed = 43});
    for (nn::Conv2D* conv : {&a, &b, &c}) (*conv)(zeros({1, 4, 4, 3}));
    CHECK(a.kernel().value().to_vector() == b.kernel().value().to_vector());
    CHECK(a.bias().value().to_vector() == b.bias().value().to_vector());
    CHECK(a.kernel().value().to_vector() != c.kernel().value().to_vector());
  }
  SUBCASE("without a seed, the default generator decides: reseeding it repeats the weights") {
    nn::set_seed(7);
    nn::Conv2D a(1, {1, 2});
    a(zeros({1, 1, 2, 1}));
    nn::Conv2D b(1, {1, 2});
    b(zeros({1, 1, 2, 1}));
    nn::set_seed(7);
    nn::Conv2D c(1, {1, 2});
    c(zeros({1, 1, 2, 1}));
    CHECK(a.kernel().value().to_vector() != b.kernel().value().to_vector());
    CHECK(a.kernel().value().to_vector() == c.kernel().value().to_vector());
  }
  SUBCASE("other initializers and float64") {
    nn::Conv2D conv(3, {2, 2},
                    {.kernel_initializer = nn::Ones(), .bias_initializer = nn::Constant(0.5), .dtype = DType::float64});
    conv(zeros({1, 2, 2, 2}, DType::float64));
    CHECK(conv.kernel().dtype() == DType::float64);
    CHECK(conv.kernel().value().to_vector() == std::vector<double>(2 * 2 * 2 * 3, 1.0));
    CHECK(conv.bias().value().to_vector() == std::vector<double>{0.5, 0.5, 0.5});
  }
}

TEST_CASE("Conv2D: forward is conv2d plus the bias") {
  SUBCASE("the book's numbers, plus a bias of 1") {
    nn::Conv2D conv(1, {2, 2});
    conv(zeros({1, 3, 3, 1}));
    conv.set_weights({Tensor({0, 1, 2, 3}, {2, 2, 1, 1}), Tensor({1}, {1})});
    const Tensor y = conv(reshape(arange(9), {1, 3, 3, 1}));
    CHECK(y.shape() == Shape{1, 2, 2, 1});
    CHECK(y.to_vector() == std::vector<double>{20, 26, 38, 44});
  }
  SUBCASE("batches, channels, filters, by hand") {
    Generator g(2);
    const Tensor x = tapegrad::random_normal({2, 4, 5, 3}, g, 0, 1, DType::float64);
    nn::Conv2D conv(2, {2, 3}, {.bias_initializer = nn::RandomNormal(), .seed = 9, .dtype = DType::float64});
    const Tensor y = conv(x);
    REQUIRE(y.shape() == Shape{2, 3, 3, 2});
    const Tensor k = conv.kernel().value(), b = conv.bias().value();
    CHECK(y.to_vector() == (conv2d(x, k) + b).to_vector());
    for (int64_t n = 0; n < 2; ++n) {
      for (int64_t i = 0; i < 3; ++i) {
        for (int64_t j = 0; j < 3; ++j) {
          for (int64_t o = 0; o < 2; ++o) {
            double expected = b.at({o});
            for (int64_t a = 0; a < 2; ++a) {
              for (int64_t c = 0; c < 3; ++c) {
                for (int64_t ch = 0; ch < 3; ++ch) expected += x.at({n, i + a, j + c, ch}) * k.at({a, c, ch, o});
              }
            }
            CHECK(y.at({n, i, j, o}) == doctest::Approx(expected).epsilon(1e-12));
          }
        }
      }
    }
  }
  SUBCASE("strides, padding and dilation reach conv2d") {
    Generator g(3);
    const Tensor x = tapegrad::random_normal({1, 7, 7, 2}, g);
    nn::Conv2D conv(3, {3, 3}, {.strides = {2, 2}, .padding = Padding::same(), .dilation_rate = {1, 1}, .seed = 1});
    CHECK(conv(x).shape() == Shape{1, 4, 4, 3});
    CHECK(conv(x).to_vector() ==
          (conv2d(x, conv.kernel().value(), {.strides = {2, 2}, .padding = Padding::same()}) + conv.bias().value())
              .to_vector());
    nn::Conv2D dilated(1, {2, 2}, {.dilation_rate = {2, 2}, .use_bias = false});
    CHECK(dilated(x).shape() == Shape{1, 5, 5, 1});
  }
}

TEST_CASE("Conv2D: activation, as Keras's, applied after the bias") {
  Generator g(4);
  const Tensor x = tapegrad::random_normal({2, 6, 6, 2}, g);
  for (const Activation activation : {Activation::linear, Activation::relu, Activation::sigmoid}) {
    INFO(activation_name(activation));
    nn::Conv2D conv(3, 3, {.activation = activation, .bias_initializer = nn::RandomNormal(), .seed = 5});
    const Tensor y = conv(x);
    const Tensor z = conv2d(x, conv.kernel().value()) + conv.bias().value();
    CHECK(y.to_vector() == apply_activation(z, activation).to_vector());
    const std::vector<double> values = y.to_vector();
    if (activation == Activation::relu) CHECK(*std::min_element(values.begin(), values.end()) == 0);
  }
  SUBCASE("without a bias, the activation alone") {
    nn::Conv2D conv(2, 3, {.activation = Activation::sigmoid, .use_bias = false, .seed = 6});
    const Tensor y = conv(x);
    CHECK(y.to_vector() == sigmoid(conv2d(x, conv.kernel().value())).to_vector());
  }
  SUBCASE("with a bias, the tape records one fused op, with an activation or without") {
    for (const Activation activation : {Activation::relu, Activation::linear}) {
      INFO(activation_name(activation));
      nn::Conv2D conv(2, 3, {.activation = activation, .seed = 7});
      conv(x);
      GradientTape tape;
      tape.watch(x);
      conv(x);
      const std::string printed = to_string(tape);
      INFO(printed);
      CHECK(printed.find("conv2d_bias_activation(") != std::string::npos);
      CHECK(printed.find("conv2d(") == std::string::npos);
      CHECK(printed.find("add(") == std::string::npos);
      CHECK(printed.find("relu(") == std::string::npos);
    }
  }
}

TEST_CASE("Conv2D: errors name the layer") {
  nn::Conv2D conv(1, {1, 2}, {.name = "edges"});
  CHECK(conv.name() == "edges");
  CHECK_THROWS_WITH_AS(conv(ones({6, 8})), doctest::Contains("edges: input is 6x8, expected rank 4"), Error);
  CHECK_FALSE(conv.built());
  conv(ones({1, 6, 8, 1}));
  CHECK_THROWS_WITH_AS(conv(ones({1, 6, 8, 2})),
                       doctest::Contains("edges: input 1x6x8x2 has 2 channels, but the layer was built for 1"), Error);
  CHECK_THROWS_WITH_AS(conv(ones({1, 6, 8, 1}, DType::float64)), doctest::Contains("edges: input is 1x6x8x1 float64"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::Conv2D(0, {1, 1}), doctest::Contains("filters must be at least 1, got 0"), Error);
  CHECK_THROWS_WITH_AS(nn::Conv2D(1, {0, 1}), doctest::Contains("kernel_size must be at least 1x1, got 0x1"), Error);
  CHECK_THROWS_WITH_AS(nn::Conv2D(1, {1, 1}, {.strides = {0, 1}}), doctest::Contains("strides 0x1"), Error);
  nn::Conv2D big(1, {3, 3});
  CHECK_THROWS_AS(big(ones({1, 2, 2, 1})), Error);  // kernel larger than the input: the convolution says so
}

TEST_CASE("Conv2D: gradients through the layer") {
  Generator g(4);
  const Tensor x = tapegrad::random_normal({2, 4, 5, 2}, g, 0, 1, DType::float64);
  const Tensor target = tapegrad::random_normal({2, 3, 4, 3}, g, 0, 1, DType::float64);
  nn::Conv2D conv(3, {2, 2}, {.bias_initializer = nn::RandomNormal(), .seed = 5, .dtype = DType::float64});
  const auto loss_at = [&](const std::vector<Tensor>& weights) {
    conv.set_weights(weights);
    return sum(square(conv(x) - target)).item();
  };
  conv(x);
  const std::vector<Tensor> weights = conv.get_weights();

  SUBCASE("the tape's gradients equal the formulas") {
    GradientTape tape;  // watches the trainable variables the layer reads
    const Tensor y = conv(x);
    const Tensor loss = sum(square(y - target));
    const std::vector<Tensor> grads = tape.gradient(loss, conv.trainable_variables());
    REQUIRE(grads.size() == 2);
    const Tensor dy = 2.0 * (y - target);
    CHECK(grads[0].shape() == Shape{2, 2, 2, 3});
    CHECK(grads[1].shape() == Shape{3});
    const std::vector<double> dk = conv2d_backprop_filter(x, dy, {2, 2, 2, 3}).to_vector();
    const std::vector<double> db = sum(dy, {0, 1, 2}).to_vector();
    for (size_t i = 0; i < dk.size(); ++i) CHECK(grads[0].flat(static_cast<int64_t>(i)) == doctest::Approx(dk[i]));
    for (size_t i = 0; i < db.size(); ++i) CHECK(grads[1].flat(static_cast<int64_t>(i)) == doctest::Approx(db[i]));
  }

  SUBCASE("the tape's weight gradients equal central differences") {
    std::vector<Tensor> grads;
    {
      GradientTape tape;
      grads = tape.gradient(sum(square(conv(x) - target)), conv.trainable_variables());
    }
    const double eps = 1e-6;
    for (size_t w = 0; w < weights.size(); ++w) {
      std::vector<double> values = weights[w].to_vector();
      for (size_t i = 0; i < values.size(); ++i) {
        std::vector<Tensor> shifted = weights;
        const double v = values[i];
        values[i] = v + eps;
        shifted[w] = Tensor(values, weights[w].shape(), DType::float64);
        const double plus = loss_at(shifted);
        values[i] = v - eps;
        shifted[w] = Tensor(values, weights[w].shape(), DType::float64);
        const double minus = loss_at(shifted);
        values[i] = v;
        CAPTURE(w);
        CAPTURE(i);
        CHECK(grads[w].flat(static_cast<int64_t>(i)) == doctest::Approx((plus - minus) / (2 * eps)).epsilon(1e-6));
      }
    }
    conv.set_weights(weights);
  }

  SUBCASE("gradcheck with respect to the input") {
    const GradcheckResult result = gradcheck([&](const std::vector<Tensor>& in) { return conv(in[0]); }, {x});
    CHECK_MESSAGE(result.passed, result.summary());
  }

  SUBCASE("watch_accessed_variables = false and an explicit watch: only the kernel") {
    GradientTape tape({.watch_accessed_variables = false});
    tape.watch(conv.weights()[0]);
    const Tensor loss = sum(square(conv(x) - target));
    const std::vector<Tensor> grads = tape.gradient(loss, conv.weights());
    CHECK(grads[0].defined());
    CHECK_FALSE(grads[1].defined());
  }
}
