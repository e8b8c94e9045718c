#include <tapegrad/nn/metrics.hpp>

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/tape.hpp>

#include <cmath>

namespace tapegrad::nn {

namespace {

// Fails unless `tensor` is defined; `op` and `what` name it.
void check_defined(const Tensor& tensor, const std::string& op, const char* what) {
  if (!tensor.defined()) fail("{}: {} is an undefined tensor", op, what);
}

void check_weight(double weight, const std::string& op) {
  if (!(std::isfinite(weight) && weight >= 0.0)) fail("{}: sample_weight must be finite and >= 0, got {}", op, weight);
}

}  // namespace

Mean::Mean(std::string name) : Metric(std::move(name)) {}

void Mean::update_state(const Tensor& values, double sample_weight) {
  const std::string op = name() + ".update_state";
  check_defined(values, op, "values");
  check_weight(sample_weight, op);
  double sum = 0.0;
  for (const double v : values.to_vector()) sum += v;
  total_ += sum * sample_weight;
  count_ += static_cast<double>(values.numel()) * sample_weight;
}

void Mean::update_state(const Tensor& values, const Tensor& sample_weight) {
  const std::string op = name() + ".update_state";
  check_defined(values, op, "values");
  check_defined(sample_weight, op, "sample_weight");
  const StopRecording not_recorded;
  Tensor weights;
  try {
    weights = broadcast_to(sample_weight, values.shape());
  } catch (const Error&) {
    fail("{}: sample_weight {} does not broadcast to the values' shape {}", op, sample_weight.shape(), values.shape());
  }
  const std::vector<double> v = values.to_vector();
  const std::vector<double> w = weights.to_vector();
  double total = 0.0, count = 0.0;
  for (size_t i = 0; i < v.size(); ++i) {
    check_weight(w[i], op);
    total += v[i] * w[i];
    count += w[i];
  }
  total_ += total;
  count_ += count;
}

double Mean::operator()(const Tensor& values, double sample_weight) {
  update_state(values, sample_weight);
  return result();
}

double Mean::result() const { return count_ == 0.0 ? 0.0 : total_ / count_; }

void Mean::reset_state() {
  total_ = 0.0;
  count_ = 0.0;
}

SparseCategoricalAccuracy::SparseCategoricalAccuracy(std::string name) : Metric(std::move(name)) {}

void SparseCategoricalAccuracy::update_state(const Tensor& y_true, const Tensor& y_pred) {
  const std::string op = name() + ".update_state";
  check_defined(y_true, op, "y_true");
  check_defined(y_pred, op, "y_pred");
  if (y_pred.rank() < 1 || y_pred.dtype() == DType::int64) {
    fail("{}: y_pred is {} {}; expected float scores with the classes on the last axis, e.g. (B, C)", op,
         y_pred.shape(), dtype_name(y_pred.dtype()));
  }
  if (y_pred.shape()[-1] == 0) fail("{}: y_pred {} has no classes", op, y_pred.shape());
  // Labels of shape y_pred's without its last axis, or with a last axis of 1 (Keras squeezes it).
  const Shape batch(y_pred.shape().dims().first(static_cast<size_t>(y_pred.rank() - 1)));
  Shape squeezed = batch;
  squeezed.push_back(1);
  if (y_true.shape() != batch && y_true.shape() != squeezed) {
    fail("{}: y_true is {} for y_pred {}; expected labels of shape {} (y_pred's without its last axis)", op,
         y_true.shape(), y_pred.shape(), batch);
  }
  const StopRecording not_recorded;
  const std::vector<double> predicted = argmax(y_pred, -1).to_vector();
  const std::vector<double> labels = y_true.to_vector();
  const auto classes = static_cast<double>(y_pred.shape()[-1]);
  for (size_t i = 0; i < labels.size(); ++i) {
    // A label that no prediction can match (7 of 4 classes, 0.5, NaN) would count as wrong, silently.
    if (!(labels[i] >= 0 && labels[i] < classes && labels[i] == std::floor(labels[i]))) {
      fail("{}: y_true holds {} at {}; expected class labels, whole numbers 0 to {}", op, labels[i], i,
           y_pred.shape()[-1] - 1);
    }
  }
  int64_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) correct += predicted[i] == labels[i] ? 1 : 0;
  correct_ += correct;
  count_ += static_cast<int64_t>(labels.size());
}

double SparseCategoricalAccuracy::operator()(const Tensor& y_true, const Tensor& y_pred) {
  update_state(y_true, y_pred);
  return result();
}

double SparseCategoricalAccuracy::result() const {
  return count_ == 0 ? 0.0 : static_cast<double>(correct_) / static_cast<double>(count_);
}

void SparseCategoricalAccuracy::reset_state() {
  correct_ = 0;
  count_ = 0;
}

}  // namespace tapegrad::nn
