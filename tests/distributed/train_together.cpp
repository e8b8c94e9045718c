// Data-parallel training on small data, started by tests/distributed/run_mpi.py under mpirun (or alone,
// as 1 process). Each rank trains a small conv net on its half of every global batch with a
// DistributedOptimizer; rank 0 then trains the same net alone on the whole global batches and checks:
//   - the ranks' weights are the same bits (their hashes, gathered with all_reduce);
//   - they equal the single process's to within `--tolerance` (float summation order; see run_mpi.py's
//     meson tests for the values and why), and exactly with 1 process.
// With --fail-rank R --fail-step S --fail throw|kill, rank R throws (and reports it) or dies at step S;
// with --mismatch, rank 1 builds a wider layer: broadcast and the first apply_gradients must be an
// Error on every rank. Each rank prints its lines as "rank R: ..."; exit 0 when every check passed.
//   train_together [--dtype float32|float64] [--steps N] [--tolerance X] [--fail throw|kill
//                  --fail-rank R --fail-step S] [--mismatch]

#include <tapegrad/data.hpp>
#include <tapegrad/distributed.hpp>
#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace tapegrad;

namespace {

struct Options {
  DType dtype = DType::float32;
  int64_t steps = 24;
  double tolerance = 0;
  std::string fail_how;
  int fail_rank = 1;
  int64_t fail_step = 3;
  bool mismatch = false;
};

constexpr int64_t kExamples = 96;
constexpr int64_t kGlobalBatch = 16;

// 96 random 6x6 images with labels that depend on them, from a fixed seed.
data::Dataset make_data() {
  constexpr int64_t side = 6;
  data::IdxArray images, labels;
  images.dims = {kExamples, side, side};
  labels.dims = {kExamples};
  Generator generator(2024);
  for (int64_t i = 0; i < kExamples; ++i) {
    int sum = 0;
    for (int64_t p = 0; p < side * side; ++p) {
      const auto byte = static_cast<uint8_t>(generator.below(256));
      images.bytes.push_back(byte);
      sum += byte;
    }
    labels.bytes.push_back(static_cast<uint8_t>(sum % 3));
  }
  return data::Dataset::from_idx(std::move(images), std::move(labels));
}

void build(nn::Sequential& model, DType dtype, int64_t width) {
  model.add<nn::Conv2D>(4, 3, nn::Conv2DLayerOptions{.dtype = dtype});
  model.add<nn::ReLU>();
  model.add<nn::Flatten>();
  model.add<nn::Dense>(width, nn::DenseOptions{.dtype = dtype});
  model.add<nn::Sigmoid>();
  model.add<nn::Dense>(3, nn::DenseOptions{.dtype = dtype});
  const StopRecording no_recording;
  model(zeros({1, 6, 6, 1}, dtype));  // builds the layers
}

// One step on `images` and `labels` (this process's part of the global batch).
void step(nn::Sequential& model, optim::Optimizer& optimizer, const Tensor& images, const Tensor& labels, DType dtype) {
  const std::vector<Variable> variables = model.trainable_variables();
  std::vector<Tensor> gradients;
  {
    GradientTape tape;
    const Tensor loss = softmax_cross_entropy(model(images.to(dtype)), labels);
    gradients = tape.gradient(loss, variables);
  }
  optimizer.apply_gradients(gradients, variables);
}

// Rows begin..end-1 (along the first axis) of a batch tensor: this process's part of it.
Tensor take_rows(const Tensor& x, int64_t begin, int64_t end) {
  std::vector<int64_t> dims(x.shape().dims().begin(), x.shape().dims().end());
  const size_t row = static_cast<size_t>(x.numel() / dims[0]) * dtype_size(x.dtype());
  dims[0] = end - begin;
  Tensor part = Tensor::empty(Shape(dims), x.dtype());
  std::memcpy(part.mutable_raw_data(), static_cast<const std::byte*>(x.raw_data()) + static_cast<size_t>(begin) * row,
              static_cast<size_t>(end - begin) * row);
  return part;
}

// FNV-1a of every weight's bytes.
int64_t weights_hash(nn::Sequential& model) {
  uint64_t hash = 14695981039346656037ull;
  for (const Variable& variable : model.trainable_variables()) {
    const auto* bytes = static_cast<const unsigned char*>(variable.value().raw_data());
    const size_t size = static_cast<size_t>(variable.value().numel()) * dtype_size(variable.dtype());
    for (size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 1099511628211ull;
  }
  return static_cast<int64_t>(hash);
}

// The weights of `model` as doubles, end to end.
std::vector<double> flat_weights(nn::Sequential& model) {
  std::vector<double> all;
  for (const Variable& variable : model.trainable_variables()) {
    const std::vector<double> values = variable.value().to_vector();
    all.insert(all.end(), values.begin(), values.end());
  }
  return all;
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--mismatch") {
      options.mismatch = true;
      continue;
    }
    if (i + 1 >= argc) fail("train_together: {} needs a value", flag);
    const std::string value = argv[++i];
    if (flag == "--dtype") options.dtype = value == "float64" ? DType::float64 : DType::float32;
    else if (flag == "--steps") options.steps = std::stoll(value);
    else if (flag == "--tolerance") options.tolerance = std::stod(value);
    else if (flag == "--fail") options.fail_how = value;
    else if (flag == "--fail-rank") options.fail_rank = std::stoi(value);
    else if (flag == "--fail-step") options.fail_step = std::stoll(value);
    else fail("train_together: unknown flag '{}'", flag);
  }
  return options;
}

// Every rank builds a different-width layer on rank 1: both checks must fail on every rank.
int run_mismatch(const Options& options) {
  const int rank = distributed::rank();
  nn::Sequential model;
  build(model, options.dtype, rank == 1 ? 9 : 8);
  int expected = 0;
  try {
    distributed::broadcast(model.trainable_variables());
  } catch (const Error& e) {
    fmt::print("rank {}: expected error: {}\n", rank, e.what());
    ++expected;
  }
  distributed::DistributedOptimizer<optim::SGD> optimizer(0.1);
  data::Dataset dataset = make_data();
  data::Dataset batches = dataset.batch(kGlobalBatch);
  const data::Batch batch = *batches.next();
  try {
    step(model, optimizer, batch.features, batch.labels, options.dtype);
  } catch (const Error& e) {
    fmt::print("rank {}: expected error: {}\n", rank, e.what());
    ++expected;
  }
  if (expected != 2) {
    fmt::print(stderr, "rank {}: FAILED: {} of the 2 expected errors\n", rank, expected);
    return 1;
  }
  fmt::print("rank {}: both mismatches were errors, before any step\n", rank);
  return 0;
}

// all_reduce of float32, float64 and int64 tensors (and an undefined one) in buckets of 64 bytes, so
// that each dtype travels in several messages: rank r gives (r + 1) * base, so the sum is
// N (N + 1) / 2 * base and the mean (N + 1) / 2 * base, exactly (small integers and halves).
bool check_all_reduce(int rank, int size) {
  std::vector<double> base(100);
  for (size_t i = 0; i < base.size(); ++i) base[i] = static_cast<double>(i) - 40;
  const auto scaled = [&](double factor, size_t n) {
    std::vector<double> values(base.begin(), base.begin() + static_cast<std::ptrdiff_t>(n));
    for (double& value : values) value *= factor;
    return values;
  };
  const double own = rank + 1, sum = size * (size + 1) / 2.0, mean = (size + 1) / 2.0;
  const distributed::AllReduceOptions small{.bucket_bytes = 64};
  const std::vector<Tensor> floats{Tensor(scaled(own, 100), {10, 10}), Tensor{},
                                   Tensor(scaled(own, 7), {7}, DType::float64), Tensor(scaled(own, 30), {30})};
  const std::vector<Tensor> means = distributed::all_reduce(floats, small);
  const std::vector<Tensor> ints = distributed::all_reduce({Tensor(scaled(own, 20), {4, 5}, DType::int64)},
                                                           {.op = distributed::ReduceOp::sum, .bucket_bytes = 64});
  const bool right = !means[1].defined() && means[0].to_vector() == scaled(mean, 100) &&
                     means[2].dtype() == DType::float64 && means[2].to_vector() == scaled(mean, 7) &&
                     means[3].to_vector() == scaled(mean, 30) && ints[0].dtype() == DType::int64 &&
                     ints[0].to_vector() == scaled(sum, 20);
  if (!right) {
    fmt::print(stderr, "rank {}: FAILED: all_reduce in 64-byte buckets gave wrong values\n", rank);
    return false;
  }
  fmt::print("rank {}: all_reduce in 64-byte buckets: the exact mean (float32, float64) and sum (int64)\n", rank);
  return true;
}

int run(const Options& options) {
  const int rank = distributed::rank();
  const int size = distributed::world_size();
  if (kGlobalBatch % size != 0) fail("train_together: {} processes do not split a batch of {}", size, kGlobalBatch);
  const int64_t local = kGlobalBatch / size;
  const data::Dataset dataset = make_data();
  if (!check_all_reduce(rank, size)) return 1;

  // Each rank starts from other weights (seed 1 + rank): broadcast makes them rank 0's.
  nn::set_seed(1 + static_cast<uint64_t>(rank));
  nn::Sequential model;
  build(model, options.dtype, 8);
  distributed::broadcast(model.trainable_variables());
  distributed::DistributedOptimizer<optim::SGD> optimizer(0.2, optim::SGDOptions{.momentum = 0.9});

  // Every rank reads the same shuffled global batches (seed 5) and trains on its rows of each.
  data::Dataset batches = dataset.shuffle(5).batch(kGlobalBatch);
  int64_t steps = 0;
  while (steps < options.steps) {
    for (const data::Batch& batch : batches) {
      if (steps == options.steps) break;
      if (rank == options.fail_rank && steps == options.fail_step) {
        if (options.fail_how == "kill") {
          fmt::print("rank {}: dies (SIGKILL) at step {}\n", rank, steps);
          std::fflush(stdout);
          std::raise(SIGKILL);
        }
        if (options.fail_how == "throw") fail("injected failure at step {}", steps);
      }
      step(model, optimizer, take_rows(batch.features, rank * local, (rank + 1) * local),
           take_rows(batch.labels, rank * local, (rank + 1) * local), options.dtype);
      ++steps;
    }
  }

  // The ranks' weights are the same bits: each puts its hash in its slot, the sum gathers them.
  Tensor hashes;
  {
    std::vector<int64_t> mine(static_cast<size_t>(size), 0);
    mine[static_cast<size_t>(rank)] = weights_hash(model);
    Tensor own = Tensor::empty({size}, DType::int64);
    std::memcpy(own.mutable_raw_data(), mine.data(), mine.size() * sizeof(int64_t));
    hashes = distributed::all_reduce({own}, {.op = distributed::ReduceOp::sum})[0];
  }
  const auto all = hashes.data<int64_t>();
  for (int r = 1; r < size; ++r) {
    if (all[static_cast<size_t>(r)] != all[0]) {
      fmt::print(stderr, "rank {}: FAILED: rank {}'s weights differ from rank 0's (hash {:x} vs {:x})\n", rank, r,
                 all[static_cast<size_t>(r)], all[0]);
      return 1;
    }
  }
  fmt::print("rank {}: after {} steps the weights of the {} ranks are the same bits (hash {:016x})\n", rank,
             options.steps, size, static_cast<uint64_t>(all[0]));
  if (rank != 0) return 0;

  // One process, the whole global batches, from rank 0's initial weights (seed 1).
  nn::set_seed(1);
  nn::Sequential alone;
  build(alone, options.dtype, 8);
  optim::SGD plain(0.2, optim::SGDOptions{.momentum = 0.9});
  data::Dataset again = dataset.shuffle(5).batch(kGlobalBatch);
  for (int64_t s = 0; s < options.steps;) {
    for (const data::Batch& batch : again) {
      if (s == options.steps) break;
      step(alone, plain, batch.features, batch.labels, options.dtype);
      ++s;
    }
  }
  const std::vector<double> together = flat_weights(model), single = flat_weights(alone);
  double max_difference = 0, max_weight = 0;
  for (size_t i = 0; i < together.size(); ++i) {
    max_difference = std::max(max_difference, std::abs(together[i] - single[i]));
    max_weight = std::max(max_weight, std::abs(single[i]));
  }
  fmt::print("rank 0: {} weights ({}), largest |w| {:.3f}; largest difference from 1 process with the global "
             "batch: {:.3g} (tolerance {:.3g})\n",
             together.size(), dtype_name(options.dtype), max_weight, max_difference, options.tolerance);
  if (size == 1 && weights_hash(model) != weights_hash(alone)) {
    fmt::print(stderr, "rank 0: FAILED: 1 process with DistributedOptimizer differs from plain SGD\n");
    return 1;
  }
  if (!(max_difference <= options.tolerance)) {
    fmt::print(stderr, "rank 0: FAILED: the difference {:.3g} exceeds the tolerance {:.3g}\n", max_difference,
               options.tolerance);
    return 1;
  }
  fmt::print("rank 0: check passed\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The environment outlives the try: a rank that fails reports it, then leaves after the others.
  const distributed::Environment environment;
  try {
    const Options options = parse(argc, argv);
    return options.mismatch ? run_mismatch(options) : run(options);
  } catch (const std::exception& e) {
    fmt::print(stderr, "rank {}: error: {}\n", distributed::rank(), e.what());
    distributed::report_failure(e.what());
    return 1;
  }
}
