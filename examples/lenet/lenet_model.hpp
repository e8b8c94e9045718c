#pragma once

// The book's LeNet and its modern variant, and one training step of them: lenet.cpp
// trains them, bench/lenet.cpp times an epoch of the same model and the same step.

#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>

#include <array>
#include <cstdint>
#include <vector>

namespace examples {

/// Which LeNet: the book's (sigmoid, average pooling, Xavier-uniform weights) or the modern one
/// (ReLU, max pooling, He-normal weights).
enum class LeNetVariant { book, modern };

/// Appends LeNet's layers to `net`, for 28x28x1 NHWC images and ten classes (logits). The book's
/// weights are Xavier-uniform, as the book's init_cnn; the modern ones He-normal (variance
/// 2 / fan_in, which He et al. derived for ReLU); biases start at zero.
inline void add_lenet_layers(tapegrad::nn::Sequential& net, LeNetVariant variant) {
  namespace nn = tapegrad::nn;
  const bool book = variant == LeNetVariant::book;
  const nn::Initializer init = book ? nn::Initializer(nn::GlorotUniform()) : nn::Initializer(nn::HeNormal());
  // Each layer's activation as an option, as the book's Keras code writes it: a convolution with its
  // bias and activation is then one fused op (conv2d_bias_activation), the same bits as three.
  const tapegrad::Activation activation = book ? tapegrad::Activation::sigmoid : tapegrad::Activation::relu;
  const auto pooling = [&] {
    const nn::Pool2DLayerOptions stride_two{.strides = 2};
    if (book) {
      net.add<nn::AvgPool2D>(2, stride_two);
    } else {
      net.add<nn::MaxPool2D>(2, stride_two);
    }
  };
  net.add<nn::Conv2D>(6, 5,
                      {.padding = tapegrad::Padding::same(), .activation = activation, .kernel_initializer = init});
  pooling();  // 28x28x6, then 14x14x6
  net.add<nn::Conv2D>(16, 5, {.activation = activation, .kernel_initializer = init});
  pooling();               // 10x10x16, then 5x5x16
  net.add<nn::Flatten>();  // 400
  net.add<nn::Dense>(120, {.activation = activation, .kernel_initializer = init});
  net.add<nn::Dense>(84, {.activation = activation, .kernel_initializer = init});
  net.add<nn::Dense>(10, {.kernel_initializer = init});  // logits
}

/// What one training step computed, before its update.
struct TrainStep {
  tapegrad::Tensor logits;  ///< (B, 10)
  tapegrad::Tensor loss;    ///< the batch's mean softmax cross-entropy
};

/// One step of minibatch training: the forward pass on `images` under a tape, the mean softmax
/// cross-entropy against `labels`, its gradients for `variables`, and `optimizer`'s update.
inline TrainStep train_step(tapegrad::nn::Sequential& net, tapegrad::optim::Optimizer& optimizer,
                            const std::vector<tapegrad::Variable>& variables, const tapegrad::Tensor& images,
                            const tapegrad::Tensor& labels) {
  TrainStep step;
  std::vector<tapegrad::Tensor> gradients;
  {
    tapegrad::GradientTape tape;  // watches the trainable variables the forward pass reads
    step.logits = net(images, /*training=*/true);
    step.loss = tapegrad::softmax_cross_entropy(step.logits, labels);
    gradients = tape.gradient(step.loss, variables);
  }  // the tape and what it kept for the backward pass are freed here
  optimizer.apply_gradients(gradients, variables);
  return step;
}

}  // namespace examples
