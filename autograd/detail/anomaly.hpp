#pragma once

// What the tape (tape.cpp) calls while a DetectAnomaly scope is alive; defined in anomaly.cpp.

#include <tapegrad/autograd/tape.hpp>

#include <atomic>
#include <span>

namespace tapegrad::detail {

/// The DetectAnomaly scopes alive in the process, on any thread: what every op reads, one relaxed
/// load of a global (a thread-local would cost a __tls_get_addr call per op in a -fPIC library).
extern std::atomic<int> g_anomaly_scopes;
/// True when some thread has a DetectAnomaly scope; then the checks ask whether this thread has one.
inline bool anomaly_scopes_anywhere() { return g_anomaly_scopes.load(std::memory_order_relaxed) != 0; }

/// This thread's anomaly detection: live DetectAnomaly scopes, and backward sweeps under way (whose
/// ops are checked as a backward's gradients, not as forward ops).
struct AnomalyState {
  int scopes = 0;
  int sweeps = 0;
};
/// This thread's state.
extern constinit thread_local AnomalyState t_anomaly;

/// While alive (and `active`, which a sweep passes as anomaly_scopes_anywhere()), the forward checks
/// of this thread stand aside for a backward sweep's.
struct AnomalySweep {
  explicit AnomalySweep(bool active) : active_(active) {
    if (active_) ++t_anomaly.sweeps;
  }
  ~AnomalySweep() {
    if (active_) --t_anomaly.sweeps;
  }
  AnomalySweep(const AnomalySweep&) = delete;
  AnomalySweep& operator=(const AnomalySweep&) = delete;

 private:
  bool active_;
};

/// Throws when `output` of `op`, just run on `inputs` (and recorded on the active tapes that track
/// them), holds a NaN or an infinity (when this thread has a DetectAnomaly scope).
void check_forward(const char* op, std::span<const Tensor* const> inputs, const Tensor& output);
/// Throws when a gradient that entry `e` of `tape` produced in the backward sweep holds a NaN (when
/// this thread has a DetectAnomaly scope).
void check_backward(const GradientTape& tape, size_t e, std::span<const Tensor> grads);

}  // namespace tapegrad::detail
