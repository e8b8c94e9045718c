// Long runs stay flat: thousands of small training steps (an MLP with SGD and momentum, a tape per
// step) and neither resident memory nor the allocator's cached bytes keep growing after warm-up.

#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>
#include "tests/skip.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <unistd.h>

#include <cstdio>
#include <vector>

using namespace tapegrad;

namespace {

constexpr int kWarmup = 1000;  // steps before the first measurement
constexpr int kSteps = 5000;   // steps in all

// Resident memory of this process, in bytes (/proc/self/statm's second field).
int64_t resident_bytes() {
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  REQUIRE(statm != nullptr);
  long pages = 0, resident = 0;
  REQUIRE(std::fscanf(statm, "%ld %ld", &pages, &resident) == 2);
  std::fclose(statm);
  return static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE);
}

// What one measurement saw.
struct Sample {
  int64_t resident;
  AllocatorStats allocator;
};

// Trains a small MLP for kSteps steps and samples memory after the warm-up and at the end.
std::vector<Sample> train() {
  nn::Sequential model;
  model.add<nn::Dense>(32, nn::DenseOptions{.seed = 1});
  model.add<nn::ReLU>();
  model.add<nn::Dense>(10, nn::DenseOptions{.seed = 2});
  optim::SGD sgd(0.05, {.momentum = 0.9});
  Generator generator(3);
  const Tensor images = random_uniform({16, 20}, generator);
  const Tensor labels = argmax(random_uniform({16, 10}, generator));
  std::vector<Sample> samples;
  double first_loss = 0, loss = 0;
  for (int step = 1; step <= kSteps; ++step) {
    GradientTape tape;
    const Tensor batch_loss = softmax_cross_entropy(model(images), labels);
    const std::vector<Variable> variables = model.trainable_variables();
    sgd.apply_gradients(tape.gradient(batch_loss, variables), variables);
    loss = batch_loss.item();
    if (step == 1) first_loss = loss;
    if (step == kWarmup || step == kSteps) samples.push_back({resident_bytes(), allocator_stats()});
  }
  CHECK(loss < first_loss);  // it trains: the loop is not idle
  return samples;
}

}  // namespace

TEST_CASE("long run: the allocator's cached and fresh bytes stop growing after warm-up") {
  const std::vector<Sample> s = train();
  REQUIRE(s.size() == 2);
  MESSAGE(fmt::format("after {} steps: in use {} B, cached {} B, fresh {} B; after {}: in use {} B, cached {} B, "
                      "fresh {} B",
                      kWarmup, s[0].allocator.in_use, s[0].allocator.cached, s[0].allocator.fresh, kSteps,
                      s[1].allocator.in_use, s[1].allocator.cached, s[1].allocator.fresh));
  // Every block a step needs comes from the cache once the first steps have made them.
  CHECK(s[1].allocator.fresh == s[0].allocator.fresh);
  CHECK(s[1].allocator.cached <= s[0].allocator.cached);
  CHECK(s[1].allocator.in_use <= s[0].allocator.in_use);
}

TEST_CASE("long run: resident memory stops growing after warm-up" * doctest::skip()) {
#if defined(__SANITIZE_ADDRESS__)
  testing::skip("AddressSanitizer's quarantine holds freed memory: resident size says nothing here");
  return;
#endif
  const std::vector<Sample> s = train();
  REQUIRE(s.size() == 2);
  const int64_t growth = s[1].resident - s[0].resident;
  MESSAGE(fmt::format("resident after {} steps: {} KiB; after {}: {} KiB ({:+} KiB)", kWarmup, s[0].resident / 1024,
                      kSteps, s[1].resident / 1024, growth / 1024));
  // A leak of 32 bytes a step would show as 128 KiB over the 4000 steps measured.
  CHECK(growth < 128 * 1024);
}
