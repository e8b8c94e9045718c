#pragma once

// The training images the end-to-end benchmarks run on (lenet.cpp, profile.cpp, distributed.cpp): Fashion-MNIST's
// training split when Debian's dataset-fashion-mnist is installed, else as many synthetic 28x28
// images (random bytes, labels 0-9 in turn): the timing does not depend on what the pixels show.

#include <tapegrad/data.hpp>
#include <tapegrad/nn.hpp>
#include <tapegrad/tapegrad.hpp>
#include "examples/lenet/lenet_model.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

namespace bench {

/// The 60,000 training images, and whether they are Fashion-MNIST's.
struct TrainingData {
  tapegrad::data::Dataset dataset;  ///< (N, 28, 28) bytes and (N) labels
  bool real = false;                ///< Fashion-MNIST's, not synthetic
};

/// Loaded (or made) once per process.
inline const TrainingData& training_data() {
  constexpr int64_t kImages = 60000;
  static const TrainingData data = [] {
    namespace data = tapegrad::data;
    TrainingData loaded;
    const std::string directory = data::default_fashion_mnist_directory();
    if (std::filesystem::is_directory(directory)) {
      loaded.dataset = data::load_fashion_mnist(directory, data::Split::train).take(kImages);
      loaded.real = loaded.dataset.num_examples() == kImages;
    }
    if (!loaded.real) {
      tapegrad::Generator generator(1);
      data::IdxArray images, labels;
      images.dims = {kImages, 28, 28};
      labels.dims = {kImages};
      images.bytes.resize(static_cast<size_t>(kImages * 28 * 28));
      for (uint8_t& byte : images.bytes) byte = static_cast<uint8_t>(generator.below(256));
      labels.bytes.resize(static_cast<size_t>(kImages));
      for (int64_t i = 0; i < kImages; ++i) labels.bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(i % 10);
      loaded.dataset = data::Dataset::from_idx(std::move(images), std::move(labels));
    }
    return loaded;
  }();
  return data;
}

/// A field of /proc/self/status in MiB ("VmRSS", "VmHWM"), or -1 where there is none.
inline double status_mib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;  // kB
  }
  return -1;
}

/// Starts the peak (VmHWM) anew from the current resident memory, so that it is this run's.
/// NOTE: Linux >= 4.0; where the write fails the peak is the process's since it started.
inline bool reset_peak_memory() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.close();
  return static_cast<bool>(clear);
}

/// The book's LeNet as the end-to-end benchmarks train it: seed 1, its layers built by one call on a
/// 28x28 image.
inline void build_book_lenet(tapegrad::nn::Sequential& net) {
  tapegrad::nn::set_seed(1);
  examples::add_lenet_layers(net, examples::LeNetVariant::book);
  const tapegrad::StopRecording no_recording;
  net(tapegrad::zeros({1, 28, 28, 1}));
}

}  // namespace bench
