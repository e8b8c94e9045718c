// nn::Sequential: composition, Keras names, weights in layer order, get/set_weights, summary
// (the book's LeNet and its 61706 parameters), gradients through the stack.

#include <tapegrad/autograd/gradcheck.hpp>
#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

using namespace tapegrad;

namespace {

std::vector<std::string> names_of(const std::vector<Variable>& variables) {
  std::vector<std::string> names;
  for (const Variable& v : variables) names.push_back(v.name());
  return names;
}

// The book's LeNet (section 7.6): sigmoid, average pooling, 28x28x1 inputs, 10 classes.
void add_lenet(nn::Sequential& net) {
  net.add<nn::Conv2D>(6, {5, 5}, {.padding = Padding::same()});
  net.add<nn::Sigmoid>();
  net.add<nn::AvgPool2D>({2, 2}, {.strides = {2, 2}});
  net.add<nn::Conv2D>(16, {5, 5});
  net.add<nn::Sigmoid>();
  net.add<nn::AvgPool2D>({2, 2}, {.strides = {2, 2}});
  net.add<nn::Flatten>();
  net.add<nn::Dense>(120);
  net.add<nn::Sigmoid>();
  net.add<nn::Dense>(84);
  net.add<nn::Sigmoid>();
  net.add<nn::Dense>(10);
}

}  // namespace

TEST_CASE("Sequential: feeds each layer the previous one's output") {
  nn::Sequential net;
  nn::Dense& first = net.add<nn::Dense>(3, {.seed = 1, .dtype = DType::float64});
  net.add<nn::ReLU>();
  nn::Dense& last = net.add<nn::Dense>(2, {.seed = 2, .dtype = DType::float64});
  CHECK(net.size() == 3);
  CHECK(&net.layer(0) == &first);
  CHECK(&net.layer(2) == &last);
  CHECK(net.class_name() == "Sequential");

  Generator g(5);
  const Tensor x = tapegrad::random_normal({4, 5}, g, 0, 1, DType::float64);
  const Tensor y = net(x);
  CHECK(y.shape() == Shape{4, 2});
  const Tensor by_hand = matmul(relu(matmul(x, first.kernel().value()) + first.bias().value()), last.kernel().value()) +
                         last.bias().value();
  CHECK(y.to_vector() == by_hand.to_vector());
  CHECK(net.output_shape(0) == Shape{4, 3});
  CHECK(net.output_shape(2) == Shape{4, 2});

  nn::Sequential empty;
  CHECK(empty(x).to_vector() == x.to_vector());
}

TEST_CASE("Sequential: variables are named per layer kind, in layer order") {
  nn::reset_names();
  nn::Sequential net;
  CHECK(net.name() == "sequential");
  net.add<nn::Conv2D>(2, {3, 3});
  net.add<nn::ReLU>();
  net.add<nn::Conv2D>(3, {3, 3}, {.use_bias = false});
  net.add<nn::MaxPool2D>();
  net.add<nn::Flatten>();
  net.add<nn::Dense>(4);
  net.add(std::make_unique<nn::Dense>(2));
  CHECK(net.weights().empty());
  CHECK(net.layer(2).name() == "conv2d_1");
  CHECK(net.layer(3).name() == "max_pooling2d");

  CHECK(net(zeros({2, 8, 8, 1})).shape() == Shape{2, 2});
  CHECK(names_of(net.weights()) == std::vector<std::string>{"conv2d/kernel", "conv2d/bias", "conv2d_1/kernel",
                                                            "dense/kernel", "dense/bias", "dense_1/kernel",
                                                            "dense_1/bias"});
  CHECK(names_of(net.trainable_variables()) == names_of(net.weights()));
  CHECK(net.weights()[2].shape() == Shape{3, 3, 2, 3});
  CHECK(net.weights()[3].shape() == Shape{2 * 2 * 3, 4});  // 8 -> 6 -> 4, pooled to 2x2x3
  CHECK(nn::Sequential().name() == "sequential_1");
}

TEST_CASE("Sequential: get_weights and set_weights over all layers") {
  nn::Sequential net("net");
  net.add<nn::Dense>(2, {.dtype = DType::float64});
  net.add<nn::Tanh>();
  net.add<nn::Dense>(1, {.use_bias = false, .dtype = DType::float64});
  CHECK_THROWS_WITH_AS(net.set_weights({zeros({2, 2}, DType::float64)}),
                       doctest::Contains("it is built on its first call"), Error);
  const Tensor x({1, 2}, {1, 2}, DType::float64);
  net(x);

  std::vector<Tensor> values = net.get_weights();
  REQUIRE(values.size() == 3);
  CHECK(values[0].shape() == Shape{2, 2});
  CHECK(values[1].shape() == Shape{2});
  CHECK(values[2].shape() == Shape{2, 1});
  net.set_weights({Tensor({1, 0, 0, 1}, {2, 2}, DType::float64), Tensor({0, 0}, {2}, DType::float64),
                   Tensor({2, -1}, {2, 1}, DType::float64)});
  // y = 2 tanh(1) - tanh(2)
  CHECK(net(x).item() == doctest::Approx(2 * std::tanh(1.0) - std::tanh(2.0)).epsilon(1e-15));
  CHECK(net.get_weights()[2].to_vector() == std::vector<double>{2, -1});

  nn::Sequential copy("copy");
  copy.add<nn::Dense>(2, {.dtype = DType::float64});
  copy.add<nn::Tanh>();
  copy.add<nn::Dense>(1, {.use_bias = false, .dtype = DType::float64});
  copy(x);
  copy.set_weights(net.get_weights());
  CHECK(copy(x).item() == net(x).item());
  CHECK_THROWS_WITH_AS(copy.set_weights({values[0], values[1]}),
                       doctest::Contains("copy: set_weights got 2 tensors, but the layer has 3 weights"), Error);
}

TEST_CASE("Sequential: the book's LeNet has 61706 parameters, and summary shows them") {
  nn::reset_names();
  nn::Sequential net;
  add_lenet(net);
  CHECK(net.size() == 12);

  const std::string before = net.summary();
  CHECK(before.find("conv2d (Conv2D)") != std::string::npos);
  CHECK(before.find("not built yet") != std::string::npos);
  CHECK(net.count_params() == 0);

  const Tensor y = net(zeros({2, 28, 28, 1}));
  CHECK(y.shape() == Shape{2, 10});
  // conv 5*5*1*6 + 6 = 156; conv 5*5*6*16 + 16 = 2416; dense 400*120 + 120 = 48120;
  // dense 120*84 + 84 = 10164; dense 84*10 + 10 = 850; total 61706
  CHECK(net.count_params() == 61706);
  CHECK(net.layer(0).count_params() == 156);
  CHECK(net.layer(3).count_params() == 2416);
  CHECK(net.layer(7).count_params() == 48120);
  CHECK(net.layer(9).count_params() == 10164);
  CHECK(net.layer(11).count_params() == 850);
  CHECK(net.output_shape(6) == Shape{2, 400});

  const std::string text = net.summary();
  MESSAGE(text);
  const auto contains = [&](const std::string& part) {
    CAPTURE(part);
    CHECK(text.find(part) != std::string::npos);
  };
  contains("Model: \"sequential\"");
  contains("Layer (type)");
  contains("Output Shape");
  contains("Param #");
  contains("conv2d (Conv2D)");
  contains("conv2d_1 (Conv2D)");
  contains("sigmoid (Sigmoid)");
  contains("average_pooling2d_1 (AvgPool2D)");
  contains("flatten (Flatten)");
  contains("dense_2 (Dense)");
  contains("(None, 28, 28, 6)");
  contains("(None, 14, 14, 6)");
  contains("(None, 10, 10, 16)");
  contains("(None, 5, 5, 16)");
  contains("(None, 400)");
  contains("(None, 10)");
  for (const char* count : {"156", "2416", "48120", "10164", "850"}) contains(count);
  contains("Total params: 61706");
  contains("Trainable params: 61706");
  contains("Non-trainable params: 0");
  CHECK(text.find("not built yet") == std::string::npos);
  // one row per layer, in order
  CHECK(text.find("conv2d (Conv2D)") < text.find("conv2d_1 (Conv2D)"));
  CHECK(text.find("dense_1 (Dense)") < text.find("dense_2 (Dense)"));
}

TEST_CASE("Sequential: the ways to add a layer") {
  nn::reset_names();
  nn::Sequential net;
  nn::Conv2D& conv = net.add<nn::Conv2D>(2, {3, 3}, {.padding = Padding::same(), .name = "c"});
  CHECK(conv.name() == "c");
  CHECK(conv.options().padding.kind == Padding::Kind::same);
  nn::MaxPool2D& pool = net.add<nn::MaxPool2D>(3);
  CHECK(pool.pool_size() == Size2{3, 3});
  net.add<nn::Flatten>("flat");
  nn::Dense& dense = net.add<nn::Dense>(4, {.use_bias = false});
  CHECK_FALSE(dense.options().use_bias);
  nn::Module& tail = net.add(std::make_unique<nn::Tanh>("t"));
  CHECK(tail.name() == "t");
  CHECK(net.layer(2).name() == "flat");
  CHECK(net(ones({1, 6, 6, 1})).shape() == Shape{1, 4});

  SUBCASE("a sequential inside a sequential") {
    nn::Sequential outer("outer");
    nn::Sequential& inner = outer.add<nn::Sequential>("inner");
    inner.add<nn::Dense>(3);
    outer.add<nn::Dense>(1);
    outer(ones({2, 5}));
    CHECK(names_of(outer.weights()) ==
          std::vector<std::string>{"dense_1/kernel", "dense_1/bias", "dense_2/kernel", "dense_2/bias"});
    CHECK(outer.summary().find("inner (Sequential)") != std::string::npos);
    CHECK(outer.count_params() == 5 * 3 + 3 + 3 + 1);
  }
}

TEST_CASE("Sequential: errors name the layer") {
  nn::Sequential net("net");
  net.add<nn::Dense>(2, {.name = "fc"});
  CHECK_THROWS_WITH_AS(net(ones({1, 2, 2, 1})), doctest::Contains("fc: input is 1x2x2x1, expected rank 2"), Error);
  CHECK_THROWS_WITH_AS(net(ones({1, 3}, DType::float64)),
                       doctest::Contains("fc: input is 1x3 float64, but the layer computes in float32"), Error);
  CHECK(net(ones({1, 3})).shape() == Shape{1, 2});  // the failed calls left nothing half-built
  CHECK_THROWS_WITH_AS(net.layer(1), doctest::Contains("net: layer 1 asked for, but the model has 1 layers"), Error);
  CHECK_THROWS_WITH_AS(net.add(std::unique_ptr<nn::Module>{}), doctest::Contains("net: add: got no layer"), Error);
}

TEST_CASE("Sequential: gradients through the stack") {
  const auto make = [](nn::Sequential& net) {
    net.add<nn::Conv2D>(2, {2, 2}, {.bias_initializer = nn::RandomNormal(0, 0.5), .seed = 3, .dtype = DType::float64});
    net.add<nn::Tanh>();
    net.add<nn::AvgPool2D>();
    net.add<nn::Flatten>();
    net.add<nn::Dense>(3, {.bias_initializer = nn::RandomNormal(0, 0.5), .seed = 4, .dtype = DType::float64});
    net.add<nn::Sigmoid>();
  };
  nn::Sequential net;
  make(net);
  Generator g(8);
  const Tensor x = tapegrad::random_normal({2, 5, 5, 1}, g, 0, 1, DType::float64);
  CHECK(net(x).shape() == Shape{2, 3});

  SUBCASE("with respect to the input: gradcheck") {
    const GradcheckResult result = gradcheck([&](const std::vector<Tensor>& in) { return net(in[0]); }, {x});
    CAPTURE(result.summary());
    CHECK(result.passed);
  }

  SUBCASE("with respect to every weight: central differences") {
    const Tensor r = tapegrad::random_normal({2, 3}, g, 0, 1, DType::float64);
    const auto loss = [&] { return sum(net(x) * r); };
    std::vector<Tensor> grads;
    {
      GradientTape tape;
      grads = tape.gradient(loss(), net.trainable_variables());
    }
    std::vector<Variable> weights = net.trainable_variables();
    REQUIRE(grads.size() == 4);
    const double eps = 1e-6;
    for (size_t w = 0; w < weights.size(); ++w) {
      const Tensor start = weights[w].value();
      std::vector<double> values = start.to_vector();
      for (size_t i = 0; i < values.size(); ++i) {
        const double v = values[i];
        values[i] = v + eps;
        weights[w].assign(Tensor(values, start.shape(), DType::float64));
        const double plus = loss().item();
        values[i] = v - eps;
        weights[w].assign(Tensor(values, start.shape(), DType::float64));
        const double minus = loss().item();
        values[i] = v;
        weights[w].assign(start);
        CAPTURE(weights[w].name());
        CAPTURE(i);
        CHECK(grads[w].flat(static_cast<int64_t>(i)) == doctest::Approx((plus - minus) / (2 * eps)).epsilon(1e-6));
      }
    }
  }
}

TEST_CASE("Sequential: a small model learns with Adam and with SGD with momentum") {
  // Fit y = sin(x) on 16 points: a float64 Dense(16) - Tanh - Dense(1) model.
  std::vector<double> xs, ys;
  for (int i = 0; i < 16; ++i) {
    xs.push_back(-3.0 + 0.4 * i);
    ys.push_back(std::sin(xs.back()));
  }
  const Tensor x(xs, {16, 1}, DType::float64), y(ys, {16, 1}, DType::float64);
  const auto train = [&](optim::Optimizer& optimizer) {
    nn::Sequential net;
    net.add<nn::Dense>(16, {.seed = 10, .dtype = DType::float64});
    net.add<nn::Tanh>();
    net.add<nn::Dense>(1, {.seed = 11, .dtype = DType::float64});
    net(x);
    double first = 0, last = 0;
    for (int step = 0; step < 500; ++step) {
      GradientTape tape;
      const Tensor loss = mse(net(x), y);
      if (step == 0) first = loss.item();
      last = loss.item();
      optimizer.apply_gradients(tape.gradient(loss, net.trainable_variables()), net.trainable_variables());
    }
    CHECK(last < 0.02);
    CHECK(last < first / 10);
  };
  optim::Adam adam(0.02);
  train(adam);
  optim::SGD sgd(0.05, {.momentum = 0.9});
  train(sgd);
}
