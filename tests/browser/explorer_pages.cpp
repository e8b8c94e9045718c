// Writes tape explorer pages (tapegrad::save_html) for check_explorer.py to open in a browser, and
// beside them expected.json: for each page, the sources' gradients as GradientTape::gradient returned
// them, the number of entries and of backward steps. Pages: y = (x*w + b)^2, one kernel-learning step,
// and y = log(x1) + x1*x2 - sin(x2), each laid out by tapegrad (builtin) and, when Graphviz's dot is
// installed, by dot.
//
//   explorer_pages DIR

#include <tapegrad/tapegrad.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

using namespace tapegrad;
using Json = nlohmann::ordered_json;

namespace {

struct Example {
  std::string name;
  std::string title;
  // Records on `tape` and returns the target and the sources, named as the page names them.
  std::function<void(GradientTape& tape, Tensor& target, std::vector<Source>& sources, std::vector<std::string>& names)>
      record;
};

Json values(const Tensor& t) {
  Json out = Json::array();
  for (double v : t.to_vector()) out.push_back(v);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fmt::print(stderr, "usage: explorer_pages DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  const bool have_dot = std::system("command -v dot > /dev/null 2>&1") == 0;
  const std::vector<Example> examples = {
      {"affine", "y = (x*w + b)^2",
       [](GradientTape& tape, Tensor& target, std::vector<Source>& sources, std::vector<std::string>& names) {
         const Tensor x = Tensor::scalar(2, DType::float64), w = Tensor::scalar(3, DType::float64);
         const Tensor b = Tensor::scalar(1, DType::float64);
         tape.watch(x, "x");
         tape.watch(w, "w");
         tape.watch(b, "b");
         target = square(x * w + b);
         sources = {x, w, b};
         names = {"x", "w", "b"};
       }},
      {"kernel", "one kernel-learning step",
       [](GradientTape& tape, Tensor& target, std::vector<Source>& sources, std::vector<std::string>& names) {
         const Tensor X = ones({6, 8}, DType::float64).with({all, {2, 6}}, 0);
         const Tensor Y = corr2d(X, Tensor({1, -1}, {1, 2}, DType::float64));
         const Variable K(Tensor({0.5, -0.25}, {1, 2}, DType::float64), "K");
         tape.watch(K);
         target = pow(abs(corr2d(X, K) - Y), 2);
         sources = {K};
         names = {"variable K"};  // as the page labels a variable
       }},
      {"order", "y = log(x1) + x1*x2 - sin(x2)",
       [](GradientTape& tape, Tensor& target, std::vector<Source>& sources, std::vector<std::string>& names) {
         const Tensor x1 = Tensor::scalar(2, DType::float64), x2 = Tensor::scalar(5, DType::float64);
         tape.watch(x1, "x1");
         tape.watch(x2, "x2");
         target = log(x1) + x1 * x2 - sin(x2);
         sources = {x1, x2};
         names = {"x1", "x2"};
       }},
  };
  Json expected = Json::array();
  for (const Example& example : examples) {
    for (const GraphLayout layout : {GraphLayout::builtin, GraphLayout::graphviz}) {
      if (layout == GraphLayout::graphviz && !have_dot) continue;
      const std::string layout_name = layout == GraphLayout::builtin ? "builtin" : "graphviz";
      GradientTape tape({.persistent = true, .watch_accessed_variables = false});
      Tensor target;
      std::vector<Source> sources;
      std::vector<std::string> names;
      example.record(tape, target, sources, names);
      // What the page must show: the gradients the tape's gradient call returns.
      size_t steps = 0;
      GradientOptions options;
      options.trace = [&](const std::string&) { ++steps; };
      const std::vector<Tensor> grads = tape.gradient(target, std::span<const Source>(sources), options);
      // The number of entries: the lines of the tape's listing under its heading.
      const std::string listing = to_string(tape);
      const auto entries = std::count(listing.begin(), listing.end(), '\n');
      const std::string file = fmt::format("{}-{}.html", example.name, layout_name);
      save_html(dir + "/" + file, tape, target, std::span<const Source>(sources),
                {.title = example.title, .layout = layout, .print = {.threshold = 1000, .edgeitems = 3}});
      Json gradients = Json::object();
      for (size_t i = 0; i < names.size(); ++i) gradients[names[i]] = values(grads[i]);
      expected.push_back({{"file", file},
                          {"layout", layout_name},
                          {"entries", entries},
                          {"steps", steps - 1},  // the trace's last text is the gradients
                          {"gradients", std::move(gradients)}});
    }
  }
  std::ofstream(dir + "/expected.json") << expected.dump(2) << "\n";
  fmt::print("wrote {} pages to {}{}\n", expected.size(), dir,
             have_dot ? "" : " (Graphviz's dot is missing: builtin layout only)");
  return 0;
}
