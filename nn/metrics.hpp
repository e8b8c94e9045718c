#pragma once

#include <tapegrad/autograd/tensor.hpp>

#include <cstdint>
#include <string>

namespace tapegrad::nn {

/// The base of the metrics, as Keras's: `update_state` accumulates a batch, `result` reads the
/// value over every batch since the last `reset_state`, which clears it (once per epoch). Metrics
/// accumulate in float64 whatever the tensors' dtype, record nothing on a tape, and keep no tensor.
class Metric {
 public:
  virtual ~Metric() = default;
  /// The metric's name ("loss", "accuracy").
  const std::string& name() const { return name_; }
  /// The value over everything accumulated since the last reset.
  virtual double result() const = 0;
  /// Forgets everything accumulated: result() is 0 again.
  virtual void reset_state() = 0;

 protected:
  /// A metric called `name`.
  explicit Metric(std::string name) : name_(std::move(name)) {}

 private:
  std::string name_;
};

/// Keras's Mean: the weighted mean of every value given, total / count, with
/// total = sum(values * sample_weight) and count = sum(sample_weight) over all updates; 0 before
/// the first (Keras's divide_no_nan). The loss as a running mean:
///   nn::Mean train_loss("loss");
///   train_loss.update_state(loss);                  // each batch counts once (Keras's custom loops)
///   train_loss.update_state(loss, batch_size);      // each example counts once (Keras's fit)
class Mean : public Metric {
 public:
  /// A mean called `name`.
  explicit Mean(std::string name = "mean");

  /// Adds every element of `values` (any shape, float or int64), each with weight `sample_weight`
  /// (finite and >= 0).
  void update_state(const Tensor& values, double sample_weight = 1.0);
  /// Adds every element of `values`, weighted by `sample_weight` broadcast to values' shape (a (B)
  /// weight for (B) values, a scalar, ...); the weights must be finite and >= 0.
  void update_state(const Tensor& values, const Tensor& sample_weight);
  /// update_state(values, sample_weight), then result(), as calling a Keras metric does.
  double operator()(const Tensor& values, double sample_weight = 1.0);

  /// total / count; 0 when nothing has been added.
  double result() const override;
  void reset_state() override;
  /// The weighted sum of the values added.
  double total() const { return total_; }
  /// The sum of their weights.
  double count() const { return count_; }

 private:
  double total_ = 0.0;
  double count_ = 0.0;
};

/// Keras's SparseCategoricalAccuracy: the share of examples whose largest prediction is at their
/// label, argmax(y_pred, -1) == y_true, over all updates; 0 before the first.
class SparseCategoricalAccuracy : public Metric {
 public:
  /// An accuracy called `name`.
  explicit SparseCategoricalAccuracy(std::string name = "sparse_categorical_accuracy");

  /// Adds a batch: `y_true` the class labels (int64, or float holding whole numbers, each in [0, C):
  /// an Error otherwise, where Keras would count the example as wrong) of shape
  /// y_pred's without its last axis (or with a last axis of 1, as Keras squeezes it), `y_pred` the
  /// scores (logits or probabilities, float) with the classes on the last axis: (B) and (B, C).
  // NOTE: a row of y_pred holding a NaN counts as wrong unless argmax picks the label's position.
  void update_state(const Tensor& y_true, const Tensor& y_pred);
  /// update_state(y_true, y_pred), then result().
  double operator()(const Tensor& y_true, const Tensor& y_pred);

  /// correct / count; 0 when nothing has been added.
  double result() const override;
  void reset_state() override;
  /// The examples classified right so far.
  int64_t correct() const { return correct_; }
  /// The examples seen so far.
  int64_t count() const { return count_; }

 private:
  int64_t correct_ = 0;
  int64_t count_ = 0;
};

}  // namespace tapegrad::nn
