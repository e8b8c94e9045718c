// The chapter's hand-written convolution layer, as an nn::Module: a weight of the kernel's shape
// and a bias of shape (1), both drawn from a normal distribution; forward = corr2d(x, weight) + bias.
// Trained with a GradientTape and SGD on the edge-detection data, it learns the kernel [[1, -1]]
// and a bias near 0.

#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>
#include "common/check.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <exception>

using namespace tapegrad;

namespace {

// class Conv2D(tf.keras.layers.Layer)
class Conv2D : public nn::Module {
 public:
  explicit Conv2D(std::array<int64_t, 2> kernel_size) : nn::Module("conv2d"), kernel_size_(kernel_size) {}

  const Variable& weight() const { return weight_; }
  const Variable& bias() const { return bias_; }

 protected:
  // def build(self, ...):
  //     initializer = tf.random_normal_initializer()
  //     self.weight = self.add_weight(name='w', shape=kernel_size, initializer=initializer)
  //     self.bias = self.add_weight(name='b', shape=(1, ), initializer=initializer)
  void build(const Shape& /*input_shape*/) override {
    const nn::Initializer initializer = nn::RandomNormal();
    weight_ = add_weight("w", Shape{kernel_size_[0], kernel_size_[1]}, initializer);
    bias_ = add_weight("b", Shape{1}, initializer);
  }

  // def call(self, inputs):
  //     return corr2d(inputs, self.weight) + self.bias
  Tensor call(const Tensor& inputs) override { return corr2d(inputs, weight_) + bias_; }

 private:
  std::array<int64_t, 2> kernel_size_;
  Variable weight_, bias_;
};

}  // namespace

int main() {
  try {
    const Tensor X = ones({6, 8}).with({all, {2, 6}}, 0);
    const Tensor Y = corr2d(X, Tensor({1, -1}, {1, 2}));

    Conv2D layer({1, 2});
    // NOTE: the loss is a sum over 42 pixels, so the step must be small: above lr 0.016 the bias
    // and the kernel's sum overshoot and diverge; at 0.01 the slowest error shrinks by 0.88 a step.
    const double lr = 0.01;
    const int epochs = 40;
    optim::SGD optimizer(lr);
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      GradientTape tape;  // watches the layer's trainable variables as the layer reads them
      const Tensor l = pow(abs(layer(X) - Y), 2);
      const std::vector<Variable> variables = layer.trainable_variables();
      optimizer.apply_gradients(tape.gradient(l, variables), variables);
      if (epoch % 10 == 0) fmt::print("epoch {}, loss {:.6f}\n", epoch, sum(l).item());
    }

    fmt::print("{} = {}\n{} = {}\n", layer.weight().name(), layer.weight().value(), layer.bias().name(),
               layer.bias().value());
    fmt::print(
        "In TensorFlow the book's corr2d, which fills Y element by element with assign, cannot be differentiated\n"
        "(the tape sees no path from the loss to the weight); in tapegrad corr2d is a recorded op with its own\n"
        "gradient, so this layer trains.\n");

    const std::vector<double> w = layer.weight().value().to_vector();
    const double b = layer.bias().value().item();
    examples::check(std::abs(w[0] - 1) < 0.05 && std::abs(w[1] + 1) < 0.05,
                    "the weight should be within 0.05 of [[1, -1]], got [[{}, {}]]", w[0], w[1]);
    examples::check(std::abs(b) < 0.05, "the bias should be within 0.05 of 0, got {}", b);
  } catch (const std::exception& e) {
    fmt::print(stderr, "custom_layer: {}\n", e.what());
    return 1;
  }
}
