// nn::BatchNormalization: Keras's numbers in training and in inference, the moving statistics'
// update, gradients, center/scale off, its variables (trainable and not), summary counts, a
// checkpoint's round trip with the moving statistics, errors.

#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

using namespace tapegrad;

namespace {

void check_close(const Tensor& t, const std::vector<double>& expected, double tolerance) {
  const std::vector<double> values = t.to_vector();
  REQUIRE(values.size() == expected.size());
  for (size_t i = 0; i < values.size(); ++i) {
    INFO("element ", i, " of ", to_string(t));
    CHECK(values[i] == doctest::Approx(expected[i]).epsilon(tolerance));
  }
}

std::vector<std::string> names_of(const std::vector<Variable>& variables) {
  std::vector<std::string> names;
  for (const Variable& v : variables) names.push_back(v.name());
  return names;
}

// Three examples of two features; channel 0: 1, 3, 5 (mean 3, biased variance 8/3), channel 1: 2, 6,
// 10 (mean 6, variance 32/3). The expected values below are the formula in double (Python, by hand):
// Keras's BatchNormalization gives them (epsilon 1e-3, momentum 0.99).
const std::vector<double> kX{1, 2, 3, 6, 5, 10};

}  // namespace

TEST_CASE("BatchNormalization: training uses the batch's statistics and updates the moving ones") {
  nn::reset_names();
  for (const DType dtype : {DType::float64, DType::float32}) {
    INFO(dtype_name(dtype));
    const double tolerance = dtype == DType::float64 ? 1e-12 : 1e-6;
    nn::BatchNormalization bn({.dtype = dtype});
    const Tensor x(kX, {3, 2}, dtype);
    const Tensor y0 = bn(x);  // built; inference: moving mean 0, variance 1
    CHECK(bn.built());
    check_close(y0,
                {1 / std::sqrt(1.001), 2 / std::sqrt(1.001), 3 / std::sqrt(1.001), 6 / std::sqrt(1.001),
                 5 / std::sqrt(1.001), 10 / std::sqrt(1.001)},
                tolerance);
    CHECK(bn.moving_mean().value().to_vector() == std::vector<double>{0, 0});  // inference changes nothing

    Variable(bn.gamma()).assign(Tensor({2, 0.5}, {2}, dtype));
    Variable(bn.beta()).assign(Tensor({1, -1}, {2}, dtype));
    // y = (x - mean) / sqrt(var + 1e-3) * gamma + beta; channel 0's xhat is +-2 / sqrt(8/3 + 1e-3).
    const Tensor y = bn(x, true);
    check_close(y, {-1.4490305925883638, -1.612343732756031, 1.0, -1.0, 3.4490305925883638, -0.38765626724396895},
                tolerance);
    // moving = moving * 0.99 + batch * 0.01, with the biased variance, as Keras.
    check_close(bn.moving_mean().value(), {0.03, 0.06}, tolerance);
    check_close(bn.moving_variance().value(), {0.99 + 0.01 * 8.0 / 3.0, 0.99 + 0.01 * 32.0 / 3.0}, tolerance);

    // Inference now uses the moving statistics.
    check_close(bn(x),
                {2.923087102192819, -0.07415881437358507, 6.888215147951209, 1.8347920838252088, 10.853343193709598,
                 3.743742982024002},
                tolerance);
    CHECK(bn(x, false).to_vector() == bn(x).to_vector());

    // A second training step moves them again, from where they are.
    bn(x, true);
    check_close(bn.moving_mean().value(), {0.03 * 0.99 + 0.03, 0.06 * 0.99 + 0.06}, tolerance);
  }
}

TEST_CASE("BatchNormalization: gradients of x, gamma and beta in training, and of x in inference") {
  nn::reset_names();
  nn::BatchNormalization bn({.dtype = DType::float64});
  const Tensor x(kX, {3, 2}, DType::float64);
  bn(x);
  Variable(bn.gamma()).assign(Tensor({2, 0.5}, {2}, DType::float64));
  Variable(bn.beta()).assign(Tensor({1, -1}, {2}, DType::float64));
  const Tensor w({1, -1, 2, 0.5, -3, 1}, {3, 2}, DType::float64);

  GradientTape tape;
  tape.watch(x);
  const Tensor loss = sum(bn(x, true) * w);
  const std::vector<Tensor> grads = tape.gradient(loss, {x, bn.gamma(), bn.beta()});
  // dbeta = sum(dy); dgamma = sum(dy xhat); dx = gamma rstd (dy - mean(dy) - xhat mean(dy xhat)).
  check_close(grads[0],
              {-1.2235972540877886, -0.025528672659048686, 2.4490305925883638, 0.05102864439633593, -1.2254333385005751,
               -0.02549997173728724},
              1e-12);
  check_close(grads[1], {-4.8980611851767275, 2.449374931024124}, 1e-12);
  check_close(grads[2], {0, 0.5}, 1e-12);
  // The moving statistics are not trainable: the tape does not watch them, optimizers never see them.
  CHECK(names_of(bn.trainable_variables()) ==
        std::vector<std::string>{"batch_normalization/gamma", "batch_normalization/beta"});

  GradientTape inference;
  inference.watch(x);
  const Tensor dx = inference.gradient(sum(bn(x) * w), x);  // w * gamma / sqrt(moving_variance + eps)
  const std::vector<double> mv = bn.moving_variance().value().to_vector();
  check_close(
      dx,
      {1 * 2 / std::sqrt(mv[0] + 1e-3), -1 * 0.5 / std::sqrt(mv[1] + 1e-3), 2 * 2 / std::sqrt(mv[0] + 1e-3),
       0.5 * 0.5 / std::sqrt(mv[1] + 1e-3), -3 * 2 / std::sqrt(mv[0] + 1e-3), 1 * 0.5 / std::sqrt(mv[1] + 1e-3)},
      1e-12);
}

TEST_CASE("BatchNormalization: NHWC inputs normalize each channel over batch, height and width") {
  nn::reset_names();
  Generator generator(3);
  const Tensor x = random_normal({4, 5, 5, 3}, generator, 2.0, 3.0);
  nn::BatchNormalization bn;
  const Tensor y = bn(x, true);
  const std::vector<double> mean = reduce_mean(y, {0, 1, 2}).to_vector();
  const std::vector<double> variance = reduce_mean(square(y - reduce_mean(y, {0, 1, 2}, true)), {0, 1, 2}).to_vector();
  for (size_t c = 0; c < 3; ++c) {
    CHECK(mean[c] == doctest::Approx(0).epsilon(1e-5).scale(1));
    // var / (var + eps) with var about 9
    CHECK(variance[c] == doctest::Approx(1).epsilon(2e-4));
  }
  CHECK(bn.moving_mean().shape() == Shape{3});
}

TEST_CASE("BatchNormalization: variables, center and scale, summary counts, options") {
  nn::reset_names();
  SUBCASE("Keras's variables and order: gamma, beta trainable; moving_mean, moving_variance not") {
    nn::BatchNormalization bn;
    bn(ones({2, 4}));
    CHECK(names_of(bn.weights()) == std::vector<std::string>{"batch_normalization/gamma", "batch_normalization/beta",
                                                             "batch_normalization/moving_mean",
                                                             "batch_normalization/moving_variance"});
    CHECK(names_of(bn.non_trainable_variables()) ==
          std::vector<std::string>{"batch_normalization/moving_mean", "batch_normalization/moving_variance"});
    CHECK(bn.count_params() == 16);
    CHECK(bn.gamma().value().to_vector() == std::vector<double>{1, 1, 1, 1});
    CHECK(bn.moving_variance().value().to_vector() == std::vector<double>{1, 1, 1, 1});
  }
  SUBCASE("center and scale off: no beta, no gamma; y = xhat") {
    nn::BatchNormalization bn({.center = false, .scale = false, .name = "plain"});
    const Tensor y = bn(Tensor({1, 3}, {2, 1}, DType::float32), true);
    CHECK(names_of(bn.weights()) == std::vector<std::string>{"plain/moving_mean", "plain/moving_variance"});
    check_close(y, {-1 / std::sqrt(1.001), 1 / std::sqrt(1.001)}, 1e-6);
    CHECK_THROWS_WITH_AS(bn.gamma(), doctest::Contains("plain: the layer has no gamma (scale is false)"), Error);
    CHECK_THROWS_WITH_AS(bn.beta(), doctest::Contains("no beta (center is false)"), Error);
  }
  SUBCASE("momentum and epsilon as given") {
    nn::BatchNormalization bn({.momentum = 0.5, .epsilon = 0.25});
    const Tensor y = bn(Tensor({0, 2}, {2, 1}), true);
    check_close(y, {-1 / std::sqrt(1.25), 1 / std::sqrt(1.25)}, 1e-6);
    check_close(bn.moving_mean().value(), {0.5}, 1e-7);
    check_close(bn.moving_variance().value(), {1.0}, 1e-7);  // 0.5 * 1 + 0.5 * 1
  }
  SUBCASE("summary counts the moving statistics as non-trainable, as Keras prints them") {
    nn::Sequential net;
    net.add<nn::Dense>(8);
    net.add<nn::BatchNormalization>();
    net.add<nn::ReLU>();
    net.add<nn::Dense>(2);
    net(ones({3, 5}));
    const std::string text = net.summary();
    MESSAGE(text);
    // dense 5*8 + 8 = 48; batch_normalization 4 * 8 = 32 (16 trainable); dense_1 8*2 + 2 = 18.
    CHECK(text.find("batch_normalization (BatchNormalization)") != std::string::npos);
    CHECK(text.find("Total params: 98\n") != std::string::npos);
    CHECK(text.find("Trainable params: 82\n") != std::string::npos);
    CHECK(text.find("Non-trainable params: 16\n") != std::string::npos);
    CHECK(net.trainable_variables().size() == 6);
    CHECK(net.non_trainable_variables().size() == 2);
  }
  SUBCASE("axis 3 of an NHWC input is its last axis") {
    nn::BatchNormalization bn({.axis = 3});
    CHECK(bn(ones({1, 2, 2, 3})).shape() == Shape{1, 2, 2, 3});
  }
}

TEST_CASE("BatchNormalization: a checkpoint keeps the moving statistics") {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("tapegrad-test-bn-" + std::to_string(::getpid()) + ".safetensors"))
          .string();
  Generator generator(11);
  const Tensor x = random_normal({8, 4, 4, 2}, generator);
  const auto make = [](nn::Sequential& net) {
    net.add<nn::Conv2D>(3, 3, nn::Conv2DLayerOptions{.seed = 1});
    net.add<nn::BatchNormalization>();
    net.add<nn::ReLU>();
    net.add<nn::GlobalAveragePooling2D>();
    net.add<nn::Dense>(2, nn::DenseOptions{.seed = 2});
  };
  nn::reset_names();
  nn::Sequential trained;
  make(trained);
  optim::SGD sgd(0.1);
  for (int step = 0; step < 3; ++step) {
    GradientTape tape;
    const Tensor loss = sum(square(trained(x, true)));
    sgd.apply_gradients(tape.gradient(loss, trained.trainable_variables()), trained.trainable_variables());
  }
  trained.save_weights(path);
  const NamedTensors saved = load(path);
  std::vector<std::string> names;
  for (const auto& [name, value] : saved) names.push_back(name);
  CHECK(std::find(names.begin(), names.end(), "sequential/batch_normalization/moving_mean") != names.end());
  CHECK(std::find(names.begin(), names.end(), "sequential/batch_normalization/moving_variance") != names.end());

  nn::reset_names();
  nn::Sequential restored;
  make(restored);
  restored.load_weights(path);
  const std::vector<double> expected = trained(x).to_vector();
  CHECK(restored(x).to_vector() == expected);  // inference: the moving statistics came back
  const std::vector<Tensor> a = trained.get_weights(), b = restored.get_weights();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i].to_vector() == b[i].to_vector());
  std::filesystem::remove(path);
}

TEST_CASE("BatchNormalization: errors name the layer") {
  nn::reset_names();
  CHECK_THROWS_WITH_AS(nn::BatchNormalization({.momentum = 1.5}),
                       doctest::Contains("batch_normalization: momentum is 1.5; expected 0 <= momentum <= 1"), Error);
  CHECK_THROWS_WITH_AS(nn::BatchNormalization({.epsilon = 0}), doctest::Contains("expected a finite epsilon > 0"),
                       Error);
  nn::BatchNormalization bn({.name = "bn"});
  CHECK_THROWS_WITH_AS(bn(ones({4})), doctest::Contains("bn: input is 4, expected at least rank 2"), Error);
  nn::BatchNormalization first_axis({.axis = 0, .name = "bn0"});
  CHECK_THROWS_WITH_AS(first_axis(ones({2, 3})), doctest::Contains("bn0: axis is 0 for input 2x3; only the last"),
                       Error);
  bn(ones({2, 3}));
  CHECK_THROWS_WITH_AS(bn(ones({2, 4})),
                       doctest::Contains("bn: input 2x4 has 4 channels, but the layer was built for 3"), Error);
}

TEST_CASE("set_trainable(false) freezes a layer and its sub-layers; a frozen BatchNormalization runs in inference") {
  nn::reset_names();
  nn::Sequential model;
  model.add<nn::Dense>(2);
  nn::BatchNormalization& bn = model.add<nn::BatchNormalization>();
  const Tensor x(kX, {3, 2});
  model(x, true);
  REQUIRE(model.trainable_variables().size() == 4);  // kernel, bias, gamma, beta
  const std::vector<double> moving_mean = bn.moving_mean().value().to_vector();

  bn.set_trainable(false);
  CHECK_FALSE(bn.trainable());
  CHECK(names_of(model.trainable_variables()) == std::vector<std::string>{"dense/kernel", "dense/bias"});
  CHECK(names_of(bn.non_trainable_variables()) ==
        std::vector<std::string>{"batch_normalization/gamma", "batch_normalization/beta",
                                 "batch_normalization/moving_mean", "batch_normalization/moving_variance"});
  // Called in training, the frozen layer normalizes with its moving statistics and keeps them.
  const Tensor in_training = model(x, true);
  CHECK(in_training.to_vector() == model(x, false).to_vector());
  CHECK(bn.moving_mean().value().to_vector() == moving_mean);
  CHECK(model.summary().find("Trainable params: 6\n") != std::string::npos);  // the Dense layer's 4 + 2

  // A frozen model lists nothing trainable, whatever its layers say; unfreezing restores all.
  model.set_trainable(false);
  CHECK(model.trainable_variables().empty());
  CHECK(model.non_trainable_variables().size() == model.weights().size());
  model.set_trainable(true);
  CHECK(model.trainable_variables().size() == 4);
  CHECK(bn.trainable());
  model(x, true);
  CHECK(bn.moving_mean().value().to_vector() != moving_mean);  // training again updates them
}

namespace {
// A user module whose BatchNormalization is tracked on the first call, as a residual block's are.
class Normalized : public nn::Module {
 public:
  Normalized() : nn::Module("normalized") {}
  nn::BatchNormalization bn;

 private:
  Tensor call(const Tensor& x) override { return bn(x); }
};
}  // namespace

TEST_CASE("set_trainable(false) before the first call also freezes the sub-modules tracked on it") {
  nn::reset_names();
  Normalized block;
  block.set_trainable(false);
  const Tensor x(kX, {3, 2});
  block(x, true);  // tracks bn, frozen: it infers with its moving statistics (0 and 1)
  CHECK_FALSE(block.bn.trainable());
  CHECK(block.bn.moving_mean().value().to_vector() == std::vector<double>{0, 0});
  CHECK(block.trainable_variables().empty());
  CHECK(block.non_trainable_variables().size() == 4);
}
