// The examples' training steps in steady state (issue 17): past a first epoch's steps (two full
// batches, the smaller last batch, one more full batch), a step of each example model (both LeNets,
// the batch-normalized one, the dropout MLP, a narrow ResNet) takes no fresh memory from the system,
// nor does the last batch; every tensor it makes comes from the caching allocator's reuse. LeNet's
// last batch takes none even the first time: it runs in the blocks the full batches left.

#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>
#include "examples/batchnorm_lenet_model.hpp"
#include "examples/dropout_mlp_model.hpp"
#include "examples/lenet/lenet_model.hpp"
#include "examples/resnet_model.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

using namespace tapegrad;

namespace {

// Images in [0, 1) and labels 0-9, as data::Batches makes them.
struct Batch {
  Tensor images, labels;
};

Batch random_batch(int64_t size, Generator& generator) {
  std::vector<double> pixels(static_cast<size_t>(size * 28 * 28));
  for (double& p : pixels) p = static_cast<double>(generator.below(256)) / 255.0;
  Tensor labels = Tensor::empty(Shape{size}, DType::int64);
  for (int64_t i = 0; i < size; ++i) labels.mutable_data<int64_t>()[i] = static_cast<int64_t>(generator.below(10));
  return {Tensor(pixels, Shape{size, 28, 28, 1}, DType::float32), labels};
}

}  // namespace

TEST_CASE("every example's training step in steady state takes no fresh memory beyond the caching allocator's reuse") {
  struct Model {
    const char* name;
    std::function<void(nn::Sequential&)> add_layers;
    // The first smaller batch finds every block it needs among the full batches' (the others take
    // some the first time: 112-208 KiB at these sizes, once a run).
    bool first_last_batch_reuses = false;
  };
  const std::vector<Model> models{
      {"book LeNet", [](nn::Sequential& net) { examples::add_lenet_layers(net, examples::LeNetVariant::book); }, true},
      {"modern LeNet", [](nn::Sequential& net) { examples::add_lenet_layers(net, examples::LeNetVariant::modern); },
       true},
      {"batch-normalized LeNet", [](nn::Sequential& net) { examples::add_batchnorm_lenet_layers(net); }},
      {"dropout MLP", [](nn::Sequential& net) { examples::add_dropout_mlp_layers(net); }},
      {"ResNet of width 4", [](nn::Sequential& net) { examples::add_resnet_layers(net, 4); }},
  };
  const int threads_before = num_threads();
  for (const Model& model : models) {
    for (const int threads : {1, 2}) {
      INFO(std::string(model.name), ", ", threads, " thread(s)");
      set_num_threads(threads);
      nn::set_seed(3);
      nn::Sequential net;
      model.add_layers(net);
      Generator generator(5);
      const std::vector<Batch> batches{random_batch(64, generator), random_batch(64, generator)};
      // An epoch's last batch, smaller than the others (60,000 images in batches of 256 end in one of 96).
      const Batch last = random_batch(48, generator);
      {
        const StopRecording no_recording;
        net(batches[0].images);  // builds the layers
      }
      const std::vector<Variable> variables = net.trainable_variables();
      optim::SGD optimizer(0.1);
      const auto step = [&](const Batch& b) {
        return examples::train_step(net, optimizer, variables, b.images, b.labels).loss.item();
      };
      // A first epoch's steps fill the caches: two full batches, the last one, one more full batch.
      step(batches[0]);
      step(batches[1]);
      const size_t fresh_before_last = allocator_stats().fresh;
      step(last);
      if (model.first_last_batch_reuses) CHECK(allocator_stats().fresh == fresh_before_last);
      step(batches[0]);
      // From then on every step finds every block it needs there.
      const size_t fresh_before = allocator_stats().fresh;
      double loss = 0;
      for (int k = 0; k < 4; ++k) loss = step(batches[static_cast<size_t>(k % 2)]);
      CHECK(std::isfinite(loss));
      CHECK(allocator_stats().fresh == fresh_before);
      CHECK(std::isfinite(step(last)));
      CHECK(allocator_stats().fresh == fresh_before);
    }
  }
  set_num_threads(threads_before);
}
