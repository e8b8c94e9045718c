// nn's layers without weights: Flatten, ReLU, Sigmoid, Tanh, MaxPool2D, AvgPool2D.

#include <tapegrad/nn.hpp>
#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>

#include <vector>

using namespace tapegrad;

TEST_CASE("layers: default names as Keras gives them, and no weights") {
  nn::reset_names();
  nn::Flatten flatten;
  nn::ReLU relu_layer;
  nn::ReLU relu_1;
  nn::Sigmoid sigmoid_layer;
  nn::Tanh tanh_layer;
  nn::MaxPool2D max_pool;
  nn::AvgPool2D avg_pool;
  nn::AvgPool2D named(2, {.name = "pool"});
  CHECK(flatten.name() == "flatten");
  CHECK(relu_layer.name() == "re_lu");
  CHECK(relu_1.name() == "re_lu_1");
  CHECK(sigmoid_layer.name() == "sigmoid");
  CHECK(tanh_layer.name() == "tanh");
  CHECK(max_pool.name() == "max_pooling2d");
  CHECK(avg_pool.name() == "average_pooling2d");
  CHECK(named.name() == "pool");
  CHECK(nn::Flatten("flat").name() == "flat");
  CHECK(max_pool.class_name() == "MaxPool2D");
  CHECK(avg_pool.class_name() == "AvgPool2D");
  CHECK(relu_layer.class_name() == "ReLU");

  for (nn::Module* layer : std::vector<nn::Module*>{&flatten, &relu_layer, &sigmoid_layer, &tanh_layer}) {
    (*layer)(ones({2, 2}));
    CHECK(layer->weights().empty());
    CHECK(layer->count_params() == 0);
  }
}

TEST_CASE("Flatten: (N, ...) -> (N, product of the rest), values in row-major order") {
  nn::Flatten flatten;
  const Tensor x = reshape(arange(120), {2, 3, 4, 5});
  const Tensor y = flatten(x);
  CHECK(y.shape() == Shape{2, 60});
  CHECK(y.to_vector() == x.to_vector());
  CHECK(flatten(ones({7, 3})).shape() == Shape{7, 3});
  CHECK(flatten(ones({4})).shape() == Shape{4, 1});
  CHECK(flatten(ones({3, 2, 2}, DType::float64)).dtype() == DType::float64);
  CHECK_THROWS_WITH_AS(flatten(Tensor::scalar(1)), doctest::Contains(": input is a scalar, expected at least rank 1"),
                       Error);

  GradientTape tape;
  tape.watch(x);
  const Tensor dx = tape.gradient(sum(flatten(x) * 2.0), x);
  CHECK(dx.shape() == x.shape());
  CHECK(dx.to_vector() == std::vector<double>(120, 2.0));
}

TEST_CASE("activation layers equal their ops, in float32 and float64") {
  for (const DType dtype : {DType::float32, DType::float64}) {
    CAPTURE(dtype_name(dtype));
    const Tensor x({-2, -0.5, 0, 0.5, 3}, {5}, dtype);
    nn::ReLU relu_layer;
    nn::Sigmoid sigmoid_layer;
    nn::Tanh tanh_layer;
    CHECK(relu_layer(x).to_vector() == std::vector<double>{0, 0, 0, 0.5, 3});
    CHECK(relu_layer(x).to_vector() == relu(x).to_vector());
    CHECK(sigmoid_layer(x).to_vector() == sigmoid(x).to_vector());
    CHECK(tanh_layer(x).to_vector() == tanh(x).to_vector());
    CHECK(tanh_layer(x).dtype() == dtype);
  }
  nn::Sigmoid sigmoid_layer;
  CHECK(sigmoid_layer(Tensor::scalar(0)).item() == 0.5);
}

TEST_CASE("pooling layers: the book's numbers") {
  const Tensor x = reshape(arange(9), {1, 3, 3, 1});  // [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
  SUBCASE("2x2 window, stride 1") {
    nn::MaxPool2D max_pool(2, {.strides = 1});
    nn::AvgPool2D avg_pool({2, 2}, {.strides = {1, 1}});
    const Tensor max_y = max_pool(x), avg_y = avg_pool(x);
    CHECK(max_y.shape() == Shape{1, 2, 2, 1});
    CHECK(max_y.to_vector() == std::vector<double>{4, 5, 7, 8});
    CHECK(avg_y.to_vector() == std::vector<double>{2, 3, 5, 6});
  }
  SUBCASE("the stride defaults to the window; padding and stride on a 4x4 input") {
    const Tensor x16 = reshape(arange(16), {1, 4, 4, 1});
    nn::MaxPool2D by_default;
    CHECK(by_default(x16).to_vector() == std::vector<double>{5, 7, 13, 15});
    nn::MaxPool2D window3(3);  // stride 3: one window
    CHECK(window3(x16).to_vector() == std::vector<double>{10});
    nn::MaxPool2D padded(3, {.strides = 2, .padding = 1});
    CHECK(padded(x16).to_vector() == std::vector<double>{5, 7, 13, 15});
    nn::MaxPool2D tall({2, 3}, {.strides = {2, 3}, .padding = {0, 1}});
    CHECK(tall(x16).to_vector() == std::vector<double>{5, 7, 13, 15});
    nn::AvgPool2D avg_padded(3, {.strides = 2, .padding = Padding::same()});
    // same: 2x2 output, windows rows/cols {0,1,2} and {2,3} (padding after, not counted)
    // (0+1+2+4+5+6+8+9+10)/9 = 5, (2+3+6+7+10+11)/6 = 6.5, (8+9+10+12+13+14)/6 = 11, (10+11+14+15)/4 = 12.5
    CHECK(avg_padded(x16).to_vector() == std::vector<double>{5, 6.5, 11, 12.5});
  }
  SUBCASE("each channel on its own: the book's X and X + 1 stacked on the channel axis") {
    const Tensor x16 = reshape(arange(16), {1, 4, 4, 1});
    const Tensor two = concat({x16, x16 + 1.0}, 3);
    nn::MaxPool2D pool(3, {.strides = 2, .padding = Padding::uniform(1)});
    const Tensor y = pool(two);
    CHECK(y.shape() == Shape{1, 2, 2, 2});
    CHECK(y.to_vector() == std::vector<double>{5, 6, 7, 8, 13, 14, 15, 16});
  }
  SUBCASE("float64 and the ops' gradients") {
    const Tensor x64 = x.to(DType::float64);
    nn::AvgPool2D pool(2, {.strides = 1});
    GradientTape tape;
    tape.watch(x64);
    const Tensor dx = tape.gradient(sum(pool(x64)), x64);
    // each corner is in 1 window, each edge middle in 2, the centre in 4; each window weighs 1/4
    CHECK(dx.to_vector() == std::vector<double>{0.25, 0.5, 0.25, 0.5, 1, 0.5, 0.25, 0.5, 0.25});
  }
}

TEST_CASE("pooling layers: errors name the layer") {
  nn::MaxPool2D pool(2, {.name = "pool"});
  CHECK_THROWS_WITH_AS(pool(ones({3, 3})), doctest::Contains("pool: input is 3x3, expected rank 4"), Error);
  nn::AvgPool2D avg(2, {.name = "avg"});
  CHECK_THROWS_WITH_AS(avg(zeros({1, 2, 2, 1}, DType::int64)), doctest::Contains("avg: input is 1x2x2x1 int64"), Error);
  CHECK_THROWS_WITH_AS(nn::MaxPool2D({0, 2}), doctest::Contains("pool_size 0x2 and strides 0x2"), Error);
  CHECK_THROWS_WITH_AS(nn::AvgPool2D(2, {.strides = {1, 0}}), doctest::Contains("pool_size 2x2 and strides 1x0"),
                       Error);
}

TEST_CASE("AvgPool2D: count_include_pad, as PyTorch's; MaxPool2D rejects it") {
  const Tensor x = reshape(arange(16, DType::float64), {1, 4, 4, 1});
  nn::AvgPool2D keras(3, {.strides = 2, .padding = 1});
  nn::AvgPool2D torch(3, {.strides = 2, .padding = 1, .count_include_pad = true});
  CHECK(keras(x).at({0, 0, 0, 0}) == (0 + 1 + 4 + 5) / 4.0);
  CHECK(torch(x).at({0, 0, 0, 0}) == doctest::Approx((0 + 1 + 4 + 5) / 9.0).epsilon(1e-15));
  CHECK(torch.options().count_include_pad);
  CHECK_THROWS_WITH_AS(nn::MaxPool2D(2, {.count_include_pad = true, .name = "pool"}),
                       "pool: count_include_pad applies to AvgPool2D only", Error);
  nn::MaxPool2D too_much(2, {.padding = 2, .name = "wide"});
  CHECK_THROWS_WITH_AS(too_much(x),
                       doctest::Contains("max_pool2d: padding (top 2, bottom 2, left 2, right 2) with pool_size 2x2"),
                       Error);
}
