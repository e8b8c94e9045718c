#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tapegrad::optim {

/// A learning rate that changes with the optimizer's step, as Keras's LearningRateSchedule: an
/// optimizer given one calls it with its iteration count (`iterations()`, 0 at the first step)
/// before each update. A schedule is a pure function of the step; derive from it for your own.
class LearningRateSchedule {
 public:
  virtual ~LearningRateSchedule() = default;
  /// The learning rate at `step` (>= 0; the built-in schedules reject a negative step).
  virtual double operator()(int64_t step) const = 0;
  /// The schedule's name, for errors: "ExponentialDecay".
  virtual std::string name() const = 0;
};

/// Step decay, as Keras's PiecewiseConstantDecay: values[0] while step <= boundaries[0],
/// values[i] while boundaries[i-1] < step <= boundaries[i], values.back() after boundaries.back().
class PiecewiseConstantDecay : public LearningRateSchedule {
 public:
  /// `boundaries` strictly increasing; one more value than boundaries, each finite and >= 0.
  PiecewiseConstantDecay(std::vector<int64_t> boundaries, std::vector<double> values);
  double operator()(int64_t step) const override;
  std::string name() const override { return "PiecewiseConstantDecay"; }

 private:
  std::vector<int64_t> boundaries_;
  std::vector<double> values_;
};

/// Keras's ExponentialDecay: initial_learning_rate * decay_rate^(step / decay_steps), the exponent
/// floored with `staircase` (the rate then drops every decay_steps steps).
class ExponentialDecay : public LearningRateSchedule {
 public:
  /// `initial_learning_rate` and `decay_rate` finite and >= 0, `decay_steps` > 0.
  ExponentialDecay(double initial_learning_rate, double decay_steps, double decay_rate, bool staircase = false);
  double operator()(int64_t step) const override;
  std::string name() const override { return "ExponentialDecay"; }

 private:
  double initial_learning_rate_;
  double decay_steps_;
  double decay_rate_;
  bool staircase_;
};

/// Options of `CosineDecay`, with Keras 3's defaults.
struct CosineDecayOptions {
  /// The rate at the end of the decay, as a fraction of the rate it decays from.
  double alpha = 0.0;
  /// When set, a linear warm-up from initial_learning_rate to warmup_target over warmup_steps
  /// steps comes first, and the cosine decays from warmup_target.
  std::optional<double> warmup_target = std::nullopt;
  /// The warm-up's length in steps (with warmup_target).
  double warmup_steps = 0;
};

/// Keras 3's CosineDecay, with its optional linear warm-up. Without warmup_target:
///   s = min(step, decay_steps);  lr = initial * ((1 - alpha) * 0.5 (1 + cos(pi s / decay_steps)) + alpha)
/// With warmup_target (target) and warmup_steps (w), s = min(step, w + decay_steps):
///   s < w:  lr = initial + (target - initial) * s / w
///   else:   lr = target * ((1 - alpha) * 0.5 (1 + cos(pi (s - w) / decay_steps)) + alpha)
class CosineDecay : public LearningRateSchedule {
 public:
  /// `initial_learning_rate` (and warmup_target) finite and >= 0, `decay_steps` > 0, alpha in [0, 1],
  /// warmup_steps >= 0.
  CosineDecay(double initial_learning_rate, double decay_steps, CosineDecayOptions options = {});
  double operator()(int64_t step) const override;
  std::string name() const override { return "CosineDecay"; }

 private:
  double initial_learning_rate_;
  double decay_steps_;
  CosineDecayOptions options_;
};

/// What an optimizer takes as its learning rate: a constant or a schedule, as Keras's
/// `learning_rate` argument. `SGD(0.1)` and `SGD(ExponentialDecay(0.1, 1000, 0.5))` both convert.
class LearningRate {
 public:
  /// A constant learning rate.
  LearningRate(double value) : value_(value) {}  // NOLINT(google-explicit-constructor): SGD(0.1)
  /// A schedule, copied (any LearningRateSchedule subclass).
  template <std::derived_from<LearningRateSchedule> Schedule>
  LearningRate(Schedule schedule)  // NOLINT(google-explicit-constructor): SGD(CosineDecay(...))
      : schedule_(std::make_shared<const Schedule>(std::move(schedule))) {}
  /// A schedule shared with its owner; not null.
  LearningRate(std::shared_ptr<const LearningRateSchedule> schedule);  // NOLINT(google-explicit-constructor)

  /// The learning rate at `step`: the constant, or the schedule's value.
  double operator()(int64_t step) const { return schedule_ ? (*schedule_)(step) : value_; }
  /// The schedule, or null for a constant.
  const LearningRateSchedule* schedule() const { return schedule_.get(); }

 private:
  double value_ = 0.0;
  std::shared_ptr<const LearningRateSchedule> schedule_;
};

}  // namespace tapegrad::optim
