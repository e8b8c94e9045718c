#pragma once

// The model of examples/batchnorm_lenet.cpp (the batch-normalization chapter's LeNet), in a header
// so that bench/profile.cpp times the same layers.

#include <tapegrad/nn.hpp>

namespace examples {

/// Appends the book's LeNet with BatchNormalization after each convolution and each of the first
/// two dense layers, before the sigmoid; no padding on the first convolution, so the first dense
/// layer takes 16 * 4 * 4 = 256 inputs.
inline void add_batchnorm_lenet_layers(tapegrad::nn::Sequential& net) {
  namespace nn = tapegrad::nn;
  const nn::Conv2DLayerOptions conv{.kernel_initializer = nn::GlorotUniform()};
  const nn::Pool2DLayerOptions stride_two{.strides = 2};
  net.add<nn::Conv2D>(6, 5, conv);  // 24x24x6
  net.add<nn::BatchNormalization>();
  net.add<nn::Sigmoid>();
  net.add<nn::AvgPool2D>(2, stride_two);  // 12x12x6
  net.add<nn::Conv2D>(16, 5, conv);       // 8x8x16
  net.add<nn::BatchNormalization>();
  net.add<nn::Sigmoid>();
  net.add<nn::AvgPool2D>(2, stride_two);  // 4x4x16
  net.add<nn::Flatten>();                 // 256
  net.add<nn::Dense>(120);
  net.add<nn::BatchNormalization>();
  net.add<nn::Sigmoid>();
  net.add<nn::Dense>(84);
  net.add<nn::BatchNormalization>();
  net.add<nn::Sigmoid>();
  net.add<nn::Dense>(10);  // logits
}

}  // namespace examples
