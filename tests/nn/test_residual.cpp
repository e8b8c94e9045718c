// Add, GlobalAveragePooling2D, and the book's residual block written as a user Module: its layers
// held as plain members and tracked on the first call, nested names, the training flag reaching
// its BatchNormalization layers, a checkpoint's round trip, a few steps of training.

#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

using namespace tapegrad;

namespace {

std::vector<std::string> names_of(const NamedTensors& named) {
  std::vector<std::string> names;
  for (const auto& [name, value] : named) names.push_back(name);
  return names;
}

// The book's residual block (section 8.6): two 3x3 convolutions with batch normalization, and a 1x1
// convolution on the shortcut when the shape changes.
class Residual : public nn::Module {
 public:
  Residual(int64_t channels, bool use_1x1conv, int64_t strides, std::string name = {})
      : nn::Module("residual", std::move(name)),
        conv1_(channels, 3, {.strides = strides, .padding = Padding::same()}),
        conv2_(channels, 3, {.padding = Padding::same()}) {
    if (use_1x1conv) conv3_.emplace(channels, 1, nn::Conv2DLayerOptions{.strides = strides});
  }
  std::string class_name() const override { return "Residual"; }

 protected:
  Tensor call(const Tensor& x) override {
    const Tensor y = bn2_(conv2_(relu(bn1_(conv1_(x)))));
    return relu(add_({y, conv3_ ? (*conv3_)(x) : x}));
  }

 private:
  nn::Conv2D conv1_, conv2_;
  std::optional<nn::Conv2D> conv3_;
  nn::BatchNormalization bn1_, bn2_;
  nn::Add add_;
};

// A small ResNet: a stem, two blocks, global average pooling, a dense head.
class ResNet : public nn::Module {
 public:
  ResNet() : nn::Module("resnet"), block_1_(4, false, 1, "block_1"), block_2_(8, true, 2, "block_2") {}

 protected:
  Tensor call(const Tensor& x) override { return head_(pool_(block_2_(block_1_(stem_(x))))); }

 private:
  nn::Conv2D stem_{4, 3, {.padding = Padding::same(), .name = "stem"}};
  Residual block_1_, block_2_;
  nn::GlobalAveragePooling2D pool_;
  nn::Dense head_{3};
};

}  // namespace

TEST_CASE("Add: the sum of its inputs, of one shape") {
  nn::reset_names();
  nn::Add add;
  CHECK(add.name() == "add");
  const Tensor a({1, 2, 3, 4}, {2, 2}), b({10, 20, 30, 40}, {2, 2}), c = full({2, 2}, 0.5);
  CHECK(add({a, b}).to_vector() == std::vector<double>{11, 22, 33, 44});
  CHECK(add({a, b, c}).to_vector() == std::vector<double>{11.5, 22.5, 33.5, 44.5});
  CHECK(add.output_shape() == Shape{2, 2});
  GradientTape tape;
  tape.watch(a);
  tape.watch(b);
  const std::vector<Tensor> grads = tape.gradient(sum(add({a, b * b})), {a, b});
  CHECK(grads[0].to_vector() == std::vector<double>{1, 1, 1, 1});
  CHECK(grads[1].to_vector() == std::vector<double>{20, 40, 60, 80});

  CHECK_THROWS_WITH_AS(add({a}), doctest::Contains("add: got 1 inputs; expected a list of at least 2 tensors"), Error);
  CHECK_THROWS_WITH_AS(add({a, ones({2, 3})}),
                       doctest::Contains("add: input 1 is 2x3 float32 but input 0 is 2x2 float32; expected one shape"),
                       Error);
  nn::Module& as_module = add;
  CHECK_THROWS_WITH_AS(as_module(a), doctest::Contains("Add takes a list of at least 2"), Error);
}

TEST_CASE("GlobalAveragePooling2D: each channel's mean over the image") {
  nn::reset_names();
  nn::GlobalAveragePooling2D pool;
  CHECK(pool.name() == "global_average_pooling2d");
  // 1x2x2x2: channel 0 is 1, 2, 3, 4 (mean 2.5); channel 1 is 10, 20, 30, 40 (mean 25).
  const Tensor x({1, 10, 2, 20, 3, 30, 4, 40}, {1, 2, 2, 2});
  CHECK(pool(x).shape() == Shape{1, 2});
  CHECK(pool(x).to_vector() == std::vector<double>{2.5, 25});
  nn::GlobalAveragePooling2D keep({.keepdims = true});
  CHECK(keep(x).shape() == Shape{1, 1, 1, 2});
  GradientTape tape;
  tape.watch(x);
  CHECK(tape.gradient(pool(x), x).to_vector() == std::vector<double>(8, 0.25));
  CHECK_THROWS_WITH_AS(pool(ones({2, 3})), doctest::Contains("global_average_pooling2d: input is 2x3, expected rank 4"),
                       Error);
}

TEST_CASE("Residual blocks as user Modules: tracked members, nested names, the training flag") {
  nn::reset_names();
  Generator generator(2);
  const Tensor x = random_normal({4, 8, 8, 1}, generator);
  ResNet model;
  CHECK(model.weights().empty());
  const Tensor logits = model(x, true);
  CHECK(logits.shape() == Shape{4, 3});

  const std::vector<std::string> names = names_of(model.named_weights());
  const std::vector<std::string> expected{
      "resnet/stem/kernel",
      "resnet/stem/bias",
      "resnet/block_1/conv2d/kernel",
      "resnet/block_1/conv2d/bias",
      "resnet/block_1/batch_normalization/gamma",
      "resnet/block_1/batch_normalization/beta",
      "resnet/block_1/batch_normalization/moving_mean",
      "resnet/block_1/batch_normalization/moving_variance",
      "resnet/block_1/conv2d_1/kernel",
      "resnet/block_1/conv2d_1/bias",
      "resnet/block_1/batch_normalization_1/gamma",
      "resnet/block_1/batch_normalization_1/beta",
      "resnet/block_1/batch_normalization_1/moving_mean",
      "resnet/block_1/batch_normalization_1/moving_variance",
      "resnet/block_2/conv2d_2/kernel",
      "resnet/block_2/conv2d_2/bias",
      "resnet/block_2/batch_normalization_2/gamma",
      "resnet/block_2/batch_normalization_2/beta",
      "resnet/block_2/batch_normalization_2/moving_mean",
      "resnet/block_2/batch_normalization_2/moving_variance",
      "resnet/block_2/conv2d_3/kernel",
      "resnet/block_2/conv2d_3/bias",
      "resnet/block_2/batch_normalization_3/gamma",
      "resnet/block_2/batch_normalization_3/beta",
      "resnet/block_2/batch_normalization_3/moving_mean",
      "resnet/block_2/batch_normalization_3/moving_variance",
      "resnet/block_2/conv2d_4/kernel",
      "resnet/block_2/conv2d_4/bias",
      "resnet/dense/kernel",
      "resnet/dense/bias",
  };
  CHECK(names == expected);
  CHECK(model.non_trainable_variables().size() == 8);
  // stem 3*3*1*4 + 4 = 40; block_1: 2 * (3*3*4*4 + 4) + 2 * 4 * 4 = 328; block_2: 3*3*4*8 + 8 + 3*3*8*8 + 8
  // + 2 * 4 * 8 + 1*1*4*8 + 8 = 984; dense 8*3 + 3 = 27. Non-trainable: 2 * 4 * 2 + 2 * 8 * 2 = 48.
  CHECK(model.count_params() == 40 + 328 + 984 + 27);
  const std::string text = model.summary();
  MESSAGE(text);
  CHECK(text.find("block_2 (Residual)") != std::string::npos);
  CHECK(text.find("(None, 4, 4, 8)") != std::string::npos);
  CHECK(text.find("Non-trainable params: 48\n") != std::string::npos);

  SUBCASE("training moves the moving statistics; inference does not, and differs from training") {
    const Variable moving = model.non_trainable_variables()[0];  // block_1's first moving mean
    const std::vector<double> before = moving.value().to_vector();
    const Tensor inference = model(x);
    CHECK(moving.value().to_vector() == before);
    model(x, true);
    CHECK(moving.value().to_vector() != before);
    CHECK(inference.to_vector() != model(x, true).to_vector());
  }
  SUBCASE("a few SGD steps lower the loss") {
    const Tensor labels({0, 1, 2, 1}, {4}, DType::int64);
    optim::SGD sgd(0.1, {.momentum = 0.9});
    double first = 0, last = 0;
    for (int step = 0; step < 15; ++step) {
      GradientTape tape;
      const Tensor loss = softmax_cross_entropy(model(x, true), labels);
      sgd.apply_gradients(tape.gradient(loss, model.trainable_variables()), model.trainable_variables());
      (step == 0 ? first : last) = loss.item();
    }
    CHECK(last < first * 0.5);
  }
  SUBCASE("a checkpoint's round trip, moving statistics included, into a model not called yet") {
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("tapegrad-test-resnet-" + std::to_string(::getpid()) + ".safetensors"))
                                 .string();
    model(x, true);
    model.save_weights(path);
    nn::reset_names();
    ResNet restored;
    restored.load_weights(path);
    CHECK(restored(x).to_vector() == model(x).to_vector());
    std::filesystem::remove(path);
  }
}
