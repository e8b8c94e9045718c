// The tape's printouts: `to_string` (a numbered list of entries), the trace of a backward sweep
// (each step, the running totals, the sources' gradients) and `to_dot` (Graphviz). The explorer,
// an HTML page, is in tape_explorer.cpp.

#include <tapegrad/autograd/tape.hpp>

#include "autograd/detail/tape_printing.hpp"
#include "autograd/ops/record.hpp"

#include <algorithm>
#include <unordered_map>

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

std::string detail::node_name(const GradientTape& tape, uint64_t id) {
  if (const int64_t producer = tape.producer(id); producer >= 0) return fmt::format("[{}]", producer);
  return tape.label(id);
}

// ---- The trace of a backward sweep.

detail::TraceWriter::TraceWriter(const GradientTape& tape, const GradientOptions& options)
    : tape_(tape), options_(options) {}

void detail::TraceWriter::step(size_t e, const Tensor& upstream, const Grads& grads, std::span<const char> needed) {
  const TapeEntry& entry = tape_.entries()[e];
  const PrintOptions& print = options_.trace_options.print;
  text_ = fmt::format("backward [{}] {}: upstream {}", e, entry.op, to_string(upstream, print));
  for (size_t i = 0; i < grads.size(); ++i) {
    if (needed[i] == 0 && !options_.trace_options.not_needed) continue;
    const std::string grad = needed[i] == 0       ? "(not needed)"
                             : grads[i].defined() ? to_string(grads[i], print)
                                                  : "(none)";
    text_ += fmt::format("\n    -> d/d {} = {}", input_name(tape_, entry, i), grad);
  }
}

void detail::TraceWriter::added(size_t e, std::span<const TapeStorage::NodeState> adjoints) {
  // The running total of each node this step added to, once each (mul(x, x) adds to x twice).
  const TapeEntry& entry = tape_.entries()[e];
  std::vector<int32_t> shown;
  std::vector<std::string> totals;
  for (const EntryInput& input : entry.inputs) {
    if (input.node < 0 || std::ranges::find(shown, input.node) != shown.end()) continue;
    const Tensor& total = adjoints[static_cast<size_t>(input.node)].grad;
    if (!total.defined()) continue;
    shown.push_back(input.node);
    totals.push_back(
        fmt::format("{} = {}", node_name(tape_, input.id), to_string(total, options_.trace_options.print)));
  }
  if (!totals.empty()) text_ += fmt::format("\n    totals: {}", fmt::join(totals, "; "));
  options_.trace(text_);
  text_.clear();
}

void detail::TraceWriter::finished(std::span<const Source> sources, std::span<const Tensor> results) {
  std::vector<std::string> lines;
  for (size_t i = 0; i < sources.size(); ++i) {
    std::string name = tape_.label(sources[i].id());
    if (name.empty()) name = fmt::format("source {}", i);
    lines.push_back(fmt::format("{} = {}", name,
                                results[i].defined() ? to_string(results[i], options_.trace_options.print)
                                                     : "None (the target does not depend on it)"));
  }
  options_.trace(fmt::format("gradients: {}", fmt::join(lines, "; ")));
}

// ---- The list of entries.

std::string to_string(const GradientTape& tape, const TapePrintOptions& options) {
  std::string out = fmt::format("GradientTape ({} entries{})", tape.entries().size(),
                                tape.options().persistent ? ", persistent" : "");
  for (size_t e = 0; e < tape.entries().size(); ++e) {
    out += "\n  " + entry_line(tape, e);
    if (options.values) out += "\n        = " + to_string(tape.entries()[e].output, options.print);
  }
  return out;
}

// ---- The graph.

int64_t detail::TapeGraph::find(uint64_t id) const {
  for (size_t n = 0; n < nodes.size(); ++n) {
    if (nodes[n].id == id) return static_cast<int64_t>(n);
  }
  return -1;
}

detail::TapeGraph detail::tape_graph(const GradientTape& tape) {
  TapeGraph graph;
  const auto& scopes = TapeInternals::storage(tape).scopes;
  for (const auto& scope : scopes) graph.clusters.push_back(scope.name);
  std::vector<int> cluster_of(tape.entries().size(), -1);
  for (size_t c = 0; c < scopes.size(); ++c) {
    for (size_t e = scopes[c].first; e < std::min(scopes[c].end, cluster_of.size()); ++e) {
      if (cluster_of[e] < 0) cluster_of[e] = static_cast<int>(c);
    }
  }
  std::vector<size_t> entry_node(tape.entries().size());
  std::unordered_map<uint64_t, size_t> leaf_node;
  for (size_t e = 0; e < tape.entries().size(); ++e) {
    const TapeEntry& entry = tape.entries()[e];
    for (size_t i = 0; i < entry.inputs.size(); ++i) {
      const EntryInput& input = entry.inputs[i];
      if (tape.producer(input.id) >= 0 || leaf_node.contains(input.id)) continue;
      leaf_node.emplace(input.id, graph.nodes.size());
      const std::string name = input_name(tape, entry, i);
      const bool watched = !name.starts_with("const");
      // "x 2" -> title "x", detail "2"; "variable v" and "const 2" keep their word.
      const std::string label = tape.label(input.id);
      const bool variable = std::string_view(entry.op) == "read_variable";
      graph.nodes.push_back({.name = fmt::format("t{}", input.id),
                             .kind = watched ? TapeGraph::Kind::watched : TapeGraph::Kind::constant,
                             .id = input.id,
                             .title = variable  ? name
                                      : watched ? label
                                                : "const",
                             .detail = variable ? "" : fmt::format("{}", input.shape),
                             .value = input.value});
    }
    entry_node[e] = graph.nodes.size();
    const std::string attrs = entry.attrs.empty() ? "" : "(" + entry.attrs.print() + ")";
    graph.nodes.push_back({.name = fmt::format("e{}", e),
                           .kind = TapeGraph::Kind::entry,
                           .entry = static_cast<int64_t>(e),
                           .id = entry.output.id(),
                           .title = fmt::format("[{}] {}{}", e, entry.op, attrs),
                           .detail = fmt::format("{} {}", entry.output.shape(), dtype_name(entry.output.dtype())),
                           .value = entry.output,
                           .cluster = cluster_of[e]});
    for (size_t i = 0; i < entry.inputs.size(); ++i) {
      const int64_t producer = tape.producer(entry.inputs[i].id);
      const size_t from = producer >= 0 ? entry_node[static_cast<size_t>(producer)] : leaf_node.at(entry.inputs[i].id);
      graph.edges.push_back({from, entry_node[e], i, entry.inputs.size() > 1});
    }
  }
  return graph;
}

namespace {

// A DOT string's text: quotes and backslashes escaped, line breaks as \n.
std::string dot_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string detail::dot_text(const TapeGraph& graph, std::span<const std::string> notes, int64_t target,
                             std::span<const int64_t> sources) {
  std::string out = "digraph tape {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n"
                    "  edge [fontname=\"monospace\", fontsize=10];\n";
  auto node_line = [&](size_t n) {
    const TapeGraph::Node& node = graph.nodes[n];
    std::string label = node.title;
    if (!node.detail.empty()) label += (node.kind == TapeGraph::Kind::entry ? "\n" : " ") + node.detail;
    if (!notes.empty() && !notes[n].empty()) label += "\n" + notes[n];
    label = dot_escape(label);
    std::string style = node.kind == TapeGraph::Kind::entry ? "shape=box" : "shape=ellipse";
    const bool source = std::ranges::find(sources, static_cast<int64_t>(n)) != sources.end();
    if (source) {
      style += ", style=\"bold,filled\", fillcolor=\"#d8ecff\"";
    } else if (node.kind == TapeGraph::Kind::watched) {
      style += ", style=bold";
    }
    if (static_cast<int64_t>(n) == target) style += ", peripheries=2, color=\"#c0392b\"";
    return fmt::format("{} [{}, id=\"{}\", label=\"{}\"];\n", node.name, style, node.name, label);
  };
  for (size_t c = 0; c < graph.clusters.size(); ++c) {
    std::string members;
    for (size_t n = 0; n < graph.nodes.size(); ++n) {
      if (graph.nodes[n].cluster == static_cast<int>(c)) members += "    " + node_line(n);
    }
    if (members.empty()) continue;
    out += fmt::format("  subgraph cluster_{} {{\n    label=\"{}\";\n    style=\"rounded,dashed\";\n{}  }}\n", c,
                       dot_escape(graph.clusters[c]), members);
  }
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    if (graph.nodes[n].cluster < 0) out += "  " + node_line(n);
  }
  for (const TapeGraph::Edge& edge : graph.edges) {
    out += fmt::format("  {} -> {}", graph.nodes[edge.from].name, graph.nodes[edge.to].name);
    out += edge.labelled ? fmt::format(" [label=\"{}\"];\n", edge.operand) : ";\n";
  }
  return out + "}\n";
}

detail::AdjointCollector::AdjointCollector(const TapeGraph& graph) : adjoints(graph.nodes.size()), graph_(graph) {
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    if (graph.nodes[n].entry >= 0) entry_node_.push_back(n);
  }
}

void detail::AdjointCollector::step(size_t e, const Tensor& upstream, const Grads& /*grads*/,
                                    std::span<const char> /*needed*/) {
  adjoints[entry_node_[e]] = upstream;
}

void detail::AdjointCollector::added(size_t /*e*/, std::span<const TapeStorage::NodeState> /*adjoints*/) {}

void detail::AdjointCollector::finished(std::span<const Source> sources, std::span<const Tensor> results) {
  for (size_t i = 0; i < sources.size(); ++i) {
    const int64_t n = graph_.find(sources[i].id());
    if (n >= 0 && results[i].defined()) adjoints[static_cast<size_t>(n)] = results[i];
  }
}

std::string to_dot(const GradientTape& tape, const DotOptions& options) {
  const detail::TapeGraph graph = detail::tape_graph(tape);
  std::vector<std::string> notes(graph.nodes.size());
  if (options.values) {
    for (size_t n = 0; n < graph.nodes.size(); ++n) {
      if (graph.nodes[n].value.defined()) notes[n] = "= " + to_string(graph.nodes[n].value, options.print);
    }
  }
  return detail::dot_text(graph, notes, -1, {});
}

std::string to_dot(GradientTape& tape, const Tensor& target, std::span<const Source> sources,
                   const DotOptions& options) {
  if (!target.defined()) fail("to_dot: the target is an undefined tensor; expected a tensor the tape recorded");
  if (!is_floating(target.dtype())) {
    fail("to_dot: target is {} {}, expected a float tensor", target.shape(), dtype_name(target.dtype()));
  }
  const detail::TapeGraph graph = detail::tape_graph(tape);
  std::vector<std::string> notes(graph.nodes.size());
  if (options.values) {
    for (size_t n = 0; n < graph.nodes.size(); ++n) {
      if (graph.nodes[n].value.defined()) notes[n] = "= " + to_string(graph.nodes[n].value, options.print);
    }
  }
  if (options.gradients) {
    detail::AdjointCollector collector(graph);
    std::vector<Tensor> results(sources.size());
    detail::TapeInternals::sweep(tape, target, sources, collector, results);
    for (size_t n = 0; n < graph.nodes.size(); ++n) {
      if (!collector.adjoints[n].defined()) continue;
      if (!notes[n].empty()) notes[n] += '\n';
      notes[n] += "grad " + to_string(collector.adjoints[n], options.print);
    }
  }
  std::vector<int64_t> source_nodes;
  for (const Source& source : sources) source_nodes.push_back(graph.find(source.id()));
  return detail::dot_text(graph, notes, graph.find(target.id()), source_nodes);
}

}  // namespace tapegrad
