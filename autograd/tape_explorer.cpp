// The tape explorer: one HTML page with the graph (SVG), the list of entries and a script that
// steps through the recording and the backward sweep. The page's data (entries, each sweep step's
// gradients, the running adjoints) is computed here, by a sweep with an observer; the script only
// shows it. The graph is laid out by Graphviz's dot when it is installed, else by a layered layout
// of our own (below).

#include <tapegrad/autograd/tape.hpp>

#include "autograd/detail/atomic_file.hpp"
#include "autograd/detail/tape_printing.hpp"
#include "autograd/ops/record.hpp"

#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <unordered_map>

namespace tapegrad {

namespace {

using Json = nlohmann::ordered_json;

// ---- The sweep, step by step, as the page shows it.

// Records each step of the sweep: the entry, its upstream gradient, each input's gradient, and the
// running adjoints that changed (by node name).
class StepRecorder final : public detail::SweepObserver {
 public:
  StepRecorder(const GradientTape& tape, const detail::TapeGraph& graph, const PrintOptions& print)
      : tape_(tape), graph_(graph), print_(print) {
    for (size_t n = 0; n < graph.nodes.size(); ++n) node_of_id_.emplace(graph.nodes[n].id, n);
  }

  void step(size_t e, const Tensor& upstream, const Grads& grads, std::span<const char> needed) override {
    const TapeEntry& entry = tape_.entries()[e];
    Json inputs = Json::array();
    for (size_t i = 0; i < grads.size(); ++i) {
      Json input = {{"node", name_of(entry.inputs[i].id)}};
      if (needed[i] == 0) {
        input["grad"] = nullptr;  // not needed: leads to no source
      } else {
        input["grad"] = grads[i].defined() ? to_string(grads[i], print_) : "(none)";
      }
      inputs.push_back(std::move(input));
    }
    current_ = {{"entry", e}, {"upstream", to_string(upstream, print_)}, {"inputs", std::move(inputs)}};
  }

  void added(size_t e, std::span<const detail::TapeStorage::NodeState> adjoints) override {
    Json totals = Json::object();
    for (const EntryInput& input : tape_.entries()[e].inputs) {
      if (input.node < 0) continue;
      const Tensor& total = adjoints[static_cast<size_t>(input.node)].grad;
      if (total.defined()) totals[name_of(input.id)] = to_string(total, print_);
    }
    current_["totals"] = std::move(totals);
    steps.push_back(std::move(current_));
  }

  void finished(std::span<const Source> sources, std::span<const Tensor> results) override {
    for (size_t i = 0; i < sources.size(); ++i) {
      gradients.push_back({{"node", name_of(sources[i].id())},
                           {"grad", results[i].defined() ? Json(to_string(results[i], print_)) : Json(nullptr)}});
    }
  }

  Json steps = Json::array();      // one per backward step
  Json gradients = Json::array();  // the sources' final gradients

 private:
  std::string name_of(uint64_t id) const {
    const auto found = node_of_id_.find(id);
    return found == node_of_id_.end() ? std::string() : graph_.nodes[found->second].name;
  }
  const GradientTape& tape_;
  const detail::TapeGraph& graph_;
  const PrintOptions& print_;
  std::unordered_map<uint64_t, size_t> node_of_id_;
  Json current_;
};

// ---- Laying out the graph.

std::string xml_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// The path of `program` on the PATH, or "" when it is not there.
std::string find_program(std::string_view program) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    const size_t colon = dirs.find(':');
    const std::string_view dir = dirs.substr(0, colon);
    const std::string candidate = fmt::format("{}/{}", dir.empty() ? "." : dir, program);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
  }
  return {};
}

// Runs Graphviz's `dot` on `dot_source`: the SVG element it draws, or "" (and `error` says why).
std::string graphviz_svg(const std::string& dot_source, std::string& error) {
  const std::string dot = find_program("dot");
  if (dot.empty()) {
    error = "Graphviz's dot is not on the PATH (Debian's graphviz package)";
    return {};
  }
  const char* tmpdir = std::getenv("TMPDIR");
  std::string input = fmt::format("{}/tapegrad-graph-XXXXXX", tmpdir != nullptr && *tmpdir != 0 ? tmpdir : "/tmp");
  const int fd = ::mkstemp(input.data());
  if (fd < 0) {
    error = "cannot create a temporary file for dot's input";
    return {};
  }
  const bool written = ::write(fd, dot_source.data(), dot_source.size()) == static_cast<ssize_t>(dot_source.size());
  ::close(fd);
  std::string svg;
  if (written) {
    // The two paths are ours (mkstemp's name, a PATH entry), quoted for the shell.
    auto quoted = [](const std::string& s) {
      std::string out = "'";
      for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
      return out + "'";
    };
    if (std::FILE* pipe = ::popen(fmt::format("{} -Tsvg {} 2>/dev/null", quoted(dot), quoted(input)).c_str(), "r")) {
      char buffer[65536];
      for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) svg.append(buffer, n);
      const int status = ::pclose(pipe);
      if (status != 0) {
        error = fmt::format("{} -Tsvg failed (status {})", dot, status);
        svg.clear();
      }
    } else {
      error = "cannot run dot";
    }
  } else {
    error = "cannot write dot's input";
  }
  ::unlink(input.c_str());
  const size_t start = svg.find("<svg");
  if (start == std::string::npos) {
    if (error.empty()) error = "dot wrote no SVG";
    return {};
  }
  return svg.substr(start);
}

// tapegrad's own layout, when Graphviz is missing: one column per depth (leaves first, each entry
// one column right of its deepest input), nodes in recording order down each column, edges as
// curves with their operand position, each NameScope's entries framed with its name. Node groups
// carry the ids and classes Graphviz gives them, so the page's script treats both alike.
std::string builtin_svg(const detail::TapeGraph& graph, int64_t target, std::span<const int64_t> sources) {
  constexpr double kCharWidth = 7.2, kLineHeight = 15, kPadding = 8, kColumnGap = 70, kRowGap = 18, kMargin = 16;
  const size_t count = graph.nodes.size();
  std::vector<size_t> depth(count, 0);
  for (const auto& edge : graph.edges) depth[edge.to] = std::max(depth[edge.to], depth[edge.from] + 1);
  const size_t columns = count == 0 ? 0 : *std::ranges::max_element(depth) + 1;

  struct Box {
    double x = 0, y = 0, width = 0, height = 0;
  };
  std::vector<Box> boxes(count);
  std::vector<std::vector<std::string>> lines(count);
  for (size_t n = 0; n < count; ++n) {
    const auto& node = graph.nodes[n];
    lines[n] = {node.title};
    if (!node.detail.empty()) lines[n].push_back(node.detail);
    size_t widest = 0;
    for (const auto& line : lines[n]) widest = std::max(widest, line.size());
    boxes[n].width = static_cast<double>(widest) * kCharWidth + 2 * kPadding;
    boxes[n].height = static_cast<double>(lines[n].size()) * kLineHeight + 2 * kPadding;
  }
  // Columns left to right, each as wide as its widest node; nodes stacked in recording order.
  double x = kMargin, height = 0;
  for (size_t c = 0; c < columns; ++c) {
    double width = 0, y = kMargin + 18;  // room for a cluster's name above the first row
    for (size_t n = 0; n < count; ++n) {
      if (depth[n] != c) continue;
      width = std::max(width, boxes[n].width);
      boxes[n].x = x;
      boxes[n].y = y;
      y += boxes[n].height + kRowGap;
    }
    for (size_t n = 0; n < count; ++n) {
      if (depth[n] == c) boxes[n].x += (width - boxes[n].width) / 2;
    }
    height = std::max(height, y);
    x += width + kColumnGap;
  }
  const double width = std::max(x - kColumnGap + kMargin, 2 * kMargin);
  height = std::max(height + kMargin, 2 * kMargin);

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"builtin-layout\" width=\"{0:.0f}pt\" height=\"{1:.0f}pt\" "
      "viewBox=\"0 0 {0:.0f} {1:.0f}\">\n"
      "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" "
      "orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\"/></marker></defs>\n"
      "<g id=\"graph0\" class=\"graph\" font-family=\"monospace\" font-size=\"12\">\n",
      width, height);
  // Clusters: a dashed frame around their members.
  for (size_t c = 0; c < graph.clusters.size(); ++c) {
    double left = 1e300, top = 1e300, right = -1e300, bottom = -1e300;
    for (size_t n = 0; n < count; ++n) {
      if (graph.nodes[n].cluster != static_cast<int>(c)) continue;
      left = std::min(left, boxes[n].x);
      top = std::min(top, boxes[n].y);
      right = std::max(right, boxes[n].x + boxes[n].width);
      bottom = std::max(bottom, boxes[n].y + boxes[n].height);
    }
    if (left > right) continue;
    svg += fmt::format("<g id=\"cluster_{0}\" class=\"cluster\"><title>cluster_{0}</title>"
                       "<rect x=\"{1:.1f}\" y=\"{2:.1f}\" width=\"{3:.1f}\" height=\"{4:.1f}\" rx=\"8\" fill=\"none\" "
                       "stroke=\"#888\" stroke-dasharray=\"5,3\"/>"
                       "<text x=\"{5:.1f}\" y=\"{6:.1f}\" text-anchor=\"middle\" fill=\"#555\">{7}</text></g>\n",
                       c, left - 8, top - 8, right - left + 16, bottom - top + 16, (left + right) / 2, top - 12,
                       xml_escape(graph.clusters[c]));
  }
  for (size_t k = 0; k < graph.edges.size(); ++k) {
    const auto& edge = graph.edges[k];
    const Box &from = boxes[edge.from], &to = boxes[edge.to];
    const double x1 = from.x + from.width, y1 = from.y + from.height / 2, x2 = to.x, y2 = to.y + to.height / 2;
    const double bend = std::max((x2 - x1) / 2, 20.0);
    svg += fmt::format(
        "<g id=\"edge{}\" class=\"edge\"><title>{}&#45;&gt;{}</title>"
        "<path d=\"M{:.1f},{:.1f} C{:.1f},{:.1f} {:.1f},{:.1f} {:.1f},{:.1f}\" fill=\"none\" stroke=\"black\" "
        "marker-end=\"url(#arrow)\"/>",
        k + 1, graph.nodes[edge.from].name, graph.nodes[edge.to].name, x1, y1, x1 + bend, y1, x2 - bend, y2, x2, y2);
    if (edge.labelled) {
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\" fill=\"#555\">{}</text>", x2 - 12, y2 - 4,
                         edge.operand);
    }
    svg += "</g>\n";
  }
  for (size_t n = 0; n < count; ++n) {
    const auto& node = graph.nodes[n];
    const Box& box = boxes[n];
    const bool source = std::ranges::find(sources, static_cast<int64_t>(n)) != sources.end();
    const std::string fill = source ? "#d8ecff" : "white";
    const std::string stroke = static_cast<int64_t>(n) == target ? "#c0392b" : "black";
    const double stroke_width = node.kind == detail::TapeGraph::Kind::constant ? 1 : source ? 2.5 : 1.5;
    svg += fmt::format("<g id=\"{0}\" class=\"node\"><title>{0}</title>", node.name);
    if (node.kind == detail::TapeGraph::Kind::entry) {
      svg += fmt::format("<polygon points=\"{0:.1f},{1:.1f} {2:.1f},{1:.1f} {2:.1f},{3:.1f} {0:.1f},{3:.1f}\" "
                         "fill=\"{4}\" stroke=\"{5}\" stroke-width=\"{6}\"/>",
                         box.x, box.y, box.x + box.width, box.y + box.height, fill, stroke, stroke_width);
      if (static_cast<int64_t>(n) == target) {
        svg += fmt::format("<polygon points=\"{0:.1f},{1:.1f} {2:.1f},{1:.1f} {2:.1f},{3:.1f} {0:.1f},{3:.1f}\" "
                           "fill=\"none\" stroke=\"{4}\"/>",
                           box.x - 4, box.y - 4, box.x + box.width + 4, box.y + box.height + 4, stroke);
      }
    } else {
      svg += fmt::format("<ellipse cx=\"{:.1f}\" cy=\"{:.1f}\" rx=\"{:.1f}\" ry=\"{:.1f}\" fill=\"{}\" stroke=\"{}\" "
                         "stroke-width=\"{}\"/>",
                         box.x + box.width / 2, box.y + box.height / 2, box.width / 2 + 6, box.height / 2, fill, stroke,
                         stroke_width);
    }
    for (size_t l = 0; l < lines[n].size(); ++l) {
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>", box.x + box.width / 2,
                         box.y + kPadding + kLineHeight * (static_cast<double>(l) + 0.8), xml_escape(lines[n][l]));
    }
    svg += "</g>\n";
  }
  return svg + "</g>\n</svg>\n";
}

// ---- The page.

// The page's style and script: plain CSS and JavaScript, no library, nothing fetched.
constexpr const char* kStyle = R"css(
body { font-family: system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { padding: 10px 18px; background: #2c3e50; color: white; }
header h1 { font-size: 20px; margin: 0 0 4px 0; }
header p { margin: 0; font-size: 13px; color: #dde; }
main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(340px, 2fr); gap: 14px; padding: 14px 18px; }
section { background: white; border: 1px solid #ddd; border-radius: 6px; padding: 10px 12px; }
h2 { font-size: 15px; margin: 0 0 8px 0; }
#graph svg { max-width: 100%; height: auto; }
#graph g.node.current polygon, #graph g.node.current ellipse { stroke: #e67e22; stroke-width: 4; fill: #fff3d6; }
#graph g.node.future { opacity: 0.25; }
#graph g.node.has-grad polygon, #graph g.node.has-grad ellipse { fill: #e3f6e3; }
#graph g.node.current.has-grad polygon, #graph g.node.current.has-grad ellipse { fill: #fff3d6; }
#graph g.node.input polygon, #graph g.node.input ellipse { stroke: #27ae60; stroke-width: 3; }
#controls { display: flex; gap: 6px; align-items: center; margin-bottom: 8px; flex-wrap: wrap; }
#controls button { font-size: 14px; padding: 3px 10px; }
#position { font-size: 13px; color: #555; margin-left: 6px; }
#entries { font-family: monospace; font-size: 13px; margin: 0; padding-left: 0; list-style: none; }
#entries li { padding: 2px 6px; border-radius: 3px; white-space: pre-wrap; }
#entries li.current { background: #fff3d6; outline: 2px solid #e67e22; }
#entries li.future { color: #bbb; }
#entries li.swept { color: #2e7d32; }
#step-title { font-weight: 600; margin: 6px 0; }
table { border-collapse: collapse; font-family: monospace; font-size: 13px; width: 100%; }
td, th { border-bottom: 1px solid #eee; padding: 2px 6px; text-align: left; vertical-align: top; }
th { font-weight: normal; color: #555; white-space: nowrap; }
tr.changed td.adjoint { background: #e3f6e3; font-weight: 600; }
tr.source th::after { content: " (source)"; color: #1f6fb2; }
td.status { color: #888; font-family: system-ui, sans-serif; }
.hint { font-size: 12px; color: #666; }
)css";

constexpr const char* kScript = R"js(
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('tape-data').textContent);
  const entries = data.entries, sweep = data.sweep;
  const forward = entries.length;     // states 0 .. forward-1: entry k recorded
  const seedState = forward;          // the sweep starts: the target's adjoint is the seed
  const last = forward + sweep.length;  // states forward+1+j: sweep step j done
  let state = 0;
  const el = (id) => document.getElementById(id);
  const label = (node) => (data.nodes[node] ? data.nodes[node].label : node);
  function text(tag, content, cls) {
    const e = document.createElement(tag);
    e.textContent = content;
    if (cls) e.className = cls;
    return e;
  }
  function row(name, value, cls) {
    const tr = document.createElement('tr');
    if (cls) tr.className = cls;
    tr.appendChild(text('th', name));
    tr.appendChild(text('td', value, 'value'));
    return tr;
  }
  function graphNode(name) {
    const g = document.querySelector('#graph svg g.node[id="' + name + '"]');
    return g;
  }
  function setClass(name, cls, on) {
    const g = graphNode(name);
    if (g) g.classList.toggle(cls, on);
  }
  // The running adjoints after sweep step j (-1: only the seed), and the nodes step j changed.
  function adjointsAfter(j) {
    const adjoints = {};
    adjoints[data.target] = data.seed;
    for (let k = 0; k <= j; ++k) Object.assign(adjoints, sweep[k].totals);
    return adjoints;
  }
  function render() {
    const inSweep = state >= seedState;
    const j = state - seedState - 1;  // the sweep step just done (-1: none yet)
    const currentEntry = state < forward ? state : j >= 0 ? sweep[j].entry : -1;
    document.body.dataset.state = String(state);
    document.body.dataset.phase = state < forward ? 'forward' : j < 0 ? 'seed' : 'backward';
    document.body.dataset.entry = String(currentEntry);
    el('position').textContent = 'step ' + state + ' of ' + last;
    el('prev').disabled = state === 0;
    el('first').disabled = state === 0;
    el('next').disabled = state === last;
    el('end').disabled = state === last;
    const sweptEntries = new Set();
    for (let k = 0; k <= j; ++k) sweptEntries.add(sweep[k].entry);
    entries.forEach((entry, k) => {
      const li = el('entry-' + k);
      li.classList.toggle('current', k === currentEntry);
      li.classList.toggle('future', !inSweep && k > state);
      li.classList.toggle('swept', sweptEntries.has(k) && k !== currentEntry);
      setClass(entry.node, 'current', k === currentEntry);
      setClass(entry.node, 'future', !inSweep && k > state);
    });
    Object.keys(data.nodes).forEach((name) => setClass(name, 'input', false));
    const detail = el('step-detail');
    detail.replaceChildren();
    const adjoints = inSweep ? adjointsAfter(j) : {};
    Object.keys(data.nodes).forEach((name) => setClass(name, 'has-grad', name in adjoints));
    if (!inSweep) {
      const entry = entries[state];
      el('step-title').textContent = 'Recording entry [' + state + ']: ' + entry.line;
      detail.appendChild(row('value', entry.value));
      entry.inputs.forEach((input, i) => setClass(input, 'input', true));
    } else if (j < 0) {
      el('step-title').textContent = 'The sweep starts at the target ' + label(data.target) +
          ': its adjoint is the seed (ones: the gradient of the sum of the target)';
      detail.appendChild(row('d/d ' + label(data.target), data.seed));
    } else {
      const step = sweep[j];
      el('step-title').textContent = 'Backward step ' + (j + 1) + ' of ' + sweep.length + ': ' +
          entries[step.entry].line;
      detail.appendChild(row('upstream', step.upstream, 'upstream'));
      step.inputs.forEach((input, i) => {
        detail.appendChild(row('operand ' + i + ': d/d ' + label(input.node),
                               input.grad === null ? '(not needed)' : input.grad, 'input-grad'));
        if (input.grad !== null) setClass(input.node, 'input', true);
      });
    }
    const table = el('adjoints');
    table.replaceChildren();
    const changed = j >= 0 ? sweep[j].totals : (inSweep ? { [data.target]: data.seed } : {});
    data.order.forEach((name) => {
      const node = data.nodes[name];
      const tr = document.createElement('tr');
      tr.dataset.node = name;
      if (node.source) tr.classList.add('source');
      if (name in changed) tr.classList.add('changed');
      tr.appendChild(text('th', node.label));
      tr.appendChild(text('td', name in adjoints ? adjoints[name] : '', 'adjoint'));
      const done = name in adjoints && (node.producer === null
          ? j === sweep.length - 1
          : j >= 0 && sweep.slice(0, j + 1).some((s) => s.entry === node.producer));
      tr.appendChild(text('td', !(name in adjoints) ? '' : done ? 'final' : 'running', 'status'));
      table.appendChild(tr);
    });
    if (location.hash !== '#step=' + state) {
      try {
        history.replaceState(null, '', '#step=' + state);  // a link to this step
      } catch (e) {
        // some browsers refuse it for file: pages; the page works without
      }
    }
  }
  function go(s) {
    state = Math.max(0, Math.min(last, s));
    render();
  }
  function fromHash() {
    const m = /step=(end|\d+)/.exec(location.hash);
    if (m) go(m[1] === 'end' ? last : parseInt(m[1], 10));
    else go(0);
  }
  el('first').addEventListener('click', () => go(0));
  el('prev').addEventListener('click', () => go(state - 1));
  el('next').addEventListener('click', () => go(state + 1));
  el('end').addEventListener('click', () => go(last));
  el('sweep').addEventListener('click', () => go(seedState));
  document.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowRight') go(state + 1);
    else if (event.key === 'ArrowLeft') go(state - 1);
    else if (event.key === 'Home') go(0);
    else if (event.key === 'End') go(last);
  });
  window.addEventListener('hashchange', () => {
    if (location.hash !== '#step=' + state) fromHash();
  });
  fromHash();
})();
)js";

// The page of to_html; `op` (to_html or save_html, the function the user called) names it in errors.
std::string explorer_page(GradientTape& tape, const Tensor& target, std::span<const Source> sources,
                          const HtmlOptions& options, const char* op) {
  if (!target.defined()) fail("{}: the target is an undefined tensor; expected a tensor the tape recorded", op);
  if (!is_floating(target.dtype())) {
    fail("{}: target is {} {}, expected a float tensor", op, target.shape(), dtype_name(target.dtype()));
  }
  const detail::TapeGraph graph = detail::tape_graph(tape);
  const int64_t target_node = graph.find(target.id());
  if (target_node < 0 || graph.nodes[static_cast<size_t>(target_node)].kind != detail::TapeGraph::Kind::entry) {
    fail("{}: the target ({} {}) is not an output of the tape's {} entries; expected a tensor the tape "
         "recorded",
         op, target.shape(), dtype_name(target.dtype()), tape.entries().size());
  }
  std::vector<int64_t> source_nodes;
  for (const Source& source : sources) source_nodes.push_back(graph.find(source.id()));

  StepRecorder recorder(tape, graph, options.print);
  std::vector<Tensor> results(sources.size());
  detail::TapeInternals::sweep(tape, target, sources, recorder, results);

  Json nodes = Json::object();
  Json order = Json::array();
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const auto& node = graph.nodes[n];
    const bool source = std::ranges::find(source_nodes, static_cast<int64_t>(n)) != source_nodes.end();
    std::string label = node.kind == detail::TapeGraph::Kind::entry ? fmt::format("[{}]", node.entry) : node.title;
    nodes[node.name] = {
        {"label", label}, {"source", source}, {"producer", node.entry >= 0 ? Json(node.entry) : Json(nullptr)}};
    if (node.kind != detail::TapeGraph::Kind::constant) order.push_back(node.name);
  }
  Json entries = Json::array();
  std::vector<std::string> lines;
  {
    const std::string listing = to_string(tape);
    size_t start = listing.find('\n');
    while (start != std::string::npos) {
      const size_t end = listing.find('\n', start + 1);
      lines.push_back(listing.substr(start + 3, end == std::string::npos ? std::string::npos : end - start - 3));
      start = end;
    }
  }
  for (size_t e = 0; e < tape.entries().size(); ++e) {
    const TapeEntry& entry = tape.entries()[e];
    Json inputs = Json::array();
    for (const EntryInput& input : entry.inputs) {
      const int64_t n = graph.find(input.id);
      inputs.push_back(n >= 0 ? graph.nodes[static_cast<size_t>(n)].name : "");
    }
    entries.push_back({{"line", lines[e]},
                       {"node", fmt::format("e{}", e)},
                       {"value", to_string(entry.output, options.print)},
                       {"inputs", std::move(inputs)}});
  }
  Json data = {{"entries", std::move(entries)},
               {"nodes", std::move(nodes)},
               {"order", std::move(order)},
               {"target", graph.nodes[static_cast<size_t>(target_node)].name},
               {"seed", to_string(ones_like(target), options.print)},
               {"sweep", std::move(recorder.steps)},
               {"gradients", std::move(recorder.gradients)}};
  std::string json = data.dump();
  // Inside a <script> element, "</" could end it early.
  for (size_t at = json.find("</"); at != std::string::npos; at = json.find("</", at + 3)) json.replace(at, 2, "<\\/");

  std::string svg, layout_note;
  if (options.layout != GraphLayout::builtin) {
    std::string error;
    svg = graphviz_svg(detail::dot_text(graph, {}, target_node, source_nodes), error);
    if (svg.empty() && options.layout == GraphLayout::graphviz) {
      fail("{}: layout graphviz: {}; expected Graphviz installed, or layout automatic or builtin", op, error);
    }
    if (!svg.empty()) layout_note = "laid out by Graphviz's dot";
  }
  if (svg.empty()) {
    svg = builtin_svg(graph, target_node, source_nodes);
    layout_note = "laid out by tapegrad (Graphviz's dot was not used)";
  }

  std::string list;
  for (size_t e = 0; e < lines.size(); ++e) {
    list += fmt::format("<li id=\"entry-{}\" data-node=\"e{}\">{}</li>\n", e, e, xml_escape(lines[e]));
  }
  return fmt::format(
      R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="tapegrad::to_html">
<title>{0}</title>
<style>{1}</style>
</head>
<body>
<header><h1>{0}</h1>
<p>Step forward through the recording (each op the program ran appended one entry to the tape), then backward
through the sweep: entries in reverse order, each taking the gradient that reached its output (upstream) and
handing one to each operand, which is added to that operand's running adjoint. Keys: &larr; &rarr; Home End.</p>
</header>
<main>
<section id="graph-panel"><h2>The graph <span class="hint">({2}; the target has a red border, the sources are
blue)</span></h2>
<div id="graph">
{3}</div>
</section>
<section id="side">
<div id="controls">
<button id="first" title="the first entry (Home)">&laquo; first</button>
<button id="prev" title="one step back (&larr;)">&lsaquo; back</button>
<button id="next" title="one step on (&rarr;)">next &rsaquo;</button>
<button id="end" title="the end of the sweep (End)">end &raquo;</button>
<button id="sweep" title="the start of the backward sweep">start the sweep</button>
<span id="position"></span>
</div>
<h2>The tape (Wengert list)</h2>
<ol id="entries">
{4}</ol>
<div id="step-title"></div>
<table id="step-detail"></table>
<h2 style="margin-top:12px">Running adjoints d(sum of target)/d(node)</h2>
<table><tbody id="adjoints"></tbody></table>
</section>
</main>
<script type="application/json" id="tape-data">{5}</script>
<script>{6}</script>
</body>
</html>
)html",
      xml_escape(options.title), kStyle, layout_note, svg, list, json, kScript);
}

}  // namespace

std::string to_html(GradientTape& tape, const Tensor& target, std::span<const Source> sources,
                    const HtmlOptions& options) {
  return explorer_page(tape, target, sources, options, "to_html");
}

void save_html(const std::string& path, GradientTape& tape, const Tensor& target, std::span<const Source> sources,
               const HtmlOptions& options) {
  const std::string html = explorer_page(tape, target, sources, options, "save_html");
  detail::AtomicFile file(path, "save_html");
  file.write(std::as_bytes(std::span(html)));
  file.commit();
}

}  // namespace tapegrad
