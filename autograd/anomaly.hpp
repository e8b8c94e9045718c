#pragma once

// Anomaly detection: where the first NaN or infinity of a training step comes from.

namespace tapegrad {

/// While alive, every op run on this thread outside a StopRecording checks its output, and every
/// backward of a gradient sweep its input gradients, as PyTorch's `detect_anomaly` and TensorFlow's
/// `enable_check_numerics` do: the first op whose forward output holds a NaN or an infinity throws
/// an Error naming the op, its tape entry and its inputs' shapes; the first backward that produces a
/// NaN throws an Error naming the op whose gradient it was and that op's forward entry. Scopes nest.
/// NOTE: off by default and then free (one relaxed load of a global per op); on, each op reads its output
/// once more.
class DetectAnomaly {
 public:
  /// Starts checking on this thread.
  DetectAnomaly();
  /// Stops checking (unless an enclosing scope is still alive).
  ~DetectAnomaly();
  DetectAnomaly(const DetectAnomaly&) = delete;
  DetectAnomaly& operator=(const DetectAnomaly&) = delete;
};

/// True while a DetectAnomaly scope is alive on this thread.
bool anomaly_detection_enabled();

}  // namespace tapegrad
