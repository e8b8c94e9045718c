// The examples' training step in steady state (issue 17): past its first steps, a LeNet step takes
// no fresh memory from the system, nor does a smaller last batch; every tensor it makes comes from the
// caching allocator's reuse.

#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>
#include "examples/lenet/lenet_model.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
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

TEST_CASE("a LeNet training step in steady state takes no fresh memory beyond the caching allocator's reuse") {
  const int threads_before = num_threads();
  for (const auto variant : {examples::LeNetVariant::book, examples::LeNetVariant::modern}) {
    for (const int threads : {1, 2}) {
      INFO((variant == examples::LeNetVariant::book ? "book" : "modern"), " LeNet, ", threads, " thread(s)");
      set_num_threads(threads);
      nn::set_seed(3);
      nn::Sequential net;
      examples::add_lenet_layers(net, variant);
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
      // Two warm-up steps fill the caches; the next steps must find every block there.
      for (int step = 0; step < 2; ++step) {
        const Batch& b = batches[static_cast<size_t>(step % 2)];
        examples::train_step(net, optimizer, variables, b.images, b.labels);
      }
      const size_t fresh_before = allocator_stats().fresh;
      double loss = 0;
      for (int step = 0; step < 4; ++step) {
        const Batch& b = batches[static_cast<size_t>(step % 2)];
        loss = examples::train_step(net, optimizer, variables, b.images, b.labels).loss.item();
      }
      CHECK(std::isfinite(loss));
      CHECK(allocator_stats().fresh == fresh_before);
      // The last batch runs in the blocks the full batches left.
      CHECK(std::isfinite(examples::train_step(net, optimizer, variables, last.images, last.labels).loss.item()));
      CHECK(allocator_stats().fresh == fresh_before);
    }
  }
  set_num_threads(threads_before);
}
