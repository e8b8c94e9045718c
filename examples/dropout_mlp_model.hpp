#pragma once

// The model of examples/dropout_mlp.cpp (the dropout chapter's perceptron), in a header so that
// bench/profile.cpp times the same layers.

#include <tapegrad/nn.hpp>

namespace examples {

/// Appends the book's network: Flatten, Dense(256) ReLU, Dropout(dropout1), Dense(256) ReLU,
/// Dropout(dropout2), Dense(10) (logits). Dense's default weights, Glorot-uniform, as Keras's.
inline void add_dropout_mlp_layers(tapegrad::nn::Sequential& net, double dropout1 = 0.2, double dropout2 = 0.5) {
  namespace nn = tapegrad::nn;
  net.add<nn::Flatten>();
  net.add<nn::Dense>(256);
  net.add<nn::ReLU>();
  net.add<nn::Dropout>(dropout1);
  net.add<nn::Dense>(256);
  net.add<nn::ReLU>();
  net.add<nn::Dropout>(dropout2);
  net.add<nn::Dense>(10);
}

}  // namespace examples
