#pragma once

// The model of examples/resnet.cpp (the book's residual blocks at Fashion-MNIST's 28x28, fewer
// channels), in a header so that bench/resnet.cpp trains the same network.

#include <tapegrad/nn.hpp>
#include <tapegrad/tapegrad.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace examples {

/// He-normal weights (variance 2 / fan_in, for ReLU), as the book's PyTorch ResNets use.
inline tapegrad::nn::Conv2DLayerOptions conv_options(int64_t strides = 1,
                                                     tapegrad::Padding padding = tapegrad::Padding::same(),
                                                     std::string name = {}) {
  return {
      .strides = strides, .padding = padding, .kernel_initializer = tapegrad::nn::HeNormal(), .name = std::move(name)};
}

/// The book's residual block: two 3x3 convolutions with batch normalization, ReLU between them, and
/// the input added back before the last ReLU; through a 1x1 convolution when the block changes the
/// number of channels or (strides 2) the image size. Its layers are members: the block tracks them
/// on its first call, and names their variables "block_1/conv2d/kernel".
class Residual : public tapegrad::nn::Module {
 public:
  Residual(int64_t channels, bool use_1x1conv, int64_t strides, std::string name)
      : tapegrad::nn::Module("residual", std::move(name)),
        conv1_(channels, 3, conv_options(strides)),
        conv2_(channels, 3, conv_options()) {
    if (use_1x1conv) shortcut_.emplace(channels, 1, conv_options(strides, tapegrad::Padding::valid()));
  }

 protected:
  // The layers inherit this call's mode: training (the batch's statistics) or inference.
  tapegrad::Tensor call(const tapegrad::Tensor& x) override {
    const tapegrad::Tensor y = bn2_(conv2_(tapegrad::relu(bn1_(conv1_(x)))));
    return tapegrad::relu(add_({y, shortcut_ ? (*shortcut_)(x) : x}));
  }

 private:
  tapegrad::nn::Conv2D conv1_, conv2_;
  tapegrad::nn::BatchNormalization bn1_, bn2_;
  std::optional<tapegrad::nn::Conv2D> shortcut_;
  tapegrad::nn::Add add_;
};

/// Makes ResNet(width)'s six residual blocks in order, each by `make(channels, use_1x1conv, strides,
/// name)`: three stages of two, the second and third starting with strides 2 and twice the channels.
template <typename Make>
void make_residual_blocks(int64_t width, Make make) {
  int64_t number = 0;
  for (int64_t stage = 0; stage < 3; ++stage) {
    const int64_t channels = width << stage;
    for (int64_t block = 0; block < 2; ++block) {
      const bool first_of_smaller = stage > 0 && block == 0;  // halves the image, doubles the channels
      make(channels, first_of_smaller, first_of_smaller ? 2 : 1, fmt::format("block_{}", ++number));
    }
  }
}

/// The network: stem (3x3 convolution, batch normalization, ReLU), three stages of two residual
/// blocks (width, 2 width and 4 width channels; the second and third stages start with strides 2),
/// global average pooling and Dense(10) (logits).
class ResNet : public tapegrad::nn::Module {
 public:
  explicit ResNet(int64_t width)
      : tapegrad::nn::Module("resnet", "resnet"),
        stem_conv_(width, 3, conv_options(1, tapegrad::Padding::same(), "stem_conv2d")),
        stem_bn_(tapegrad::nn::BatchNormalizationOptions{.name = "stem_batch_normalization"}),
        dense_(10) {
    make_residual_blocks(width, [&](int64_t channels, bool use_1x1conv, int64_t strides, std::string name) {
      blocks_.push_back(std::make_unique<Residual>(channels, use_1x1conv, strides, std::move(name)));
    });
  }
  /// The residual blocks, in order.
  const std::vector<std::unique_ptr<Residual>>& blocks() const { return blocks_; }

 protected:
  tapegrad::Tensor call(const tapegrad::Tensor& x) override {
    tapegrad::Tensor y = tapegrad::relu(stem_bn_(stem_conv_(x)));
    for (const std::unique_ptr<Residual>& block : blocks_) y = (*block)(y);
    return dense_(pooling_(y));
  }

 private:
  tapegrad::nn::Conv2D stem_conv_;
  tapegrad::nn::BatchNormalization stem_bn_;
  std::vector<std::unique_ptr<Residual>> blocks_;
  tapegrad::nn::GlobalAveragePooling2D pooling_;
  tapegrad::nn::Dense dense_;
};

/// The same network as ResNet(width), as a stack of layers (the residual blocks among them), for
/// bench/profile.cpp's layer-by-layer profile; tests/examples/test_resnet_layers.cpp checks that both
/// compute the same logits and gradients from the same seed.
inline void add_resnet_layers(tapegrad::nn::Sequential& net, int64_t width) {
  using namespace tapegrad::nn;
  net.add<Conv2D>(width, 3, conv_options(1, tapegrad::Padding::same(), "stem_conv2d"));
  net.add<BatchNormalization>(BatchNormalizationOptions{.name = "stem_batch_normalization"});
  net.add<ReLU>();
  make_residual_blocks(width, [&](int64_t channels, bool use_1x1conv, int64_t strides, std::string name) {
    net.add<Residual>(channels, use_1x1conv, strides, std::move(name));
  });
  net.add<GlobalAveragePooling2D>();
  net.add<Dense>(10);
}

/// Floating-point operations of one image's training step through ResNet(width) at 28x28: the
/// multiply-adds of the convolutions and the dense layer, twice (a multiply and an add), forward and
/// backward (the input and the kernel gradients; the stem's input needs none). Biases, batch
/// normalization, ReLU, the sum and the pooling are not counted: their work is in bytes, not FLOPs.
inline double resnet_flops_per_image(int64_t width) {
  // out_pixels x taps x in x out multiply-adds, forward.
  const auto conv = [](int64_t size, int64_t taps, int64_t in, int64_t out) {
    return 2.0 * static_cast<double>(size * size * taps * in * out);
  };
  const double stem = 2 * conv(28, 9, 1, width);  // forward and kernel gradient: no input gradient
  double forward = 0;
  for (int64_t stage = 0, size = 28, channels = width; stage < 3; ++stage, size /= 2, channels *= 2) {
    const int64_t in = stage == 0 ? channels : channels / 2;
    forward += conv(size, 9, in, channels) + 3 * conv(size, 9, channels, channels);  // 4 3x3 convolutions a stage
    if (stage > 0) forward += conv(size, 1, in, channels);                           // the 1x1 shortcut
  }
  forward += 2.0 * static_cast<double>(4 * width * 10);  // Dense(10) on the pooled channels
  return stem + 3 * forward;
}

}  // namespace examples
