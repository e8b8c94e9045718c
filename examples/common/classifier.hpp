#pragma once

// What the Fashion-MNIST examples after LeNet share (dropout_mlp, batchnorm_lenet, resnet): their
// common flags, the data, the book's training loop (train_ch6: minibatch SGD on the softmax
// cross-entropy, then the test accuracy, every epoch) with the model called in training mode and
// tested in inference mode, the CSV history, the SVG chart, the checkpoints, and the checks every
// run must pass. Each example writes its model and the checks of its own chapter.

#include <tapegrad/data.hpp>
#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>
#include "args.hpp"
#include "check.hpp"
#include "data_parallel.hpp"
#include "files.hpp"
#include "plot.hpp"
#include "progress.hpp"

#include <fmt/format.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace examples {

/// The flags the Fashion-MNIST examples share; each example sets its own defaults.
struct ClassifierOptions {
  int64_t epochs = 10;
  int64_t batch_size = 256;
  double lr = 0.1;
  uint64_t seed = 1;
  std::optional<int> threads{};
  std::string data = tapegrad::data::default_fashion_mnist_directory();
  std::optional<int64_t> limit{};
  std::optional<int64_t> test_limit{};
  std::string csv{};
  std::string plot{};
  std::string save{};
  std::optional<ProgressStyle> progress{};
  bool distributed = false;
  bool help = false;
};

/// The usage lines of the shared flags, after an example's own (which include --seed, whose default
/// differs).
inline constexpr const char* kClassifierFlags =
    R"(  --threads T      threads of the kernels (default: every core, or TAPEGRAD_NUM_THREADS)
  --data DIR       the Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist,
                   from Debian's dataset-fashion-mnist)
  --limit N        train on the first N training images only
  --test-limit N   test on the first N test images only
  --csv FILE       write the history: epoch, train loss, train accuracy, test accuracy, seconds
  --plot FILE.svg  draw the loss and accuracy curves as an SVG chart (redrawn after every epoch)
  --save FILE      after every epoch, save a checkpoint (safetensors): the weights (the moving
                   statistics too), the optimizer's state, the data order and the history; read
                   back into a new model at the end and checked to give the same outputs
  --progress P     bar: one line redrawn (default in a terminal); lines: a few lines per epoch
                   (default otherwise); none
  --distributed    data-parallel over the processes mpirun starts (mpirun -np 2 PROGRAM
                   --distributed): each trains on its shard of every batch, the gradients
                   averaged; rank 0 alone prints and writes files
)";

/// Reads `flag` (and its value) into `options` when it is one of the shared flags; false otherwise.
inline bool parse_classifier_flag(ClassifierOptions& options, Args& args, std::string_view flag) {
  if (flag == "--epochs" || flag == "--batch-size") {
    const int64_t value = parse<int64_t>(flag, args.value());
    require(value >= 1, "{} must be at least 1, got {}", flag, value);
    (flag == "--epochs" ? options.epochs : options.batch_size) = value;
  } else if (flag == "--lr") {
    options.lr = parse<double>(flag, args.value());
    require(options.lr > 0, "--lr must be positive, got {}", options.lr);
  } else if (flag == "--seed") {
    options.seed = parse<uint64_t>(flag, args.value());
  } else if (flag == "--threads") {
    options.threads = parse<int>(flag, args.value());
    require(*options.threads >= 1, "--threads must be at least 1, got {}", *options.threads);
  } else if (flag == "--data") {
    options.data = args.value();
    require(!options.data.empty(), "--data needs a directory");
  } else if (flag == "--limit" || flag == "--test-limit") {
    const int64_t limit = parse<int64_t>(flag, args.value());
    require(limit >= 1, "{} must be at least 1, got {}", flag, limit);
    (flag == "--limit" ? options.limit : options.test_limit) = limit;
  } else if (flag == "--csv" || flag == "--plot" || flag == "--save") {
    std::string& file = flag == "--csv" ? options.csv : flag == "--plot" ? options.plot : options.save;
    file = args.value();
    require(!file.empty(), "{} needs a file name", flag);
  } else if (flag == "--progress") {
    options.progress = parse_progress_style(flag, args.value());
  } else if (flag == "--distributed") {
    options.distributed = true;
  } else if (flag == "--help") {
    options.help = true;
  } else {
    return false;
  }
  return true;
}

/// Fashion-MNIST's training and test splits, as the flags ask.
struct FashionMnist {
  tapegrad::data::Dataset train;
  tapegrad::data::Dataset test;
};

/// Loads Fashion-MNIST from `--data` (the first `--limit` and `--test-limit` images), and sets the
/// threads and the seed of the layers' initial weights.
inline FashionMnist load_fashion_mnist(const ClassifierOptions& options) {
  namespace data = tapegrad::data;
  if (options.threads) tapegrad::set_num_threads(*options.threads);
  tapegrad::nn::set_seed(options.seed);
  if (!std::filesystem::is_directory(options.data)) {
    throw std::runtime_error(
        fmt::format("no data directory {}: install Debian's dataset-fashion-mnist (apt install dataset-fashion-mnist) "
                    "or give the IDX files' directory with --data DIR",
                    options.data));
  }
  FashionMnist fashion{data::load_fashion_mnist(options.data, data::Split::train),
                       data::load_fashion_mnist(options.data, data::Split::test)};
  if (options.limit) fashion.train = fashion.train.take(*options.limit);
  if (options.test_limit) fashion.test = fashion.test.take(*options.test_limit);
  fmt::print("Fashion-MNIST files in {}: {} training images, {} test images\n", options.data,
             fashion.train.num_examples(), fashion.test.num_examples());
  return fashion;
}

/// What one epoch measured.
struct EpochResult {
  int64_t epoch = 0;
  double train_loss = 0;      ///< mean over the epoch's examples, each batch's loss before its step
  double train_accuracy = 0;  ///< likewise, in training mode (dropout on, the batch's statistics)
  double test_accuracy = 0;   ///< in inference mode, after the epoch
  double seconds = 0;         ///< training and testing
};

/// Everything a run measured: one result per epoch, and every batch's loss.
struct History {
  std::vector<EpochResult> epochs{};
  std::vector<double> batch_epoch{};  ///< x of each batch: epochs done, fractional
  std::vector<double> batch_loss{};
  double first_loss = NAN;  ///< the first batch's loss, before any step
};

/// What the chart shows besides the history.
struct ChartText {
  std::string title{};                   ///< above both charts
  std::optional<double> train_target{};  ///< a dashed line: the train accuracy expected
  std::optional<double> test_target{};   ///< a dashed line: the test accuracy expected
  std::string target_note{};             ///< "after 10 epochs"
};

/// The loss and accuracy curves, as a chart a browser opens.
inline std::string history_svg(const History& history, const ClassifierOptions& options, const ChartText& text) {
  const double epochs = static_cast<double>(options.epochs);
  Chart loss{.title = "loss", .x_label = "epoch", .y_label = "softmax cross-entropy"};
  loss.x_min = 0;
  loss.x_max = epochs;
  loss.y_min = 0;
  loss.y_max = 3.0;  // above ln 10 = 2.30, where training starts; a single batch's spike runs off the top
  for (const EpochResult& result : history.epochs) {
    if (std::isfinite(result.train_loss)) loss.y_max = std::max(*loss.y_max, result.train_loss);
  }
  loss.series.push_back({.name = "train loss (each batch)",
                         .x = history.batch_epoch,
                         .y = history.batch_loss,
                         .color = "#9ecae1",
                         .width = 1.0,
                         .markers = false});
  Chart accuracy{.title = "accuracy", .x_label = "epoch", .y_label = "share classified right"};
  accuracy.x_min = 0;
  accuracy.x_max = epochs;
  accuracy.y_min = 0;
  accuracy.y_max = 1;
  Series epoch_loss{.name = "train loss (epoch mean)", .color = "#1f77b4"};
  Series train_accuracy{.name = "train accuracy", .color = "#1f77b4"};
  Series test_accuracy{.name = "test accuracy", .color = "#ff7f0e"};
  for (const EpochResult& result : history.epochs) {
    const double x = static_cast<double>(result.epoch);
    epoch_loss.x.push_back(x);
    epoch_loss.y.push_back(result.train_loss);
    train_accuracy.x.push_back(x);
    train_accuracy.y.push_back(result.train_accuracy);
    test_accuracy.x.push_back(x);
    test_accuracy.y.push_back(result.test_accuracy);
  }
  loss.series.push_back(epoch_loss);
  accuracy.series.push_back(train_accuracy);
  accuracy.series.push_back(test_accuracy);
  const auto target_line = [&](std::string_view what, std::optional<double> target, const char* color) {
    if (!target) return;
    accuracy.series.push_back({.name = fmt::format("{} expected {}: {}", what, text.target_note, *target),
                               .x = {0, epochs},
                               .y = {*target, *target},
                               .color = color,
                               .width = 1.5,
                               .markers = false,
                               .dashed = true});
  };
  target_line("train", text.train_target, "#6baed6");
  target_line("test", text.test_target, "#888888");
  return to_svg({loss, accuracy}, text.title);
}

/// "epoch 3: train loss 0.512, ..."
inline void print_epoch(const EpochResult& result) {
  fmt::print("epoch {}: train loss {:.3f}, train acc {:.3f}, test acc {:.3f}, {:.1f} s\n", result.epoch,
             result.train_loss, result.train_accuracy, result.test_accuracy, result.seconds);
}

/// The history as named float64 tensors, for a checkpoint.
inline tapegrad::NamedTensors history_tensors(const History& history) {
  const auto doubles = [](const std::vector<double>& values) {
    return tapegrad::Tensor(values, tapegrad::Shape{static_cast<int64_t>(values.size())}, tapegrad::DType::float64);
  };
  std::vector<double> loss, train_accuracy, test_accuracy, seconds;
  for (const EpochResult& result : history.epochs) {
    loss.push_back(result.train_loss);
    train_accuracy.push_back(result.train_accuracy);
    test_accuracy.push_back(result.test_accuracy);
    seconds.push_back(result.seconds);
  }
  return {{"train_loss", doubles(loss)},
          {"train_accuracy", doubles(train_accuracy)},
          {"test_accuracy", doubles(test_accuracy)},
          {"seconds", doubles(seconds)},
          {"batch_epoch", doubles(history.batch_epoch)},
          {"batch_loss", doubles(history.batch_loss)}};
}

/// The share of `dataset` that `net` classifies right, in inference mode (Dropout off,
/// BatchNormalization on its moving statistics), without recording.
inline double evaluate(tapegrad::nn::Module& net, const tapegrad::data::Dataset& dataset, int64_t batch_size) {
  const tapegrad::StopRecording no_recording;
  tapegrad::data::Dataset batches = dataset.batch(batch_size);
  tapegrad::nn::SparseCategoricalAccuracy accuracy("test_accuracy");
  for (const auto& [images, labels] : batches) accuracy.update_state(labels, net(images, /*training=*/false));
  return accuracy.result();
}

/// The process's peak resident memory so far, in MiB (getrusage counts KiB on Linux).
inline double peak_memory_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

/// The first `count` (or fewer) test images, for the checks.
inline tapegrad::Tensor first_images(const tapegrad::data::Dataset& test, int64_t count) {
  tapegrad::data::Dataset batches = test.batch(count);
  std::optional<tapegrad::data::Batch> first = batches.next();
  check(first.has_value(), "the test set is empty");
  return first->features;
}

/// The book's train_ch6: `options.epochs` passes over `fashion.train` in minibatches (shuffled
/// with the seed), each step the softmax cross-entropy of `net(images, training=true)` and
/// `optimizer`'s update of the trainable variables; after each epoch the test accuracy in
/// inference mode, a printed line, the CSV row, the chart and the checkpoint, as the flags ask.
/// Distributed (`parallel.active()`), each process trains on its shard of every global batch, from
/// rank 0's initial weights, the gradients averaged; the printed numbers are the global batch's.
inline History fit(tapegrad::nn::Module& net, tapegrad::optim::Optimizer& optimizer, FashionMnist& fashion,
                   const ClassifierOptions& options, const ChartText& chart, const DataParallel& parallel) {
  using Clock = std::chrono::steady_clock;
  namespace nn = tapegrad::nn;
  std::ofstream csv;
  if (!options.csv.empty()) {
    csv.open(options.csv, std::ios::trunc);
    csv << "epoch,train_loss,train_accuracy,test_accuracy,seconds\n" << std::flush;
    if (!csv) throw std::runtime_error(fmt::format("cannot write {}", options.csv));
  }
  History history;
  if (!options.plot.empty()) write_file(options.plot, history_svg(history, options, chart));
  const ProgressStyle style = options.progress.value_or(progress_style_for(stdout));
  tapegrad::data::Dataset batches = fashion.train.shuffle(options.seed).batch(options.batch_size);
  if (parallel.active()) {
    batches = batches.shard(parallel.size(), parallel.rank());
    {
      const tapegrad::StopRecording no_recording;
      net(first_images(fashion.train, 1));  // builds the model, so that rank 0's weights reach all
    }
    parallel.broadcast(net.weights());
    parallel.distribute(optimizer);
    // Each process's own dropout masks: a Dropout layer seeds its generator from the default one at
    // its first training call, so a seed per rank here (else every rank drew rank 0's masks).
    nn::set_seed(options.seed + 7919 * static_cast<uint64_t>(parallel.rank() + 1));
    fmt::print("data-parallel over {} processes\n", parallel.size());
  }
  nn::Mean train_loss("loss");
  nn::SparseCategoricalAccuracy train_accuracy("accuracy");
  for (int64_t epoch = 1; epoch <= options.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    ProgressBar progress(fmt::format("epoch {}/{}", epoch, options.epochs), batches.cardinality(), style);
    train_loss.reset_state();
    train_accuracy.reset_state();
    for (const tapegrad::data::Batch& batch : batches) {
      const auto& [images, labels] = batch;
      const auto examples = static_cast<double>(labels.numel());
      // This shard's share of the global batch's mean: with the gradients averaged over the
      // processes, the step is the global batch's (a factor of 1 in one process).
      const double share = examples * parallel.size() / static_cast<double>(batch.global_size);
      tapegrad::Tensor logits, loss;
      std::vector<tapegrad::Tensor> gradients;
      if (examples > 0) {
        tapegrad::GradientTape tape;
        logits = net(images, /*training=*/true);
        loss = tapegrad::softmax_cross_entropy(logits, labels);
        gradients = tape.gradient(share == 1 ? loss : loss * share, net.trainable_variables());
      } else {
        // An empty shard (a last global batch smaller than the processes): zero gradients, so that
        // this process still takes its part in the all-reduce and the step is the others'.
        for (const tapegrad::Variable& v : net.trainable_variables())
          gradients.push_back(tapegrad::zeros(v.shape(), v.dtype()));
      }
      optimizer.apply_gradients(gradients, net.trainable_variables());
      const double mine = examples > 0 ? loss.item() : 0.0;
      // The global batch's mean loss: each process's mean, weighted by its examples.
      const double batch_loss =
          parallel.active() ? parallel.sum({mine * examples})[0] / static_cast<double>(batch.global_size) : mine;
      if (std::isnan(history.first_loss)) history.first_loss = batch_loss;
      if (examples > 0) {
        train_loss.update_state(loss, examples);
        train_accuracy.update_state(labels, logits);
      }
      progress.update(batch.global_size, batch_loss);
      history.batch_epoch.push_back(static_cast<double>(epoch - 1) +
                                    static_cast<double>(batch.index + 1) / static_cast<double>(batches.cardinality()));
      history.batch_loss.push_back(batch_loss);
    }
    progress.finish();
    EpochResult result{.epoch = epoch, .train_loss = train_loss.result(), .train_accuracy = train_accuracy.result()};
    if (parallel.active()) {  // the metrics of all the processes' examples
      const std::vector<double> totals =
          parallel.sum({train_loss.total(), train_loss.count(), static_cast<double>(train_accuracy.correct()),
                        static_cast<double>(train_accuracy.count())});
      result.train_loss = totals[0] / totals[1];
      result.train_accuracy = totals[2] / totals[3];
    }
    result.test_accuracy = evaluate(net, fashion.test, options.batch_size);
    result.seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    history.epochs.push_back(result);
    print_epoch(result);
    std::fflush(stdout);
    if (csv.is_open()) {
      csv << fmt::format("{},{:.6f},{:.6f},{:.6f},{:.3f}\n", result.epoch, result.train_loss, result.train_accuracy,
                         result.test_accuracy, result.seconds)
          << std::flush;
      if (!csv) throw std::runtime_error(fmt::format("cannot write {}", options.csv));
    }
    if (!options.save.empty()) {
      tapegrad::Checkpoint checkpoint;
      checkpoint.set("model", net.named_weights());
      checkpoint.set("optimizer", optimizer.state());
      checkpoint.set("batches", batches.state());
      checkpoint.set("history", history_tensors(history));
      checkpoint.metadata = {{"epoch", std::to_string(epoch)}};
      checkpoint.save(options.save);
    }
    if (!options.plot.empty()) write_file(options.plot, history_svg(history, options, chart));
    check(std::isfinite(result.train_loss), "the training loss is {} in epoch {}: try a smaller --lr",
          result.train_loss, epoch);
  }
  const EpochResult& last = history.epochs.back();
  fmt::print("final: train loss {:.3f}, train acc {:.3f}, test acc {:.3f} after {} epoch{} on {} images "
             "(peak memory {:.0f} MiB)\n",
             last.train_loss, last.train_accuracy, last.test_accuracy, options.epochs, options.epochs == 1 ? "" : "s",
             batches.num_examples(), peak_memory_mib());
  if (!options.csv.empty()) fmt::print("history written to {}\n", options.csv);
  if (!options.plot.empty()) fmt::print("curves drawn in {}\n", options.plot);
  return history;
}

/// The chapter's expectation: on a full run (`full`: all of Fashion-MNIST at `settings`), checks
/// that `model` reached test accuracy `target` in its last epoch (of `epochs`), and says so; on a
/// smaller run, says that the expectation waits for a full one.
inline void check_test_accuracy_target(bool full, std::string_view model, const EpochResult& last, double target,
                                       int64_t epochs, std::string_view settings) {
  if (!full) {
    fmt::print("(the expectation, test accuracy >= {}, is checked on a full run: all of Fashion-MNIST, {})\n", target,
               settings);
    return;
  }
  check(last.test_accuracy >= target, "{} should reach test accuracy {} after {} epochs, got {:.3f}", model, target,
        epochs, last.test_accuracy);
  fmt::print("check: test accuracy {:.3f} >= {} after {} epochs\n", last.test_accuracy, target, epochs);
}

/// What every run must show: the loss fell below where it started, and test accuracy beats
/// guessing (0.1 for ten classes) by more than three standard errors of a guesser's accuracy on
/// that many test images.
inline void check_learned(const History& history, int64_t test_size) {
  const EpochResult& last = history.epochs.back();
  check(std::isfinite(last.train_loss) && last.train_loss < history.first_loss,
        "the loss did not fall: {:.4f} on the first batch, {:.4f} over epoch {}", history.first_loss, last.train_loss,
        last.epoch);
  fmt::print("check: the loss fell from {:.3f} (first batch) to {:.3f} (epoch {})\n", history.first_loss,
             last.train_loss, last.epoch);
  const double chance = 0.1 + 3 * std::sqrt(0.1 * 0.9 / static_cast<double>(test_size));
  check(last.test_accuracy > chance,
        "test accuracy {:.3f} is not above chance: a guesser gets 0.1, and up to {:.3f} on {} test images",
        last.test_accuracy, chance, test_size);
  fmt::print("check: test accuracy {:.3f} beats chance (0.1; {:.3f} allowing for {} test images)\n", last.test_accuracy,
             chance, test_size);
}

/// The largest |a - b| over two tensors of one shape.
inline double max_abs_difference(const tapegrad::Tensor& a, const tapegrad::Tensor& b) {
  check(a.shape() == b.shape(), "shapes {} and {} differ", a.shape(), b.shape());
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}

/// Reads the checkpoint `path` back into a new model from `make_model` (made after
/// nn::reset_names(), as the trained one was, so that their variables have the same names) and
/// checks that it gives exactly the trained model's outputs on `images` in inference mode: the
/// weights and the moving statistics were all saved. Returns the new model.
inline std::unique_ptr<tapegrad::nn::Module> check_checkpoint(
    const std::string& path, tapegrad::nn::Module& trained,
    const std::function<std::unique_ptr<tapegrad::nn::Module>()>& make_model, const tapegrad::Tensor& images) {
  const tapegrad::StopRecording no_recording;
  const tapegrad::Checkpoint checkpoint = tapegrad::Checkpoint::load(path);
  tapegrad::nn::reset_names();
  std::unique_ptr<tapegrad::nn::Module> restored = make_model();
  restored->load_named_weights(checkpoint.get("model"));
  const tapegrad::Tensor want = trained(images, false), got = (*restored)(images, false);
  const double difference = max_abs_difference(got, want);
  check(difference == 0, "{} read into a new model gives other outputs than the trained model: they differ by up to {}",
        path, difference);
  fmt::print("check: {} (epoch {}, {} tensors) read into a new model gives the trained model's outputs\n", path,
             checkpoint.metadata.at("epoch"), checkpoint.get("model").size());
  return restored;
}

}  // namespace examples
