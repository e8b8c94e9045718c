// The tape's printouts: `to_string` (a numbered list of entries), `to_dot` (Graphviz) and the
// lines a traced backward sweep prints.

#include <tapegrad/autograd/tape.hpp>

#include "autograd/detail/tape_printing.hpp"
#include "autograd/ops/record.hpp"

#include <unordered_set>

namespace tapegrad {

namespace {

// How a printout names an entry's input: the entry that made it, a watched source, a variable
// (for a read), or a constant.
std::string input_name(const GradientTape& tape, const TapeEntry& entry, size_t input) {
  const uint64_t id = entry.inputs[input].id;
  if (const int64_t producer = tape.producer(id); producer >= 0) return fmt::format("[{}]", producer);
  const std::string label = tape.label(id);
  if (std::string_view(entry.op) == "read_variable") return fmt::format("variable {}", label);
  if (!label.empty()) return fmt::format("{} {}", label, entry.inputs[input].shape);
  return fmt::format("const {}", entry.inputs[input].shape);
}

std::string entry_line(const GradientTape& tape, size_t e) {
  const TapeEntry& entry = tape.entries()[e];
  std::vector<std::string> inputs;
  for (size_t i = 0; i < entry.inputs.size(); ++i) inputs.push_back(input_name(tape, entry, i));
  std::string attrs;
  if (!entry.attrs.empty()) attrs = ", " + entry.attrs.print();
  return fmt::format("[{}] {}({}{}) -> {} {}", e, entry.op, fmt::join(inputs, ", "), attrs, entry.output.shape(),
                     dtype_name(entry.output.dtype()));
}

}  // namespace

std::string detail::trace_line(const GradientTape& tape, size_t e, const Tensor& upstream, const Grads& grads,
                               std::span<const char> needed) {
  const TapeEntry& entry = tape.entries()[e];
  std::string line = fmt::format("backward [{}] {}: upstream {}", e, entry.op, to_string(upstream));
  for (size_t i = 0; i < grads.size(); ++i) {
    const bool shown = needed[i] != 0 && grads[i].defined();
    line +=
        fmt::format("\n    -> d/d {} = {}", input_name(tape, entry, i), shown ? to_string(grads[i]) : "(not needed)");
  }
  return line;
}

std::string to_string(const GradientTape& tape, const TapePrintOptions& options) {
  std::string out = fmt::format("GradientTape ({} entries{})", tape.entries().size(),
                                tape.options().persistent ? ", persistent" : "");
  for (size_t e = 0; e < tape.entries().size(); ++e) {
    out += "\n  " + entry_line(tape, e);
    if (options.values) out += "\n        = " + to_string(tape.entries()[e].output);
  }
  return out;
}

std::string to_dot(const GradientTape& tape) {
  std::string out = "digraph tape {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n";
  std::unordered_set<uint64_t> leaves;
  for (size_t e = 0; e < tape.entries().size(); ++e) {
    const TapeEntry& entry = tape.entries()[e];
    const std::string attrs = entry.attrs.empty() ? "" : "(" + entry.attrs.print() + ")";
    out += fmt::format("  e{} [shape=box, label=\"[{}] {}{}\\n{} {}\"];\n", e, e, entry.op, attrs, entry.output.shape(),
                       dtype_name(entry.output.dtype()));
    for (size_t i = 0; i < entry.inputs.size(); ++i) {
      const std::string name = input_name(tape, entry, i);
      if (name.starts_with("[")) {
        out += fmt::format("  e{} -> e{};\n", name.substr(1, name.size() - 2), e);
        continue;
      }
      const uint64_t id = entry.inputs[i].id;
      if (leaves.insert(id).second) {
        out += fmt::format("  t{} [shape=ellipse{}, label=\"{}\"];\n", id,
                           name.starts_with("const") ? "" : ", style=bold", name);
      }
      out += fmt::format("  t{} -> e{};\n", id, e);
    }
  }
  return out + "}\n";
}

}  // namespace tapegrad
