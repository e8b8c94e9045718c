// Issue 15's and 17's ResNet figure: training steps of examples/resnet_model.hpp's network (widths
// 16, 32 and 64; batch 128; SGD with momentum 0.9 at a constant learning rate, where the example's
// decays along a cosine, which does not change a step's time) on the training
// images of bench/training_data.hpp. An epoch takes minutes, so each iteration is one step and an
// epoch's seconds are a step's times the steps of 60,000 images. Counters: images per second, the
// FLOPs of an image's step (examples::resnet_flops_per_image) for the share of the FLOP limit, and the
// run's peak resident memory.

#include <tapegrad/data.hpp>
#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>
#include "bench/training_data.hpp"
#include "examples/resnet_model.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <malloc.h>

#include <optional>
#include <vector>

namespace {

using namespace tapegrad;

constexpr int64_t kBatch = 128, kWidth = 16;
constexpr int kSteps = 12;  // timed, after two untimed ones (the layers built, the caches filled)

void resnet_epoch(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const bench::TrainingData& data = bench::training_data();
  const int threads_before = num_threads();
  set_num_threads(threads);
  release_cached_memory();
  malloc_trim(0);
  const bool reset = bench::reset_peak_memory();

  nn::reset_names();
  nn::set_seed(1);
  examples::ResNet net(kWidth);
  {
    const StopRecording no_recording;
    net(zeros({1, 28, 28, 1}));  // builds the layers
  }
  const std::vector<Variable> variables = net.trainable_variables();
  optim::SGD optimizer(0.05, {.momentum = 0.9});
  data::Dataset batches = data.dataset.shuffle(1).batch(kBatch, /*drop_remainder=*/true);
  const auto step = [&] {
    std::optional<data::Batch> batch = batches.next();
    if (!batch) batch = batches.next();  // the next epoch
    std::vector<Tensor> gradients;
    {
      GradientTape tape;
      const Tensor loss = softmax_cross_entropy(net(batch->features, /*training=*/true), batch->labels);
      gradients = tape.gradient(loss, variables);
    }
    optimizer.apply_gradients(gradients, variables);
  };
  step();
  step();
  for (auto _ : state) step();

  state.SetLabel(fmt::format("{}, widths {}-{}-{}, batch {}, {} thread{}", data.real ? "Fashion-MNIST" : "synthetic",
                             kWidth, 2 * kWidth, 4 * kWidth, kBatch, threads, threads == 1 ? "" : "s"));
  state.counters["images/s"] =
      benchmark::Counter(static_cast<double>(kBatch * state.iterations()), benchmark::Counter::kIsRate);
  state.counters["flops_per_image"] = examples::resnet_flops_per_image(kWidth);
  state.counters["steps_per_epoch"] = static_cast<double>(data.dataset.num_examples()) / kBatch;
  state.counters["peak_rss_MiB"] = bench::status_mib("VmHWM");
  state.counters["peak_rss_of_run"] = reset ? 1 : 0;
  set_num_threads(threads_before);
}
// One run of kSteps steps each (Repetitions(1) even under ./dev bench's 9 repetitions: a step takes
// a fifth of a second), on 1 thread (issue 17's target) and 2.
BENCHMARK(resnet_epoch)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->Iterations(kSteps)
    ->Repetitions(1)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

}  // namespace
