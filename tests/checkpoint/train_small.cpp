// A small training run that a test starts as separate processes: train N epochs in one go, or stop
// after some epochs with a checkpoint and continue from it in a new process. The final weights go to
// a safetensors file that the test compares byte for byte.
//   train_small --optimizer sgd|adam --epochs N [--save CHECKPOINT] [--resume CHECKPOINT] --weights OUT

#include <tapegrad/data.hpp>
#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

using namespace tapegrad;

namespace {

// 60 random 6x6 images with labels that depend on them, from a fixed seed.
data::Dataset make_data() {
  constexpr int64_t n = 60, side = 6;
  data::IdxArray images, labels;
  images.dims = {n, side, side};
  labels.dims = {n};
  Generator generator(2024);
  for (int64_t i = 0; i < n; ++i) {
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

std::unique_ptr<optim::Optimizer> make_optimizer(std::string_view name) {
  if (name == "sgd") return std::make_unique<optim::SGD>(0.05, optim::SGDOptions{.momentum = 0.9});
  if (name == "adam") return std::make_unique<optim::Adam>(0.01);
  fail("train_small: unknown optimizer '{}'", name);
}

int run(int argc, char** argv) {
  std::string optimizer_name = "sgd", save_path, resume_path, weights_path;
  int64_t epochs = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--optimizer") optimizer_name = value;
    else if (flag == "--epochs") epochs = std::stoll(value);
    else if (flag == "--save") save_path = value;
    else if (flag == "--resume") resume_path = value;
    else if (flag == "--weights") weights_path = value;
    else fail("train_small: unknown flag '{}'", flag);
  }

  nn::set_seed(7);  // initial weights; a resumed run replaces them with the checkpoint's
  nn::Sequential model;
  model.add<nn::Conv2D>(4, 3);
  model.add<nn::ReLU>();
  model.add<nn::Flatten>();
  model.add<nn::Dense>(3);
  const std::unique_ptr<optim::Optimizer> optimizer = make_optimizer(optimizer_name);
  data::Dataset batches = make_data().shuffle(/*seed=*/11).batch(8);

  int64_t epoch = 0;
  if (!resume_path.empty()) {
    const Checkpoint checkpoint = Checkpoint::load(resume_path);
    model.load_named_weights(checkpoint.get("model"));  // the model is built on its first call
    optimizer->load_state(checkpoint.get("optimizer"));
    batches.load_state(checkpoint.get("batches"));
    epoch = std::stoll(checkpoint.metadata.at("epoch"));
  }
  for (; epoch < epochs; ++epoch) {
    double total = 0;
    for (const data::Batch& batch : batches) {
      std::vector<Tensor> gradients;
      std::vector<Variable> variables;
      {
        GradientTape tape;
        const Tensor loss = softmax_cross_entropy(model(batch.features), batch.labels);
        variables = model.trainable_variables();
        gradients = tape.gradient(loss, variables);
        total += loss.item();
      }
      optimizer->apply_gradients(gradients, variables);
    }
    std::printf("epoch %lld loss %.9g\n", static_cast<long long>(epoch + 1), total);
    if (!save_path.empty()) {
      Checkpoint checkpoint;
      checkpoint.set("model", model.named_weights());
      checkpoint.set("optimizer", optimizer->state());
      checkpoint.set("batches", batches.state());
      checkpoint.metadata["epoch"] = std::to_string(epoch + 1);
      checkpoint.metadata["optimizer"] = optimizer->name();
      checkpoint.save(save_path);
    }
  }
  if (!weights_path.empty()) model.save_weights(weights_path);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const Error& error) {
    std::fprintf(stderr, "train_small: %s\n", error.what());
    return 1;
  }
}
