#include "autograd/tape.hpp"

#include "autograd/ops.hpp"

#include <algorithm>

namespace tapegrad {

namespace {
std::vector<GradientTape*>& tape_stack() {
  thread_local std::vector<GradientTape*> stack;
  return stack;
}

Grads identity_backward(const BackwardArgs& b) { return {b.grad}; }
}  // namespace

std::span<GradientTape* const> active_tapes() { return tape_stack(); }

GradientTape::GradientTape(TapeOptions options) : options_(options) { tape_stack().push_back(this); }

GradientTape::~GradientTape() {
  auto& stack = tape_stack();
  stack.erase(std::find(stack.begin(), stack.end(), this));
}

void GradientTape::watch(const Tensor& tensor) {
  if (!is_floating(tensor.dtype())) return;  // integer tensors have no gradient and are never watched
  watched_.insert(tensor.id());
  tracked_.insert(tensor.id());
  watched_tensors_.push_back(tensor);
}

void GradientTape::watch(const Variable& variable) {
  if (!is_floating(variable.dtype())) return;
  watched_.insert(variable.id());
  watched_variables_.push_back(variable);
}

void GradientTape::append(TapeEntry entry) {
  tracked_.insert(entry.output.id());
  entries_.push_back(std::move(entry));
}

void GradientTape::record_read(const Variable& variable, const Tensor& value) {
  if (!recording()) return;
  const bool watched = watched_.contains(variable.id());
  if (!watched) {
    if (!options_.watch_accessed_variables || !variable.trainable()) return;
    watch(variable);
  }
  if (tracked_.contains(value.id())) return;  // this value was read already: one entry is enough
  append(TapeEntry{"read_variable", {value}, {variable.id()}, value, identity_backward, {}});
}

Tensor record(const char* op, std::initializer_list<Tensor> inputs, Tensor output, BackwardFn backward,
              std::vector<double> attrs) {
  return record(op, std::span<const Tensor>(inputs.begin(), inputs.size()), std::move(output), backward,
                std::move(attrs));
}

Tensor record(const char* op, std::span<const Tensor> inputs, Tensor output, BackwardFn backward,
              std::vector<double> attrs) {
  if (!is_floating(output.dtype())) return output;
  for (GradientTape* tape : tape_stack()) {
    if (!tape->recording()) continue;
    const bool tracked = std::ranges::any_of(inputs, [&](const Tensor& t) { return tape->tracks(t.id()); });
    if (!tracked) continue;
    TapeEntry entry{op, {inputs.begin(), inputs.end()}, {}, output, backward, attrs};
    entry.input_ids.reserve(inputs.size());
    for (const Tensor& t : inputs) entry.input_ids.push_back(t.id());
    tape->append(std::move(entry));
  }
  return output;
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target, std::span<const Source> sources,
                                           const GradientOptions& options) {
  if (used_ && !options_.persistent) {
    fail("GradientTape::gradient: this tape is not persistent and has computed a gradient already "
         "(make it with persistent = true to call gradient more than once)");
  }
  used_ = true;
  if (!is_floating(target.dtype())) fail("GradientTape::gradient: target is {}, expected a float tensor", dtype_name(target.dtype()));

  Tensor seed = ones_like(target);
  if (options.output_gradients) {
    seed = *options.output_gradients;
    if (seed.shape() != target.shape() || seed.dtype() != target.dtype()) {
      fail("GradientTape::gradient: output_gradients is {} {}, expected the target's {} {}", seed.shape(),
           dtype_name(seed.dtype()), target.shape(), dtype_name(target.dtype()));
    }
  }

  // The ops of the backward sweep are recorded by outer tapes that watch them, never by this one.
  ++paused_;
  struct Resume {
    int& paused;
    ~Resume() { --paused; }
  } resume{paused_};

  // Forward pass over the entries: which ones lie on a path from a source.
  std::unordered_set<uint64_t> reaches_source;
  for (const Source& source : sources) reaches_source.insert(source.id());
  std::vector<bool> on_path(entries_.size(), false);
  for (size_t e = 0; e < entries_.size(); ++e) {
    const auto& ids = entries_[e].input_ids;
    if (std::ranges::any_of(ids, [&](uint64_t id) { return reaches_source.contains(id); })) {
      on_path[e] = true;
      reaches_source.insert(entries_[e].output.id());
    }
  }

  // Backward sweep: entries in reverse execution order are a topological order.
  std::unordered_map<uint64_t, Tensor> grads;
  grads.emplace(target.id(), seed);
  std::unordered_set<uint64_t> source_ids;
  for (const Source& source : sources) source_ids.insert(source.id());
  std::vector<char> needed;
  for (size_t e = entries_.size(); e-- > 0;) {
    if (!on_path[e]) continue;
    const TapeEntry& entry = entries_[e];
    const auto found = grads.find(entry.output.id());
    if (found == grads.end()) continue;
    const Tensor upstream = found->second;
    if (!source_ids.contains(entry.output.id())) grads.erase(found);

    needed.assign(entry.inputs.size(), 0);
    for (size_t i = 0; i < entry.inputs.size(); ++i) needed[i] = reaches_source.contains(entry.input_ids[i]) ? 1 : 0;
    const BackwardArgs args{upstream, entry.inputs, entry.output, needed, entry.attrs};
    Grads input_grads = entry.backward(args);
    if (input_grads.size() != entry.inputs.size()) {
      fail("GradientTape::gradient: the backward of {} returned {} gradients for {} inputs", entry.op,
           input_grads.size(), entry.inputs.size());
    }
    for (size_t i = 0; i < input_grads.size(); ++i) {
      Tensor& g = input_grads[i];
      if (needed[i] == 0 || !g.defined()) continue;
      const Tensor& input = entry.inputs[i];
      if (g.shape() != input.shape()) g = sum_to(g, input.shape());  // the one place broadcasting is undone
      auto [slot, inserted] = grads.try_emplace(entry.input_ids[i], g);
      if (!inserted) slot->second = slot->second + g;
    }
  }

  std::vector<Tensor> results;
  results.reserve(sources.size());
  for (const Source& source : sources) {
    const auto found = grads.find(source.id());
    if (found != grads.end()) {
      results.push_back(found->second);
    } else if (options.unconnected_gradients == UnconnectedGradients::zero) {
      results.push_back(zeros_like(source.like()));
    } else {
      results.emplace_back();
    }
  }
  return results;
}

Tensor GradientTape::gradient(const Tensor& target, const Source& source, const GradientOptions& options) {
  return gradient(target, std::span<const Source>(&source, 1), options).front();
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target, std::initializer_list<Source> sources,
                                           const GradientOptions& options) {
  return gradient(target, std::span<const Source>(sources.begin(), sources.size()), options);
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target, const std::vector<Variable>& sources,
                                           const GradientOptions& options) {
  std::vector<Source> list(sources.begin(), sources.end());
  return gradient(target, std::span<const Source>(list), options);
}

StopRecording::StopRecording() : paused_(tape_stack().begin(), tape_stack().end()) {
  for (GradientTape* tape : paused_) ++tape->paused_;
}

StopRecording::~StopRecording() {
  for (GradientTape* tape : paused_) --tape->paused_;
}

}  // namespace tapegrad
