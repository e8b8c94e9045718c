// Issue 19's figures: one epoch of the book's LeNet (batch 256, SGD lr 0.9) on 60,000 images (the real
// Fashion-MNIST when installed, else synthetic ones) trained three ways on one machine:
//   processes:2/threads:1  data-parallel, each process its half of every batch, gradients all-reduced;
//   processes:1/threads:2  one process, two kernel threads (rank 1 waits, asleep);
//   processes:1/threads:1  one process, one thread.
// and `all_reduce_lenet_gradients`, the all-reduce of LeNet's 10 gradients (61,706 floats) between 2
// ranks that are already in step: the communication itself, without waiting for a slower rank.
// Counters: comm_ms_per_step (rank 0's time inside all_reduce per step, waiting for the other rank
// included), steps, mean_loss. Run as 2 processes, every rank running the same benchmarks in lockstep
// (fixed iterations, no random interleaving); rank 0 alone reports:
//   mpirun -np 2 --oversubscribe build/bench/tapegrad_bench_distributed

#include <tapegrad/data.hpp>
#include <tapegrad/distributed.hpp>
#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>
#include "bench/training_data.hpp"
#include "distributed/detail/mpi.hpp"
#include "examples/lenet/lenet_model.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace tapegrad;

constexpr int64_t kBatch = 256;

// Rows [n r / N, n (r + 1) / N) of a batch tensor.
Tensor shard(const Tensor& batch, int rank, int size) {
  const int64_t n = batch.shape().dims()[0];
  const int64_t begin = n * rank / size, end = n * (rank + 1) / size;
  std::vector<int64_t> dims(batch.shape().dims().begin(), batch.shape().dims().end());
  const size_t row = static_cast<size_t>(batch.numel() / n) * dtype_size(batch.dtype());
  dims[0] = end - begin;
  Tensor part = Tensor::empty(Shape(dims), batch.dtype());
  std::memcpy(part.mutable_raw_data(),
              static_cast<const std::byte*>(batch.raw_data()) + static_cast<size_t>(begin) * row,
              static_cast<size_t>(end - begin) * row);
  return part;
}

// Every rank waits here for the others, asleep (50 us naps), leaving the cores to the working rank.
void barrier() {
  MPI_Request request = MPI_REQUEST_NULL;
  const MPI_Comm comm = distributed::detail::communicator("bench barrier");
  distributed::detail::check(MPI_Ibarrier(comm, &request), "bench barrier");
  distributed::detail::wait(request, "bench barrier");
}

void lenet_epoch(benchmark::State& state) {
  const int processes = static_cast<int>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  const int rank = distributed::rank();
  const bool working = rank < processes;
  const bench::TrainingData& training = bench::training_data();
  const data::Dataset& dataset = training.dataset;
  set_num_threads(threads);

  nn::Sequential net;
  bench::build_book_lenet(net);
  const std::vector<Variable> variables = net.trainable_variables();
  optim::SGD optimizer(0.9);
  if (processes > 1) optimizer.set_gradient_aggregator(distributed::gradient_aggregator());
  data::Dataset batches = dataset.shuffle(1).batch(kBatch);
  barrier();
  distributed::reset_communication_stats();
  double loss_sum = 0;
  int64_t steps = 0;
  for (auto _ : state) {
    if (working) {
      for (const data::Batch& batch : batches) {
        const Tensor images = processes > 1 ? shard(batch.features, rank, processes) : batch.features;
        const Tensor labels = processes > 1 ? shard(batch.labels, rank, processes) : batch.labels;
        loss_sum += examples::train_step(net, optimizer, variables, images, labels).loss.item();
        ++steps;
      }
    }
    barrier();
  }
  const distributed::CommunicationStats stats = distributed::communication_stats();
  state.SetLabel(fmt::format("{}, {} images, batch {}", training.real ? "Fashion-MNIST" : "synthetic",
                             dataset.num_examples(), kBatch));
  state.counters["steps"] = static_cast<double>(steps);
  state.counters["comm_ms_per_step"] = steps > 0 ? 1e3 * stats.all_reduce_seconds / static_cast<double>(steps) : 0;
  state.counters["mean_loss"] = steps > 0 ? loss_sum / static_cast<double>(steps) : 0;
  state.counters["examples/s"] =
      benchmark::Counter(static_cast<double>(batches.num_examples()) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}
BENCHMARK(lenet_epoch)
    ->ArgNames({"processes", "threads"})
    ->Args({2, 1})
    ->Args({1, 2})
    ->Args({1, 1})
    ->Iterations(1)
    ->Repetitions(3)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

// The all-reduce of LeNet's gradients alone, between ranks in step (a barrier before each).
void all_reduce_lenet_gradients(benchmark::State& state) {
  nn::Sequential net;
  bench::build_book_lenet(net);
  std::vector<Tensor> gradients;
  int64_t floats = 0;
  for (const Variable& variable : net.trainable_variables()) {
    gradients.push_back(variable.value());
    floats += variable.value().numel();
  }
  for (auto _ : state) {
    state.PauseTiming();
    barrier();
    state.ResumeTiming();
    benchmark::DoNotOptimize(distributed::all_reduce(gradients));
  }
  state.SetLabel(
      fmt::format("{} tensors, {} floats, {} processes", gradients.size(), floats, distributed::world_size()));
  state.SetBytesProcessed(state.iterations() * floats * 4);
}
BENCHMARK(all_reduce_lenet_gradients)->Iterations(2000)->Repetitions(3)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Rank 1's results are rank 0's run in lockstep: it reports nothing.
class Silent : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

int main(int argc, char** argv) {
  const distributed::Environment environment;
  // Google Benchmark refuses a file reporter without --benchmark_out: rank 1 passes its silent one only then.
  bool file_out = false;
  for (int i = 1; i < argc; ++i) file_out = file_out || std::string(argv[i]).rfind("--benchmark_out=", 0) == 0;
  benchmark::Initialize(&argc, argv);
  if (distributed::world_size() != 2) {
    fmt::print(stderr, "tapegrad_bench_distributed: run it as 2 processes: mpirun -np 2 {}\n", argv[0]);
    return 2;
  }
  if (distributed::rank() == 0) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    Silent display, file;
    benchmark::RunSpecifiedBenchmarks(&display, file_out ? &file : nullptr);
  }
  benchmark::Shutdown();
  return 0;
}
