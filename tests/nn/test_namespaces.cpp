// `using namespace tapegrad; using namespace tapegrad::nn;` together, as a user's program writes
// them: every public name of nn used unqualified, beside the autograd names that once shared a
// spelling (Conv2DOptions; zeros, ones, random_normal and random_uniform, once nn's initializers).
// A name declared in both namespaces makes this file fail to compile.

#include <tapegrad/nn.hpp>
#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>

using namespace tapegrad;      // NOLINT: the point of this file
using namespace tapegrad::nn;  // NOLINT: the point of this file

TEST_CASE("namespaces: tapegrad and tapegrad::nn together, no name ambiguous") {
  // The ops' options and the layers' options, side by side.
  const Conv2DOptions op_options{.strides = 2, .padding = Padding::same(), .dilation_rate = 1};
  const Conv2DLayerOptions layer_options{.strides = 2, .padding = Padding::same(), .seed = 1};
  const Pool2DOptions pool_op_options{.pool_size = 2, .strides = {2, 2}};
  const Pool2DLayerOptions pool_layer_options{.strides = {2, 2}};
  const DenseOptions dense_options{.use_bias = true};

  // Tensor factories next to the initializers' classes.
  Generator generator(3);
  const Tensor x = random_normal({2, 8, 8, 1}, generator);
  CHECK(random_uniform({2}, generator).shape() == Shape{2});
  CHECK(zeros({2}).to_vector() == std::vector<double>{0, 0});
  CHECK(ones({2}).to_vector() == std::vector<double>{1, 1});
  const std::vector<Initializer> initializers{RandomNormal(), RandomUniform(), TruncatedNormal(), Constant(2), Zeros(),
                                              Ones(),         GlorotUniform(), GlorotNormal(),    HeNormal()};
  CHECK(initializers[4].make({2}, DType::float32, generator).to_vector() == std::vector<double>{0, 0});
  CHECK(compute_fans(Shape{3, 4}).in == 3);
  set_seed(5);
  CHECK(next_seed() != next_seed());

  // Every layer, unqualified.
  Sequential net;
  Conv2D& conv = net.add<Conv2D>(4, 3, layer_options);
  net.add<ReLU>();
  net.add<MaxPool2D>(2, pool_layer_options);
  net.add<AvgPool2D>(1);
  net.add<Sigmoid>();
  net.add<Tanh>();
  net.add<Flatten>();
  net.add<Dense>(3, dense_options);
  CHECK(net(x).shape() == Shape{2, 3});
  CHECK(conv.options().strides == Size2{2, 2});
  const Module& first = net.layer(0);
  CHECK(first.name() == conv.name());

  // The layers of training mode (issue 15), and their ops.
  Sequential more;
  more.add<BatchNormalization>({.momentum = 0.9});
  more.add<Dropout>(0.5, 1);
  more.add<GlobalAveragePooling2D>({.keepdims = false});
  CHECK(more(x, true).shape() == Shape{2, 1});
  CHECK(more.non_trainable_variables().size() == 2);
  Add sum_layer;
  CHECK(sum_layer({x, x}).shape() == x.shape());
  CHECK(dropout(x, 0.5, generator).shape() == x.shape());
  const BatchNormTrainingResult normalized = batch_norm_training(x, ones({1}), zeros({1}));
  CHECK(batch_norm(x, normalized.mean, normalized.variance, ones({1}), zeros({1})).shape() == x.shape());

  // The ops with their options.
  const Tensor k = ones({3, 3, 1, 1});
  CHECK(conv2d(x, k, op_options).shape() == Shape{2, 4, 4, 1});
  CHECK(max_pool2d(x, pool_op_options).shape() == Shape{2, 4, 4, 1});
}
