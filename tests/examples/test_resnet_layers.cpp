// examples/resnet_model.hpp's two forms of one network: the example's ResNet module and the stack of
// layers bench/profile.cpp times layer by layer. Built from the same seed, they must hold the same
// weights (names too) and compute the same logits and gradients, or the profile would time another
// network.

#include <tapegrad/nn.hpp>
#include <tapegrad/tapegrad.hpp>
#include "examples/resnet_model.hpp"
#include "tests/autograd/check_values.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <vector>

using namespace tapegrad;

namespace {

// The logits of a training-mode call on `images`, and the loss's gradients for every variable.
struct Pass {
  Tensor logits;
  std::vector<Tensor> gradients;
};

Pass train_pass(nn::Module& net, const Tensor& images, const Tensor& labels) {
  GradientTape tape;  // watches the variables the call makes and reads
  Pass pass;
  pass.logits = net(images, /*training=*/true);
  // Listed after the call: a layer makes its variables on its first call.
  pass.gradients = tape.gradient(softmax_cross_entropy(pass.logits, labels), net.trainable_variables());
  return pass;
}

}  // namespace

TEST_CASE("add_resnet_layers stacks the same network as ResNet: the same weights, logits and gradients") {
  constexpr int64_t kWidth = 4;
  Generator generator(7);
  const Tensor images = random_uniform({3, 28, 28, 1}, generator);
  const Tensor labels = Tensor(std::vector<double>{1, 7, 3}, Shape{3}, DType::int64);

  nn::reset_names();  // the same default names ("conv2d", "conv2d_1", ...) for both
  nn::set_seed(11);
  examples::ResNet module(kWidth);
  const Pass expected = train_pass(module, images, labels);

  nn::reset_names();
  nn::set_seed(11);
  nn::Sequential stack;
  examples::add_resnet_layers(stack, kWidth);
  const Pass got = train_pass(stack, images, labels);

  const std::vector<Variable> module_weights = module.weights(), stack_weights = stack.weights();
  REQUIRE(stack_weights.size() == module_weights.size());
  REQUIRE(expected.gradients.size() == module.trainable_variables().size());
  REQUIRE(got.gradients.size() == expected.gradients.size());
  // 6 blocks of 2 convolutions and 2 batch normalizations, 2 of them with a shortcut; the stem; Dense.
  CHECK(module.trainable_variables().size() == 2 + 2 + 6 * 8 + 2 * 2 + 2);
  for (size_t i = 0; i < module_weights.size(); ++i) {
    INFO("weight ", i, ": ", module_weights[i].name(), " and ", stack_weights[i].name());
    CHECK(stack_weights[i].name() == module_weights[i].name());
    CHECK(stack_weights[i].shape() == module_weights[i].shape());
    CHECK(testing::same_bits(stack_weights[i].value().to_vector(), module_weights[i].value().to_vector()));
  }
  CHECK(testing::same_bits(got.logits.to_vector(), expected.logits.to_vector()));
  for (size_t i = 0; i < got.gradients.size(); ++i) {
    INFO("gradient ", i);
    REQUIRE(got.gradients[i].defined());
    CHECK(testing::same_bits(got.gradients[i].to_vector(), expected.gradients[i].to_vector()));
  }
}
