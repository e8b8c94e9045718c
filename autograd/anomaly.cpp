// Anomaly detection: the checks DetectAnomaly turns on, which the tape calls after each op's forward
// (record) and after each backward of a sweep (GradientTape::compute).

#include <tapegrad/autograd/anomaly.hpp>

#include "autograd/detail/anomaly.hpp"
#include "autograd/ops/record.hpp"

#include <cmath>
#include <string>
#include <vector>

namespace tapegrad {

std::atomic<int> detail::g_anomaly_scopes{0};
constinit thread_local detail::AnomalyState detail::t_anomaly{};

DetectAnomaly::DetectAnomaly() {
  ++detail::t_anomaly.scopes;
  detail::g_anomaly_scopes.fetch_add(1, std::memory_order_relaxed);
}
DetectAnomaly::~DetectAnomaly() {
  --detail::t_anomaly.scopes;
  detail::g_anomaly_scopes.fetch_sub(1, std::memory_order_relaxed);
}

bool anomaly_detection_enabled() { return detail::t_anomaly.scopes > 0; }

namespace {

// The flat position of the first element of a float tensor that `bad` finds, or -1.
template <typename Bad>
int64_t first_bad(const Tensor& t, Bad bad) {
  if (!t.defined() || !is_floating(t.dtype())) return -1;
  return dispatch_floating(t.dtype(), "DetectAnomaly", [&]<typename T>() -> int64_t {
    const auto values = t.data<T>();
    for (size_t i = 0; i < values.size(); ++i) {
      if (bad(values[i])) return static_cast<int64_t>(i);
    }
    return -1;
  });
}

std::string shape_and_dtype(const Shape& shape, DType dtype) { return fmt::format("{} {}", shape, dtype_name(dtype)); }

// The innermost active tape that recorded the tensor with `id`, and its entry there.
std::string entry_of(uint64_t id) {
  const auto tapes = active_tapes();
  for (size_t k = tapes.size(); k-- > 0;) {
    if (const int64_t e = tapes[k]->producer(id); e >= 0) {
      return tapes.size() == 1
                 ? fmt::format("tape entry [{}]", e)
                 : fmt::format("tape entry [{}] of tape {} of {} (outermost first)", e, k + 1, tapes.size());
    }
  }
  return "not recorded: no active tape watches its inputs";
}

// How an error names an input: the entry that made it, or a watched label, or a constant.
std::string input_name(uint64_t id, const Shape& shape, DType dtype) {
  const auto tapes = active_tapes();
  for (size_t k = tapes.size(); k-- > 0;) {
    if (const int64_t e = tapes[k]->producer(id); e >= 0)
      return fmt::format("[{}] {}", e, shape_and_dtype(shape, dtype));
    if (std::string label = tapes[k]->label(id); !label.empty())
      return fmt::format("{} {}", label, shape_and_dtype(shape, dtype));
  }
  return fmt::format("const {}", shape_and_dtype(shape, dtype));
}

std::string describe(const Tensor& t, int64_t position) {
  const double value = t.flat(position);
  return fmt::format("{} at position {} of its {} {}",
                     std::isnan(value) ? std::string("NaN") : fmt::format("{}", value), position, t.shape(),
                     dtype_name(t.dtype()));
}

}  // namespace

void detail::check_forward(const char* op, std::span<const Tensor* const> inputs, const Tensor& output) {
  if (t_anomaly.scopes == 0 || t_anomaly.sweeps != 0) return;  // another thread's scope, or a sweep's ops
  const int64_t position = first_bad(output, [](auto v) { return !std::isfinite(v); });
  if (position < 0) return;
  std::vector<std::string> names;
  for (const Tensor* input : inputs) {
    names.push_back(input->defined() ? input_name(input->id(), input->shape(), input->dtype()) : "(undefined)");
  }
  fail("DetectAnomaly: the forward of '{}' ({}) produced {} output; its inputs: {}", op, entry_of(output.id()),
       describe(output, position), fmt::join(names, ", "));
}

void detail::check_backward(const GradientTape& tape, size_t e, std::span<const Tensor> grads) {
  if (t_anomaly.scopes == 0) return;  // another thread's scope
  for (size_t i = 0; i < grads.size(); ++i) {
    const int64_t position = first_bad(grads[i], [](auto v) { return std::isnan(v); });
    if (position < 0) continue;
    const TapeEntry& entry = tape.entries()[e];
    std::vector<std::string> names;
    for (const EntryInput& input : entry.inputs) {
      const int64_t producer = tape.producer(input.id);
      const std::string label = tape.label(input.id);
      const std::string shape = shape_and_dtype(input.shape, input.dtype);
      names.push_back(producer >= 0    ? fmt::format("[{}] {}", producer, shape)
                      : !label.empty() ? fmt::format("{} {}", label, shape)
                                       : fmt::format("const {}", shape));
    }
    fail("DetectAnomaly: the backward of '{}' (the gradient of tape entry [{}] {}({}) -> {}) produced {} gradient "
         "for its input {}",
         entry.op, e, entry.op, fmt::join(names, ", "), shape_and_dtype(entry.output.shape(), entry.output.dtype()),
         describe(grads[i], position), i + 1);
  }
}

}  // namespace tapegrad
