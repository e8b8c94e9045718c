// Issue 14's speed figures: saving and loading a 256 MiB set of tensors in safetensors (64 tensors
// of 4 MiB; the load with the file in the page cache), in GB/s of tensor data, to read beside
// peak_memory_bandwidth of the same run; and a LeNet checkpoint's round trip (the model's weights
// and the SGD-with-momentum state saved, then loaded and restored into a new model and optimizer).
// Files go to the system's temp folder ($TMPDIR or /tmp): the save's fsync makes its figure the
// disk's under that folder, not only the library's.

#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>
#include "examples/lenet/lenet_model.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace {

using namespace tapegrad;

constexpr int64_t kTensors = 64;
constexpr int64_t kTensorElements = int64_t{1} << 20;  // 4 MiB of float32
constexpr double kBytes = static_cast<double>(kTensors * kTensorElements * 4);

std::string temp_file(const char* name) {
  return (std::filesystem::temp_directory_path() / fmt::format("tapegrad-bench-{}-{}", ::getpid(), name)).string();
}

// Made for each run, not kept: 256 MiB held for the process's life would count in the peak resident
// memory of every benchmark after it (lenet_epoch read 405 MiB after these in ./dev bench).
NamedTensors big_set() {
  NamedTensors made;
  for (int64_t i = 0; i < kTensors; ++i) {
    made.emplace_back(fmt::format("layer{}/kernel", i), full(Shape{1024, 1024}, static_cast<double>(i)));
  }
  return made;
}

void checkpoint_save_256mib(benchmark::State& state) {
  const std::string path = temp_file("save.safetensors");
  const NamedTensors tensors = big_set();
  for (auto _ : state) save(path, tensors);
  state.counters["GB/s"] =
      benchmark::Counter(kBytes * 1e-9 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  std::filesystem::remove(path);
}
BENCHMARK(checkpoint_save_256mib)->Unit(benchmark::kMillisecond)->UseRealTime();

void checkpoint_load_256mib(benchmark::State& state) {
  const std::string path = temp_file("load.safetensors");
  save(path, big_set());
  (void)load(path);  // warm: the file is in the page cache, the allocator has its blocks
  for (auto _ : state) {
    NamedTensors loaded = load(path);
    benchmark::DoNotOptimize(loaded.data());
  }
  state.counters["GB/s"] =
      benchmark::Counter(kBytes * 1e-9 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  std::filesystem::remove(path);
}
BENCHMARK(checkpoint_load_256mib)->Unit(benchmark::kMillisecond)->UseRealTime();

// A LeNet that has taken one step of SGD with momentum 0.9, so that the optimizer has its slots.
void checkpoint_lenet_round_trip(benchmark::State& state) {
  const std::string path = temp_file("lenet.safetensors");
  nn::Sequential net;
  examples::add_lenet_layers(net, examples::LeNetVariant::book);
  optim::SGD sgd(0.9, {.momentum = 0.9});
  const Tensor images = full(Shape{8, 28, 28, 1}, 0.5);
  const Tensor labels = Tensor({0, 1, 2, 3, 4, 5, 6, 7}, Shape{8}, DType::int64);
  net(images);
  examples::train_step(net, sgd, net.trainable_variables(), images, labels);

  for (auto _ : state) {
    Checkpoint checkpoint;
    checkpoint.set("model", net.named_weights());
    checkpoint.set("optimizer", sgd.state());
    checkpoint.save(path);
    const Checkpoint loaded = Checkpoint::load(path);
    net.load_named_weights(loaded.get("model"));
    sgd.load_state(loaded.get("optimizer"));
  }
  state.counters["bytes"] = static_cast<double>(std::filesystem::file_size(path));
  std::filesystem::remove(path);
}
BENCHMARK(checkpoint_lenet_round_trip)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
