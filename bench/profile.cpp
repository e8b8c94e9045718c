// Issue 17's profile: where one training step of each example model goes, layer by layer. Each
// iteration is one step on the next batch of the 60,000 training images (of the model's batch size, as
// its example trains), run one layer at a time: every layer under a tape of its own (watching its
// input and its variables), its output handed on detached, then the backward pass layer by layer from
// the loss down (each tape's gradient with the upstream gradient as its seed), then the optimizer's
// update. A layer below which no layer has variables (the dropout MLP's first Dense, after Flatten) is
// asked for no input gradient, as the example's own step computes none. The same iteration also times
// the example's own training step whole (one tape) on the same batch, so the table shows what the
// split costs. Counters per row, medians over the steps (a benchmark of one repetition): forward and
// backward seconds on the wall clock and on the process's CPU clock, their FLOPs (convolutions and
// dense layers with their biases: read against the FMA peak) and the bytes they must move at least
// (activations, pooling, the loss, the update, the batch's conversion from bytes: read against the
// copy bandwidth); the label names the rows. bench/report.py prints the table.
//
// A model is an entry of `models()`: its name, its layers (from the example's own header), its
// optimizer and its batch; the table covers every entry. ResNet's rows are its stem's layers, its six
// residual blocks (each a row: two convolutions, two batch normalizations, the shortcut) and its head.

#include <tapegrad/data.hpp>
#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>
#include "bench/training_data.hpp"
#include "examples/batchnorm_lenet_model.hpp"
#include "examples/dropout_mlp_model.hpp"
#include "examples/lenet/lenet_model.hpp"
#include "examples/resnet_model.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace tapegrad;
using Clock = std::chrono::steady_clock;

constexpr int64_t kSteps = 40;  // per thread count; the table gives each row's median step

// An example model as the profile runs it.
struct ExampleModel {
  const char* name;                                                   // the table's name for it
  std::function<void(nn::Sequential&)> add_layers;                    // the example's own layers
  std::function<std::unique_ptr<optim::Optimizer>()> make_optimizer;  // as the example trains it
  int64_t batch;                                                      // as the example trains it
  int64_t steps = kSteps;                                             // per thread count
};

const std::vector<ExampleModel>& models() {
  static const std::vector<ExampleModel> list = {
      {"lenet", [](nn::Sequential& net) { examples::add_lenet_layers(net, examples::LeNetVariant::book); },
       [] { return std::make_unique<optim::SGD>(0.9); }, 256},
      {"batchnorm_lenet", [](nn::Sequential& net) { examples::add_batchnorm_lenet_layers(net); },
       [] { return std::make_unique<optim::SGD>(1.0); }, 256},
      {"dropout_mlp", [](nn::Sequential& net) { examples::add_dropout_mlp_layers(net); },
       [] { return std::make_unique<optim::SGD>(0.5); }, 256},
      // bench/resnet.cpp's settings (widths 16-32-64, batch 128); a step takes a fifth of a second.
      {"resnet", [](nn::Sequential& net) { examples::add_resnet_layers(net, 16); },
       [] { return std::make_unique<optim::SGD>(0.05, optim::SGDOptions{.momentum = 0.9}); }, 128, 12},
  };
  return list;
}

// The work one row of the table does per step: FLOPs, or the bytes it reads and writes at least.
struct Work {
  double forward_flops = 0, backward_flops = 0;
  double forward_bytes = 0, backward_bytes = 0;
};

// A layer's work for input `in` and output `out`; `input_gradient`: its backward computes d(input).
Work layer_work(const nn::Module& layer, const Shape& in, const Shape& out, bool input_gradient, DType dtype) {
  const auto n_in = static_cast<double>(in.numel()), n_out = static_cast<double>(out.numel());
  const auto size = static_cast<double>(dtype_size(dtype));
  const std::string type = layer.class_name();
  Work work;
  if (type == "Conv2D" || type == "Dense") {
    // A product: 2 FLOPs per multiply-add of the forward, as many for each gradient; the bias is one
    // addition per output forward and one per output in its gradient's sum.
    const auto& kernel = type == "Conv2D" ? static_cast<const nn::Conv2D&>(layer).kernel()
                                          : static_cast<const nn::Dense&>(layer).kernel();
    const Shape& k = kernel.shape();
    const double per_output = static_cast<double>(k.numel() / k[-1]);  // taps x input channels, or inputs
    const double products = 2 * n_out * per_output;
    const bool bias = layer.trainable_variables().size() > 1;
    work.forward_flops = products + (bias ? n_out : 0);
    work.backward_flops = products * (input_gradient ? 2 : 1) + (bias ? n_out : 0);
  } else if (type == "residual") {
    // examples/resnet_model.hpp's block: each of its convolutions (two 3x3, the 1x1 shortcut) outputs
    // at the block's resolution, so it does the output's positions times its kernel's multiply-adds;
    // the batch normalizations, the ReLUs and the sum move bytes, and are left out of the FLOPs. Every
    // block sits above the stem's variables, so each convolution also computes its input's gradient.
    const double positions = n_out / static_cast<double>(out[-1]);
    for (const nn::Module* sub : layer.submodules()) {
      if (sub->class_name() != "Conv2D") continue;
      const auto& conv = static_cast<const nn::Conv2D&>(*sub);
      const double products = 2 * positions * static_cast<double>(conv.kernel().shape().numel());
      const double bias = conv.trainable_variables().size() > 1 ? n_out : 0;
      work.forward_flops += products + bias;
      work.backward_flops += 2 * products + bias;
    }
  } else if (type == "Flatten") {
    // A reshape: no element moves.
  } else if (type == "Sigmoid" || type == "ReLU" || type == "Tanh") {
    work.forward_bytes = (n_in + n_out) * size;  // x in, y out
    work.backward_bytes = 3 * n_out * size;      // dy and y (x) in, dx out
  } else if (type == "BatchNormalization") {
    work.forward_bytes = (n_in + n_out) * size;  // x in, y out (the statistics' pass reads x again)
    work.backward_bytes = 3 * n_out * size;      // dy and x in, dx out
  } else if (type == "Dropout") {
    work.forward_bytes = (n_in + 2 * n_out) * size;  // x in, y and the mask out
    work.backward_bytes = 3 * n_out * size;          // dy and the mask in, dx out
  } else if (type == "MaxPool2D") {
    work.forward_bytes = (n_in + n_out) * size;
    work.backward_bytes = (n_out + 2 * n_in) * size;  // dy and x in, dx out
  } else {
    work.forward_bytes = (n_in + n_out) * size;
    work.backward_bytes = (n_out + n_in) * size;  // dy in, dx out
  }
  return work;
}

// A point in time on the wall clock and on the process's CPU clock (all its threads).
struct Stamp {
  Clock::time_point wall;
  timespec cpu;
};

Stamp now() {
  Stamp stamp{Clock::now(), {}};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &stamp.cpu);
  return stamp;
}

// Wall and CPU seconds of one part of one step.
struct Times {
  std::vector<double> wall, cpu;
  void add(const Stamp& start) {
    const Stamp end = now();
    wall.push_back(std::chrono::duration<double>(end.wall - start.wall).count());
    cpu.push_back(static_cast<double>(end.cpu.tv_sec - start.cpu.tv_sec) +
                  1e-9 * static_cast<double>(end.cpu.tv_nsec - start.cpu.tv_nsec));
  }
};

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  const auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), middle, values.end());
  return *middle;
}

// One row of the table while it is measured.
struct Row {
  std::string name;
  Work work;
  Times forward, backward;
};

void profile_step(benchmark::State& state, const ExampleModel& model) {
  const int threads = static_cast<int>(state.range(0));
  const int threads_before = num_threads();
  set_num_threads(threads);
  const bench::TrainingData& data = bench::training_data();

  nn::set_seed(1);
  nn::Sequential net;
  model.add_layers(net);
  {
    const StopRecording no_recording;
    net(zeros({1, 28, 28, 1}));  // builds the layers
  }
  const std::vector<Variable> variables = net.trainable_variables();
  const std::unique_ptr<optim::Optimizer> optimizer = model.make_optimizer();
  data::Dataset batches = data.dataset.shuffle(1).batch(model.batch, /*drop_remainder=*/true);

  const size_t layers = net.size();
  std::vector<std::vector<Variable>> layer_variables(layers);
  for (size_t i = 0; i < layers; ++i) layer_variables[i] = net.layer(i).trainable_variables();
  // Layer i's backward computes d(input) only when a layer below it has variables to update.
  std::vector<char> input_gradient(layers, 0);
  for (size_t i = 1; i < layers; ++i) input_gradient[i] = input_gradient[i - 1] || !layer_variables[i - 1].empty();

  // Rows: the batch's conversion, each layer, the loss, the update.
  std::vector<Row> rows(layers + 3);
  rows[0].name = "batch (bytes to float)";
  rows[layers + 1].name = "loss (softmax_cross_entropy)";
  rows[layers + 2].name = "update";
  Times whole_step;
  std::vector<double> fresh_bytes;
  bool costed = false;

  std::vector<std::unique_ptr<GradientTape>> tapes(layers + 1);
  std::vector<Tensor> inputs(layers + 1), outputs(layers);
  std::vector<Tensor> gradients(variables.size());
  for (auto _ : state) {
    Stamp start = now();
    std::optional<data::Batch> batch = batches.next();
    if (!batch) batch = batches.next();  // the next epoch
    rows[0].forward.add(start);

    // Forward, one tape per layer, each layer's output passed on detached.
    inputs[0] = batch->features;
    for (size_t i = 0; i < layers; ++i) {
      tapes[i] = std::make_unique<GradientTape>(TapeOptions{.watch_accessed_variables = false});
      if (input_gradient[i]) tapes[i]->watch(inputs[i]);
      for (const Variable& v : layer_variables[i]) tapes[i]->watch(v);
      start = now();
      outputs[i] = net.layer(i)(inputs[i], /*training=*/true);
      rows[i + 1].forward.add(start);
      inputs[i + 1] = stop_gradient(outputs[i]);
    }
    tapes[layers] = std::make_unique<GradientTape>(TapeOptions{.watch_accessed_variables = false});
    tapes[layers]->watch(inputs[layers]);
    start = now();
    const Tensor loss = softmax_cross_entropy(inputs[layers], batch->labels);
    rows[layers + 1].forward.add(start);

    // Backward, from the loss down; each tape is freed after its gradient, as a step frees its tape.
    start = now();
    Tensor upstream = tapes[layers]->gradient(loss, inputs[layers]);
    tapes[layers].reset();
    rows[layers + 1].backward.add(start);
    size_t next_gradient = variables.size();
    for (size_t i = layers; i-- > 0;) {
      std::vector<Source> sources;
      if (input_gradient[i]) sources.emplace_back(inputs[i]);
      for (const Variable& v : layer_variables[i]) sources.emplace_back(v);
      if (sources.empty()) {  // below the last layer with variables: nothing to compute
        tapes[i].reset();
        continue;
      }
      GradientOptions seed;
      seed.output_gradients = upstream;
      start = now();
      std::vector<Tensor> grads = tapes[i]->gradient(outputs[i], sources, seed);
      tapes[i].reset();
      rows[i + 1].backward.add(start);
      const size_t first = input_gradient[i] ? 1 : 0;
      next_gradient -= layer_variables[i].size();
      for (size_t k = first; k < grads.size(); ++k) gradients[next_gradient + k - first] = std::move(grads[k]);
      upstream = input_gradient[i] ? std::move(grads[0]) : Tensor{};
    }
    start = now();
    optimizer->apply_gradients(gradients, variables);
    rows[layers + 2].forward.add(start);

    if (!costed) {
      const DType dtype = inputs[0].dtype();
      const auto size = static_cast<double>(dtype_size(dtype));
      for (size_t i = 0; i < layers; ++i) {
        const nn::Module& layer = net.layer(i);
        rows[i + 1].name = fmt::format("{:2} {} -> {}", i + 1, layer.class_name(), outputs[i].shape());
        rows[i + 1].work = layer_work(layer, inputs[i].shape(), outputs[i].shape(), input_gradient[i] != 0, dtype);
      }
      const auto pixels = static_cast<double>(inputs[0].numel());
      rows[0].work.forward_bytes = pixels * (1 + size);  // bytes in, floats out
      const auto logits = static_cast<double>(inputs[layers].numel());
      rows[layers + 1].work.forward_bytes = logits * size;       // logits in (and a scalar out)
      rows[layers + 1].work.backward_bytes = 2 * logits * size;  // softmax recomputed, d(logits) out
      double parameters = 0;
      for (const Variable& v : variables) parameters += static_cast<double>(v.shape().numel());
      rows[layers + 2].work.forward_bytes = 3 * parameters * size;  // weight and gradient in, weight out
      costed = true;
    }

    // The example's own step, whole, on the same batch; and the memory it takes fresh from the system.
    const size_t fresh_before = allocator_stats().fresh;
    start = now();
    const examples::TrainStep step = examples::train_step(net, *optimizer, variables, batch->features, batch->labels);
    whole_step.add(start);
    fresh_bytes.push_back(static_cast<double>(allocator_stats().fresh - fresh_before));
    benchmark::DoNotOptimize(step.loss.item());
  }

  // Medians over the steps, per row: a slow spell of the shared host falls on a few steps.
  std::string names;
  double flops = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const Row& row = rows[r];
    names += (r > 0 ? ";" : "") + row.name;
    const std::string key = fmt::format("{:02}", r);
    state.counters["fwd_s_" + key] = median(row.forward.wall);
    state.counters["bwd_s_" + key] = median(row.backward.wall);
    state.counters["fwd_cpu_s_" + key] = median(row.forward.cpu);
    state.counters["bwd_cpu_s_" + key] = median(row.backward.cpu);
    state.counters["fwd_flop_" + key] = row.work.forward_flops;
    state.counters["bwd_flop_" + key] = row.work.backward_flops;
    state.counters["fwd_byte_" + key] = row.work.forward_bytes;
    state.counters["bwd_byte_" + key] = row.work.backward_bytes;
    flops += row.work.forward_flops + row.work.backward_flops;
  }
  state.counters["rows"] = static_cast<double>(rows.size());
  state.counters["step_s"] = median(whole_step.wall);
  state.counters["step_cpu_s"] = median(whole_step.cpu);
  state.counters["flop_per_example"] = flops / static_cast<double>(model.batch);
  // Past the first steps, what a step takes fresh beyond the caching allocator's reuse (about 0).
  state.counters["fresh_bytes_per_step"] = median(fresh_bytes);
  state.counters["fresh_bytes_max"] =
      fresh_bytes.size() > 2 ? *std::max_element(fresh_bytes.begin() + 2, fresh_bytes.end()) : -1;
  state.SetLabel(fmt::format("{}|{}|{}|batch {}|{}", model.name, threads, data.real ? "Fashion-MNIST" : "synthetic",
                             model.batch, names));
  set_num_threads(threads_before);
}

// One benchmark per model and thread count: profile/<model>/threads:<T>.
[[maybe_unused]] const bool registered = [] {
  for (const ExampleModel& model : models()) {
    benchmark::RegisterBenchmark(fmt::format("profile/{}", model.name).c_str(),
                                 [&model](benchmark::State& state) { profile_step(state, model); })
        ->ArgName("threads")
        ->Arg(1)
        ->Arg(2)
        ->Iterations(model.steps)
        ->Repetitions(1)  // even under ./dev bench's 9: the medians are over the steps
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  return true;
}();

}  // namespace
