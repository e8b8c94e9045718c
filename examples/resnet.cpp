// The book's residual network (ResNet chapter), at Fashion-MNIST's 28x28 and with fewer channels, so
// that an epoch takes minutes on a small machine. The book's residual block, in its TensorFlow:
//
//   class Residual(tf.keras.Model):
//       def __init__(self, num_channels, use_1x1conv=False, strides=1):
//           self.conv1 = Conv2D(num_channels, padding='same', kernel_size=3, strides=strides)
//           self.conv2 = Conv2D(num_channels, kernel_size=3, padding='same')
//           self.conv3 = Conv2D(num_channels, kernel_size=1, strides=strides) if use_1x1conv else None
//           self.bn1 = BatchNormalization(); self.bn2 = BatchNormalization()
//       def call(self, X):
//           Y = tf.keras.activations.relu(self.bn1(self.conv1(X)))
//           Y = self.bn2(self.conv2(Y))
//           if self.conv3 is not None: X = self.conv3(X)
//           Y += X
//           return tf.keras.activations.relu(Y)
//
// The network here: a 3x3 convolution of 16 channels with batch normalization and ReLU at 28x28
// (the book's ResNet-18 starts with a 7x7 convolution of stride 2 and max pooling, for 224x224
// images), then three stages of two residual blocks of 16, 32 and 64 channels (the first block of
// the second and third stages halves the image with strides 2 and has the 1x1 convolution on its
// shortcut: 28x28, 14x14, 7x7), global average pooling and Dense(10). Both the block and the
// network are user Modules that hold their layers as members: their variables are tracked without
// being listed, and named by their place, "resnet/block_1/conv2d/kernel". Trained with SGD,
// momentum 0.9, lr 0.1 at batch 128 decaying to 0 along a cosine over the run, 5 epochs: test
// accuracy 0.90 or more is expected (the example checks it on a full run).

#include <tapegrad/data.hpp>
#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>
#include "common/args.hpp"
#include "common/check.hpp"
#include "common/classifier.hpp"
#include "common/main.hpp"
#include "resnet_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

using namespace tapegrad;

namespace {

constexpr const char* kUsage =
    R"(usage: resnet [--epochs N] [--batch-size B] [--lr X] [--momentum M] [--width W] [--seed S]
              [--threads T] [--data DIR] [--limit N] [--test-limit N]
              [--csv FILE] [--plot FILE.svg] [--save FILE] [--progress bar|lines|none]
Trains a small ResNet (three stages of two residual blocks, W, 2W and 4W channels) on Fashion-MNIST
and checks that it learns: test accuracy >= 0.90 after 5 epochs on the full data.
  --epochs N       passes over the training images (default 5)
  --batch-size B   images per step (default 128)
  --lr X           the learning rate at the start, decaying to 0 along a cosine (default 0.1)
  --momentum M     SGD momentum in [0, 1) (default 0.9)
  --width W        channels of the first stage (default 16: 16, 32 and 64 channels)
  --seed S         seeds the initial weights and the shuffling (default 1)
)";

struct Options : examples::ClassifierOptions {
  double momentum = 0.9;
  int64_t width = 16;

  Options() {
    epochs = 5;
    batch_size = 128;
    lr = 0.1;
  }
  // The settings at which test accuracy 0.90 is expected after 5 epochs.
  bool full_run(int64_t train_size, int64_t test_size) const {
    return train_size == 60000 && test_size == 10000 && epochs >= 5 && batch_size == 128 && lr == 0.1 &&
           momentum == 0.9 && width == 16;
  }
};

constexpr double kTargetAccuracy = 0.90;

Options parse_options(int argc, char** argv) {
  using examples::parse;
  using examples::require;
  Options options;
  examples::Args args(argc, argv);
  while (args.more()) {
    const std::string_view flag = args.flag();
    if (examples::parse_classifier_flag(options, args, flag)) continue;
    if (flag == "--momentum") {
      options.momentum = parse<double>(flag, args.value());
      require(options.momentum >= 0 && options.momentum < 1, "--momentum must be in [0, 1), got {}", options.momentum);
    } else if (flag == "--width") {
      options.width = parse<int64_t>(flag, args.value());
      require(options.width >= 1, "--width must be at least 1, got {}", options.width);
    } else {
      require(false, "unknown flag '{}'", flag);
    }
  }
  return options;
}

using examples::ResNet;

// The variables are tracked without being listed, with nested names; the moving statistics of
// every BatchNormalization (1 in the stem, 2 per block) are non-trainable.
void check_variables(const ResNet& net) {
  std::set<std::string> names;
  for (const auto& [name, variable] : net.named_variables()) {
    examples::check(name.starts_with("resnet/"), "variable {} is not named under resnet/", name);
    names.insert(name);
  }
  for (const char* name :
       {"resnet/stem_conv2d/kernel", "resnet/block_1/conv2d/kernel", "resnet/block_3/conv2d_6/kernel",
        "resnet/block_6/batch_normalization_11/moving_variance", "resnet/dense/kernel"}) {
    examples::check(names.contains(name), "no variable {} among the model's {}", name, names.size());
  }
  const int64_t batch_norms = 1 + 2 * static_cast<int64_t>(net.blocks().size());
  const std::vector<Variable> non_trainable = net.non_trainable_variables();
  examples::check(static_cast<int64_t>(non_trainable.size()) == 2 * batch_norms,
                  "{} non-trainable variables, expected the moving mean and variance of {} BatchNormalization layers",
                  non_trainable.size(), batch_norms);
  for (const Variable& variable : non_trainable) {
    examples::check(variable.name().ends_with("/moving_mean") || variable.name().ends_with("/moving_variance"),
                    "non-trainable variable {} is not a moving statistic", variable.name());
  }
  examples::check(net.trainable_variables().size() + non_trainable.size() == names.size(),
                  "{} trainable and {} non-trainable variables, {} named", net.trainable_variables().size(),
                  non_trainable.size(), names.size());
  fmt::print("check: {} variables tracked with nested names (resnet/block_1/conv2d/kernel, ...), {} of them the "
             "moving statistics of {} BatchNormalization layers\n",
             names.size(), non_trainable.size(), batch_norms);
}

// In inference an image's logits do not depend on the other images of its batch (the moving
// statistics normalize); in training they do (the batch's statistics). The training-mode calls
// update the moving statistics, so they run on `scratch`, a copy of the model (read back from the
// checkpoint, or a new one), never on the trained one.
void check_modes(nn::Module& net, nn::Module& scratch, const Tensor& images) {
  const StopRecording no_recording;
  const int64_t n = images.shape()[0];
  examples::check(n >= 4, "need at least 4 test images, got {}", n);
  const Tensor first = slice(images, {{0, 1}}), half = slice(images, {{0, n / 2}});
  const double inference = examples::max_abs_difference(net(first, false), slice(net(half, false), {{0, 1}}));
  examples::check(inference < 1e-4,
                  "in inference, the first image's logits alone and in a batch of {} differ by {} (the moving "
                  "statistics should normalize, whatever the batch)",
                  n / 2, inference);
  const double training =
      examples::max_abs_difference(slice(scratch(images, true), {{0, 1}}), slice(scratch(half, true), {{0, 1}}));
  examples::check(training > 1e-3,
                  "in training, the first image's logits in batches of {} and {} differ by only {} (the batch's "
                  "statistics should normalize)",
                  n, n / 2, training);
  fmt::print("check: in inference an image's logits do not depend on its batch (difference {:.1e}); in training "
             "they do ({:.3f})\n",
             inference, training);
}

int run(const Options& options, const examples::DataParallel& parallel) {
  examples::FashionMnist fashion = examples::load_fashion_mnist(options);
  nn::reset_names();
  const auto make_model = [&] { return std::make_unique<ResNet>(options.width); };
  std::unique_ptr<ResNet> net = make_model();
  {
    const StopRecording no_recording;
    (*net)(zeros({1, 28, 28, 1}));  // builds the layers, so that the summary shows their shapes
  }
  fmt::print("{}", net->summary());
  check_variables(*net);

  tapegrad::data::Dataset batches = fashion.train.batch(options.batch_size);
  const double steps = static_cast<double>(options.epochs * batches.cardinality());
  optim::SGD optimizer(optim::CosineDecay(options.lr, steps), {.momentum = options.momentum});
  fmt::print("ResNet (widths {}, {}, {}): SGD lr {} cosine-decayed to 0 over {} steps, momentum {}, batch {}, {} "
             "epochs, seed {}, {} threads\n",
             options.width, 2 * options.width, 4 * options.width, options.lr, steps, options.momentum,
             options.batch_size, options.epochs, options.seed, num_threads());
  const bool full = options.full_run(fashion.train.num_examples(), fashion.test.num_examples());
  const examples::ChartText chart{
      .title = fmt::format("ResNet ({}-{}-{} channels): {} training images, batch {}, SGD lr {} (cosine) momentum {}",
                           options.width, 2 * options.width, 4 * options.width, fashion.train.num_examples(),
                           options.batch_size, options.lr, options.momentum),
      .test_target = kTargetAccuracy,
      .target_note = "after 5 epochs"};
  const examples::History history = examples::fit(*net, optimizer, fashion, options, chart, parallel);

  examples::check_learned(history, fashion.test.num_examples());
  const Tensor images = examples::first_images(fashion.test, 16);
  std::unique_ptr<nn::Module> scratch;
  if (!options.save.empty()) {
    scratch = examples::check_checkpoint(options.save, *net, make_model, images);
  } else {
    nn::reset_names();
    scratch = make_model();
  }
  check_modes(*net, *scratch, images);
  examples::check_test_accuracy_target(full, "the ResNet", history.epochs.back(), kTargetAccuracy, options.epochs,
                                       "the default flags, 5 epochs");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage = std::string(kUsage) + examples::kClassifierFlags;
  return examples::training_main("resnet", usage, argc, argv, parse_options, run);
}
