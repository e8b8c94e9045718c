#include <tapegrad/optim/schedules.hpp>

#include <tapegrad/autograd/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace tapegrad::optim {

namespace {

// A learning rate or a decay rate given to schedule `schedule` as `what`: finite and >= 0.
void check_rate(const char* schedule, const char* what, double value) {
  if (!(std::isfinite(value) && value >= 0.0)) {
    fail("{}: {} must be a finite number >= 0, got {}", schedule, what, value);
  }
}

void check_steps(const char* schedule, const char* what, double value, bool zero_allowed) {
  if (!(std::isfinite(value) && (zero_allowed ? value >= 0.0 : value > 0.0))) {
    fail("{}: {} must be a finite number {} 0, got {}", schedule, what, zero_allowed ? ">=" : ">", value);
  }
}

// The step a schedule is asked for: an optimizer's iteration count, never negative.
void check_step(const LearningRateSchedule& schedule, int64_t step) {
  if (step < 0) fail("{}: step is {}, expected a step >= 0 (an optimizer's iteration count)", schedule.name(), step);
}

}  // namespace

LearningRate::LearningRate(std::shared_ptr<const LearningRateSchedule> schedule) : schedule_(std::move(schedule)) {
  if (schedule_ == nullptr) fail("LearningRate: the schedule is a null pointer; expected a LearningRateSchedule");
}

PiecewiseConstantDecay::PiecewiseConstantDecay(std::vector<int64_t> boundaries, std::vector<double> values)
    : boundaries_(std::move(boundaries)), values_(std::move(values)) {
  if (values_.size() != boundaries_.size() + 1) {
    fail("PiecewiseConstantDecay: {} boundaries need {} values, got {}", boundaries_.size(), boundaries_.size() + 1,
         values_.size());
  }
  for (size_t i = 1; i < boundaries_.size(); ++i) {
    if (boundaries_[i] <= boundaries_[i - 1]) {
      fail("PiecewiseConstantDecay: boundaries must increase strictly, got [{}]", fmt::join(boundaries_, ", "));
    }
  }
  for (const double value : values_) check_rate("PiecewiseConstantDecay", "each value", value);
}

double PiecewiseConstantDecay::operator()(int64_t step) const {
  check_step(*this, step);
  // The first boundary at or after the step picks the value; past the last one, the last value.
  const auto boundary = std::lower_bound(boundaries_.begin(), boundaries_.end(), step);
  return values_[static_cast<size_t>(boundary - boundaries_.begin())];
}

ExponentialDecay::ExponentialDecay(double initial_learning_rate, double decay_steps, double decay_rate, bool staircase)
    : initial_learning_rate_(initial_learning_rate),
      decay_steps_(decay_steps),
      decay_rate_(decay_rate),
      staircase_(staircase) {
  check_rate("ExponentialDecay", "initial_learning_rate", initial_learning_rate);
  check_steps("ExponentialDecay", "decay_steps", decay_steps, false);
  check_rate("ExponentialDecay", "decay_rate", decay_rate);
}

double ExponentialDecay::operator()(int64_t step) const {
  check_step(*this, step);
  double p = static_cast<double>(step) / decay_steps_;
  if (staircase_) p = std::floor(p);
  return initial_learning_rate_ * std::pow(decay_rate_, p);
}

CosineDecay::CosineDecay(double initial_learning_rate, double decay_steps, CosineDecayOptions options)
    : initial_learning_rate_(initial_learning_rate), decay_steps_(decay_steps), options_(options) {
  check_rate("CosineDecay", "initial_learning_rate", initial_learning_rate);
  check_steps("CosineDecay", "decay_steps", decay_steps, false);
  if (!(options.alpha >= 0.0 && options.alpha <= 1.0))
    fail("CosineDecay: alpha must be in [0, 1], got {}", options.alpha);
  if (options.warmup_target) check_rate("CosineDecay", "warmup_target", *options.warmup_target);
  check_steps("CosineDecay", "warmup_steps", options.warmup_steps, true);
}

double CosineDecay::operator()(int64_t step) const {
  check_step(*this, step);
  const double alpha = options_.alpha;
  const auto decay = [&](double s, double from) {
    const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * (s / decay_steps_)));
    return from * ((1.0 - alpha) * cosine + alpha);
  };
  double s = static_cast<double>(step);
  if (!options_.warmup_target) return decay(std::min(s, decay_steps_), initial_learning_rate_);
  const double target = *options_.warmup_target;
  const double warmup = options_.warmup_steps;
  s = std::min(s, decay_steps_ + warmup);
  if (s < warmup) return (target - initial_learning_rate_) * (s / warmup) + initial_learning_rate_;
  return decay(s - warmup, target);
}

}  // namespace tapegrad::optim
