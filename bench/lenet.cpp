// Issue 5's end-to-end figure: one training epoch of the book's LeNet (batch 256, SGD lr 0.9) on
// 60,000 images, the real Fashion-MNIST when Debian's dataset-fashion-mnist is installed, else
// synthetic images of the same size. Each iteration is one epoch (the model and step of
// examples/lenet/lenet_model.hpp, as examples/lenet/lenet.cpp trains it); counters: seconds per
// epoch, examples per second, the peak resident memory of the run, and how much the resident memory
// grew from the first epoch's end to the last's (flat memory: about 0).

#include <tapegrad/data.hpp>
#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>
#include "bench/training_data.hpp"
#include "examples/lenet/lenet_model.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <malloc.h>

#include <cstdlib>
#include <string>

namespace {

using namespace tapegrad;

constexpr int64_t kBatch = 256;
constexpr int kEpochs = 2;
using bench::reset_peak_memory;
using bench::status_mib;
using bench::training_data;
using bench::TrainingData;

void lenet_epoch(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const TrainingData& data = training_data();
  const int threads_before = num_threads();
  set_num_threads(threads);
  // What earlier benchmarks left in this thread's cache and malloc's free lists is not this run's.
  release_cached_memory();
  malloc_trim(0);
  const bool reset = reset_peak_memory();

  nn::Sequential net;
  bench::build_book_lenet(net);
  const std::vector<Variable> variables = net.trainable_variables();
  optim::SGD optimizer(0.9);  // the book's learning rate
  data::Dataset batches = data.dataset.shuffle(1).batch(kBatch);

  double first_epoch_rss = -1, last_epoch_rss = -1;
  double loss_sum = 0;
  for (auto _ : state) {
    for (const data::Batch& batch : batches) {
      const examples::TrainStep step = examples::train_step(net, optimizer, variables, batch.features, batch.labels);
      loss_sum += step.loss.item();
    }
    last_epoch_rss = status_mib("VmRSS");
    if (first_epoch_rss < 0) first_epoch_rss = last_epoch_rss;
  }
  const double epochs = static_cast<double>(state.iterations());
  // NOTE: on a machine busy with other work, libgomp's default spinning at each barrier can cost
  // more than the kernels (2 threads on 2 cores beside two busy loops: 21.5 s per epoch with the
  // default, 5.8 s with GOMP_SPINCOUNT=10000, 4.4 s with OMP_WAIT_POLICY=passive; on the idle
  // machine 1.50, 1.42 and 1.89 s). `./dev bench` sets GOMP_SPINCOUNT=10000; the label says which
  // settings the run had.
  const auto setting = [](const char* name) {
    const char* value = std::getenv(name);
    return fmt::format("{}={}", name, value != nullptr ? value : "(unset)");
  };
  state.SetLabel(fmt::format("{}, {} images, batch {}, {} thread{}, {}, {}", data.real ? "Fashion-MNIST" : "synthetic",
                             data.dataset.num_examples(), kBatch, threads, threads == 1 ? "" : "s",
                             setting("OMP_WAIT_POLICY"), setting("GOMP_SPINCOUNT")));
  state.counters["examples/s"] =
      benchmark::Counter(static_cast<double>(batches.num_examples()) * epochs, benchmark::Counter::kIsRate);
  state.counters["peak_rss_MiB"] = status_mib("VmHWM");
  state.counters["peak_rss_of_run"] = reset ? 1 : 0;
  state.counters["rss_growth_MiB"] = last_epoch_rss - first_epoch_rss;
  state.counters["mean_loss"] = loss_sum / (epochs * static_cast<double>(batches.cardinality()));
  set_num_threads(threads_before);
}
// One run of two epochs each (Repetitions(1) even under ./dev bench's 9 repetitions: an epoch takes
// seconds), with 2 threads (issue 5's target) and with 1.
BENCHMARK(lenet_epoch)
    ->ArgName("threads")
    ->Arg(2)
    ->Arg(1)
    ->Iterations(kEpochs)
    ->Repetitions(1)
    ->Unit(benchmark::kSecond)
    ->MeasureProcessCPUTime()  // the CPU column counts every thread: the work, whatever else the machine runs
    ->UseRealTime();

// Issue 16's long-run figure: ten epochs of the book's LeNet on the first 6,000 images (the same
// 60,000 training steps' worth of images as one full epoch: about its cost), and how much the
// resident memory and the allocator's cached bytes grew from the first epoch's end to the tenth's
// (flat: about 0), with the run's peak resident memory.
constexpr int64_t kLongRunImages = 6000;
constexpr int kLongRunEpochs = 10;

void lenet_10_epochs_memory(benchmark::State& state) {
  const data::Dataset subset = training_data().dataset.take(kLongRunImages);
  const int threads_before = num_threads();
  set_num_threads(2);
  release_cached_memory();
  malloc_trim(0);
  const bool reset = reset_peak_memory();

  nn::Sequential net;
  bench::build_book_lenet(net);
  const std::vector<Variable> variables = net.trainable_variables();
  optim::SGD optimizer(0.9);
  data::Dataset batches = subset.shuffle(1).batch(kBatch);

  double first_rss = -1, last_rss = -1;
  int64_t first_cached = -1, last_cached = -1;
  double loss_sum = 0;
  for (auto _ : state) {
    for (const data::Batch& batch : batches) {
      const examples::TrainStep step = examples::train_step(net, optimizer, variables, batch.features, batch.labels);
      loss_sum += step.loss.item();
    }
    last_rss = status_mib("VmRSS");
    last_cached = static_cast<int64_t>(allocator_stats().cached);
    if (first_rss < 0) {
      first_rss = last_rss;
      first_cached = last_cached;
    }
  }
  state.SetLabel(
      fmt::format("{} epochs of {} images, batch {}, 2 threads", state.iterations(), subset.num_examples(), kBatch));
  state.counters["peak_rss_MiB"] = status_mib("VmHWM");
  state.counters["peak_rss_of_run"] = reset ? 1 : 0;
  state.counters["rss_growth_MiB"] = last_rss - first_rss;
  state.counters["cached_growth_KiB"] = static_cast<double>(last_cached - first_cached) / 1024.0;
  state.counters["mean_loss"] =
      loss_sum / (static_cast<double>(state.iterations()) * static_cast<double>(batches.cardinality()));
  set_num_threads(threads_before);
}
BENCHMARK(lenet_10_epochs_memory)
    ->Iterations(kLongRunEpochs)
    ->Repetitions(1)
    ->Unit(benchmark::kSecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

}  // namespace
