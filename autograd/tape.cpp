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

// How a printout names an entry's input: the entry that made it, a watched source, a variable
// (for a read), or a constant.
class Namer {
 public:
  explicit Namer(const GradientTape& tape) : tape_(tape) {
    for (size_t e = 0; e < tape.entries().size(); ++e) producer_.emplace(tape.entries()[e].output.id(), e);
  }
  std::string name(const TapeEntry& entry, size_t input) const {
    const uint64_t id = entry.input_ids[input];
    if (const auto found = producer_.find(id); found != producer_.end()) return fmt::format("[{}]", found->second);
    const std::string label = tape_.label(id);
    if (std::string_view(entry.op) == "read_variable") return fmt::format("variable {}", label);
    if (!label.empty()) return fmt::format("{} {}", label, entry.inputs[input].shape());
    return fmt::format("const {}", entry.inputs[input].shape());
  }

 private:
  const GradientTape& tape_;
  std::unordered_map<uint64_t, size_t> producer_;
};

std::string entry_line(const GradientTape& tape, const Namer& namer, size_t e) {
  const TapeEntry& entry = tape.entries()[e];
  std::vector<std::string> inputs;
  for (size_t i = 0; i < entry.inputs.size(); ++i) inputs.push_back(namer.name(entry, i));
  std::string attrs;
  if (!entry.attrs.empty()) attrs = fmt::format("; {}", fmt::join(entry.attrs, ", "));
  return fmt::format("[{}] {}({}{}) -> {} {}", e, entry.op, fmt::join(inputs, ", "), attrs, entry.output.shape(),
                     dtype_name(entry.output.dtype()));
}

std::string trace_line(const Namer& namer, const TapeEntry& entry, size_t e, const Tensor& upstream, const Grads& grads,
                       const std::vector<char>& needed) {
  std::string line = fmt::format("backward [{}] {}: upstream {}", e, entry.op, to_string(upstream));
  for (size_t i = 0; i < grads.size(); ++i) {
    const bool shown = needed[i] != 0 && grads[i].defined();
    line += fmt::format("\n    -> d/d {} = {}", namer.name(entry, i), shown ? to_string(grads[i]) : "(not needed)");
  }
  return line;
}
}  // namespace

std::string to_string(const GradientTape& tape, const TapePrintOptions& options) {
  const Namer namer(tape);
  std::string out = fmt::format("GradientTape ({} entries{})", tape.entries().size(),
                                tape.options().persistent ? ", persistent" : "");
  for (size_t e = 0; e < tape.entries().size(); ++e) {
    out += "\n  " + entry_line(tape, namer, e);
    if (options.values) out += "\n        = " + to_string(tape.entries()[e].output);
  }
  return out;
}

std::string to_dot(const GradientTape& tape) {
  const Namer namer(tape);
  std::string out = "digraph tape {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n";
  std::unordered_set<uint64_t> leaves;
  for (size_t e = 0; e < tape.entries().size(); ++e) {
    const TapeEntry& entry = tape.entries()[e];
    out += fmt::format("  e{} [shape=box, label=\"[{}] {}\\n{} {}\"];\n", e, e, entry.op, entry.output.shape(),
                       dtype_name(entry.output.dtype()));
    for (size_t i = 0; i < entry.inputs.size(); ++i) {
      const std::string name = namer.name(entry, i);
      if (name.starts_with("[")) {
        out += fmt::format("  e{} -> e{};\n", name.substr(1, name.size() - 2), e);
        continue;
      }
      const uint64_t id = entry.input_ids[i];
      if (leaves.insert(id).second) {
        out += fmt::format("  t{} [shape=ellipse{}, label=\"{}\"];\n", id,
                           name.starts_with("const") ? "" : ", style=bold", name);
      }
      out += fmt::format("  t{} -> e{};\n", id, e);
    }
  }
  return out + "}\n";
}

std::span<GradientTape* const> active_tapes() { return tape_stack(); }

GradientTape::GradientTape(TapeOptions options) : options_(options) { tape_stack().push_back(this); }

GradientTape::~GradientTape() {
  auto& stack = tape_stack();
  stack.erase(std::find(stack.begin(), stack.end(), this));
}

void GradientTape::watch(const Tensor& tensor, const std::string& name) {
  if (!is_floating(tensor.dtype())) return;  // integer tensors have no gradient and are never watched
  if (!watched_.insert(tensor.id()).second) return;
  labels_.emplace(tensor.id(), name.empty() ? fmt::format("watched#{}", watched_tensors_.size()) : name);
  tracked_.insert(tensor.id());
  watched_tensors_.push_back(tensor);
}

void GradientTape::watch(const Variable& variable) {
  if (!is_floating(variable.dtype())) return;
  if (!watched_.insert(variable.id()).second) return;
  labels_.emplace(variable.id(), variable.name());
  watched_variables_.push_back(variable);
}

std::string GradientTape::label(uint64_t id) const {
  const auto found = labels_.find(id);
  return found == labels_.end() ? std::string() : found->second;
}

void GradientTape::append(TapeEntry entry) {
  tracked_.insert(entry.output.id());
  entries_.push_back(std::move(entry));
}

void GradientTape::record_read(const Variable& variable, const Tensor& value) {
  if (!recording() || !is_floating(value.dtype())) return;  // integer variables are never watched
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

void GradientTape::begin_gradient(const char* caller) {
  if (used_ && !options_.persistent) {
    fail("GradientTape::{}: this tape is not persistent and has computed a gradient already "
         "(make it with persistent = true to call gradient more than once)",
         caller);
  }
  used_ = true;
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target, std::span<const Source> sources,
                                           const GradientOptions& options) {
  begin_gradient("gradient");
  return compute(target, sources, options);
}

std::vector<Tensor> GradientTape::compute(const Tensor& target, std::span<const Source> sources,
                                          const GradientOptions& options) {
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
  const std::optional<Namer> namer = options.trace ? std::optional<Namer>(std::in_place, *this) : std::nullopt;
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
    if (options.trace) options.trace(trace_line(*namer, entry, e, upstream, input_grads, needed));
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

void GradientTape::reset() {
  entries_.clear();
  watched_.clear();
  labels_.clear();
  tracked_.clear();
  watched_tensors_.clear();
  watched_variables_.clear();
  used_ = false;
}

namespace {
// A tensor of `shape` that is 1 at the flat positions `ones`, else 0.
Tensor indicator(const Shape& shape, DType dtype, std::span<const int64_t> ones) {
  std::vector<double> values(static_cast<size_t>(shape.numel()), 0.0);
  for (int64_t i : ones) values[static_cast<size_t>(i)] = 1.0;
  return Tensor(values, shape, dtype);
}

Tensor gradient_or_zeros(const Tensor& grad, const Source& source) { return grad.defined() ? grad : zeros_like(source.like()); }
}  // namespace

Tensor GradientTape::jacobian(const Tensor& target, const Source& source, UnconnectedGradients unconnected) {
  begin_gradient("jacobian");
  std::vector<Tensor> rows;
  bool connected = false;
  for (int64_t i = 0; i < target.numel(); ++i) {
    GradientOptions seeded;
    seeded.output_gradients = indicator(target.shape(), target.dtype(), std::span<const int64_t>(&i, 1));
    const Tensor row = compute(target, std::span<const Source>(&source, 1), seeded).front();
    connected = connected || row.defined();
    rows.push_back(reshape(gradient_or_zeros(row, source), Shape{source.like().numel()}));
  }
  if (!connected && unconnected == UnconnectedGradients::none) return {};
  Shape shape = target.shape();
  for (int64_t d : source.like().shape().dims()) shape.push_back(d);
  if (rows.empty()) return zeros(shape, source.like().dtype());
  return reshape(stack(rows), shape);
}

Tensor GradientTape::batch_jacobian(const Tensor& target, const Source& source, UnconnectedGradients unconnected) {
  begin_gradient("batch_jacobian");
  const Shape& ts = target.shape();
  const Shape& ss = source.like().shape();
  if (ts.rank() < 1 || ss.rank() < 1 || ts[0] != ss[0]) {
    fail("GradientTape::batch_jacobian: target {} and source {}; expected one batch size on the first axis", ts, ss);
  }
  const int64_t batch = ts[0];
  const int64_t per_target = batch == 0 ? 0 : ts.numel() / batch, per_source = batch == 0 ? 0 : ss.numel() / batch;
  std::vector<Tensor> columns;
  bool connected = false;
  for (int64_t j = 0; j < per_target; ++j) {
    std::vector<int64_t> positions;
    for (int64_t b = 0; b < batch; ++b) positions.push_back(b * per_target + j);
    GradientOptions seeded;
    seeded.output_gradients = indicator(ts, target.dtype(), positions);
    const Tensor grad = compute(target, std::span<const Source>(&source, 1), seeded).front();
    connected = connected || grad.defined();
    columns.push_back(reshape(gradient_or_zeros(grad, source), Shape{batch, per_source}));
  }
  if (!connected && unconnected == UnconnectedGradients::none) return {};
  Shape shape{batch};
  for (int k = 1; k < ts.rank(); ++k) shape.push_back(ts[k]);
  for (int k = 1; k < ss.rank(); ++k) shape.push_back(ss[k]);
  if (columns.empty()) return zeros(shape, source.like().dtype());
  return reshape(stack(columns, 1), shape);
}

StopRecording::StopRecording() : paused_(tape_stack().begin(), tape_stack().end()) {
  for (GradientTape* tape : paused_) ++tape->paused_;
}

StopRecording::~StopRecording() {
  for (GradientTape* tape : paused_) --tape->paused_;
}

}  // namespace tapegrad
