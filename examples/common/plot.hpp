#pragma once

// Line charts as a standalone SVG file that a browser opens: each chart has axes with "nice" ticks
// (1, 2 or 5 times a power of ten), grid lines, axis labels, a title and a legend. Written by hand,
// with no dependency:
//   examples::Chart loss{.title = "loss", .x_label = "epoch", .y_label = "cross-entropy"};
//   loss.series.push_back({.name = "train", .x = {1, 2, 3}, .y = {0.9, 0.6, 0.5}});
//   write_file("history.svg", examples::to_svg({loss}, "LeNet"));

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace examples {

/// One curve: points (x[i], y[i]) joined by a line; non-finite points are left out.
// NOTE: every member has a default member initializer, `{}` included, so that designated
// initializers may leave any out without GCC's -Wmissing-field-initializers.
struct Series {
  std::string name{};               ///< the legend's text
  std::vector<double> x{};          ///< abscissas, one per point
  std::vector<double> y{};          ///< ordinates, one per point
  std::string color = "#1f77b4";    ///< any CSS colour
  double width = 2.0;               ///< line width in pixels
  bool markers = true;              ///< a dot at each point
  bool dashed = false;              ///< a dashed line
  std::optional<double> opacity{};  ///< default: opaque
};

/// Where a chart's legend sits inside its plotting area.
enum class LegendCorner { top_right, top_left, bottom_right, bottom_left };

/// One chart: its series on shared axes. Unset limits follow the data, widened to whole ticks.
struct Chart {
  std::string title{};                     ///< above the chart
  std::string x_label{};                   ///< below the x axis
  std::string y_label{};                   ///< beside the y axis, turned upright
  std::vector<Series> series{};            ///< drawn in order, the first at the bottom
  std::optional<double> x_min{}, x_max{};  ///< the x axis's range
  std::optional<double> y_min{}, y_max{};  ///< the y axis's range
  std::optional<LegendCorner> legend{};    ///< default: the corner the curves cross least
};

namespace plot_detail {

// `text` with XML's special characters escaped.
inline std::string escape(std::string_view text) {
  std::string out;
  for (const char c : text) {
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

// The tick spacing for about `count` ticks over `span`: 1, 2 or 5 times a power of ten.
inline double nice_step(double span, int count) {
  if (!(span > 0)) return 1.0;
  const double raw = span / count;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double factor : {1.0, 2.0, 5.0}) {
    if (raw <= factor * power * (1 + 1e-9)) return factor * power;
  }
  return 10.0 * power;
}

// An axis: its range and the ticks inside it.
struct Axis {
  double low = 0.0, high = 1.0;
  std::vector<double> ticks;
};

// An axis over [data_low, data_high], widened to whole steps unless a limit is given.
inline Axis make_axis(double data_low, double data_high, std::optional<double> low, std::optional<double> high,
                      int count) {
  if (!std::isfinite(data_low) || !std::isfinite(data_high)) {  // no finite point: a unit range
    data_low = 0.0;
    data_high = 1.0;
  }
  double from = low.value_or(data_low), to = high.value_or(data_high);
  if (!(to > from)) {  // one value (or none): a range around it
    const double half = std::max(0.5, std::abs(from) * 0.1);
    from -= half;
    to = from + 2 * half;
  }
  const double step = nice_step(to - from, count);
  if (!low) from = std::floor(from / step + 1e-9) * step;
  if (!high) to = std::ceil(to / step - 1e-9) * step;
  Axis axis{from, to, {}};
  const double first = std::ceil(from / step - 1e-9) * step;
  for (int k = 0; k <= 4 * count; ++k) {  // bounded, whatever rounding does to huge values
    const double tick = first + k * step;
    if (tick > to + step * 1e-9) break;
    axis.ticks.push_back(std::abs(tick) < step * 1e-9 ? 0.0 : tick);  // no "-0"
  }
  return axis;
}

// A tick's label: as short as the step allows (0.25, 1.5, 10).
inline std::string tick_label(double value) { return fmt::format("{:.6g}", value); }

// One chart drawn with its top-left corner at (left, top), `width` x `height` pixels.
inline std::string chart_svg(const Chart& chart, double left, double top, double width, double height) {
  constexpr double kMarginLeft = 62, kMarginRight = 18, kMarginTop = 34, kMarginBottom = 48;
  const double x0 = left + kMarginLeft, x1 = left + width - kMarginRight;
  const double y0 = top + height - kMarginBottom, y1 = top + kMarginTop;  // y0: bottom edge of the plot

  double data_x_low = std::numeric_limits<double>::infinity(), data_x_high = -data_x_low;
  double data_y_low = data_x_low, data_y_high = data_x_high;
  for (const Series& series : chart.series) {
    for (size_t i = 0; i < std::min(series.x.size(), series.y.size()); ++i) {
      if (!std::isfinite(series.x[i]) || !std::isfinite(series.y[i])) continue;
      data_x_low = std::min(data_x_low, series.x[i]);
      data_x_high = std::max(data_x_high, series.x[i]);
      data_y_low = std::min(data_y_low, series.y[i]);
      data_y_high = std::max(data_y_high, series.y[i]);
    }
  }
  const Axis x_axis = make_axis(data_x_low, data_x_high, chart.x_min, chart.x_max, 8);
  const Axis y_axis = make_axis(data_y_low, data_y_high, chart.y_min, chart.y_max, 6);
  const auto px = [&](double x) { return x0 + (x - x_axis.low) / (x_axis.high - x_axis.low) * (x1 - x0); };
  const auto py = [&](double y) { return y0 - (y - y_axis.low) / (y_axis.high - y_axis.low) * (y0 - y1); };

  std::string svg;
  const std::string clip = fmt::format("plot{}x{}", static_cast<int>(left), static_cast<int>(top));
  // The clip leaves room for the dots of points on the axes' ends.
  svg += fmt::format(
      "<clipPath id=\"{}\"><rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\"/></clipPath>\n", clip,
      x0 - 5, y1 - 5, x1 - x0 + 10, y0 - y1 + 10);
  svg += fmt::format(
      "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
      (x0 + x1) / 2, top + 22, escape(chart.title));

  // Grid lines and ticks with their labels.
  for (const double tick : x_axis.ticks) {
    const double x = px(tick);
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#e5e5e5\"/>\n", x,
                       y0, y1);
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#333\"/>\n", x, y0,
                       y0 + 5);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"12\">{}</text>\n", x,
                       y0 + 19, tick_label(tick));
  }
  for (const double tick : y_axis.ticks) {
    const double y = py(tick);
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#e5e5e5\"/>\n", x0,
                       y, x1);
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#333\"/>\n", x0 - 5,
                       y, x0);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" font-size=\"12\">{}</text>\n", x0 - 8,
                       y + 4, tick_label(tick));
  }
  // The axes and their labels.
  svg += fmt::format("<path d=\"M{:.1f},{:.1f} V{:.1f} H{:.1f}\" fill=\"none\" stroke=\"#333\"/>\n", x0, y1, y0, x1);
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n",
                     (x0 + x1) / 2, y0 + 38, escape(chart.x_label));
  svg += fmt::format(
      "<text transform=\"translate({:.1f},{:.1f}) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n",
      left + 16, (y0 + y1) / 2, escape(chart.y_label));

  // The curves, clipped to the plotting area.
  svg += fmt::format("<g clip-path=\"url(#{})\">\n", clip);
  for (const Series& series : chart.series) {
    const std::string style =
        fmt::format("stroke=\"{}\" stroke-width=\"{}\"{}{}", escape(series.color), series.width,
                    series.dashed ? " stroke-dasharray=\"6,4\"" : "",
                    series.opacity ? fmt::format(" opacity=\"{}\"", *series.opacity) : std::string());
    std::string points, dots;
    for (size_t i = 0; i < std::min(series.x.size(), series.y.size()); ++i) {
      if (!std::isfinite(series.x[i]) || !std::isfinite(series.y[i])) continue;
      points += fmt::format("{}{:.1f},{:.1f}", points.empty() ? "" : " ", px(series.x[i]), py(series.y[i]));
      if (series.markers) {
        dots += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\"/>\n", px(series.x[i]),
                            py(series.y[i]), escape(series.color));
      }
    }
    if (!points.empty()) svg += fmt::format("<polyline fill=\"none\" {} points=\"{}\"/>\n", style, points);
    svg += dots;
  }
  svg += "</g>\n";

  // The legend: a white box with a line sample and the name of each series.
  if (!chart.series.empty()) {
    constexpr double kRow = 18, kPad = 8, kSample = 22;
    size_t longest = 0;
    for (const Series& series : chart.series) longest = std::max(longest, series.name.size());
    const double box_width = kPad * 3 + kSample + 7.0 * static_cast<double>(longest);
    const double box_height = kPad * 2 + kRow * static_cast<double>(chart.series.size()) - 4;
    const auto corner_box = [&](LegendCorner corner) {
      const bool right = corner == LegendCorner::top_right || corner == LegendCorner::bottom_right;
      const bool upper = corner == LegendCorner::top_right || corner == LegendCorner::top_left;
      return std::array<double, 2>{right ? x1 - 10 - box_width : x0 + 10, upper ? y1 + 10 : y0 - 10 - box_height};
    };
    // Without a chosen corner: the one whose box covers the fewest points of the curves, sampled
    // every few pixels along each line (ties go to the earlier corner of LegendCorner).
    LegendCorner best = chart.legend.value_or(LegendCorner::top_right);
    if (!chart.legend) {
      int64_t fewest = std::numeric_limits<int64_t>::max();
      for (const LegendCorner corner :
           {LegendCorner::top_right, LegendCorner::top_left, LegendCorner::bottom_right, LegendCorner::bottom_left}) {
        const std::array<double, 2> box = corner_box(corner);
        const double cx = box[0], cy = box[1];  // not a structured binding: clang 16 captures none under OpenMP
        const auto inside = [&](double x, double y) {
          return x >= cx - 4 && x <= cx + box_width + 4 && y >= cy - 4 && y <= cy + box_height + 4;
        };
        int64_t covered = 0;
        for (const Series& series : chart.series) {
          double last_x = NAN, last_y = NAN;
          for (size_t i = 0; i < std::min(series.x.size(), series.y.size()); ++i) {
            if (!std::isfinite(series.x[i]) || !std::isfinite(series.y[i])) continue;
            const double x = px(series.x[i]), y = py(series.y[i]);
            const int steps = std::isnan(last_x) ? 1 : 1 + static_cast<int>(std::hypot(x - last_x, y - last_y) / 3);
            for (int k = 1; k <= steps; ++k) {
              const double t = static_cast<double>(k) / steps;
              if (std::isnan(last_x) ? inside(x, y) : inside(last_x + t * (x - last_x), last_y + t * (y - last_y))) {
                ++covered;
              }
            }
            last_x = x;
            last_y = y;
          }
        }
        if (covered < fewest) {
          fewest = covered;
          best = corner;
        }
      }
    }
    const auto [bx, by] = corner_box(best);
    svg += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"white\" fill-opacity=\"0.9\" "
        "stroke=\"#bbb\"/>\n",
        bx, by, box_width, box_height);
    for (size_t i = 0; i < chart.series.size(); ++i) {
      const Series& series = chart.series[i];
      const double y = by + kPad + kRow * static_cast<double>(i) + 5;
      svg += fmt::format(
          "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"{}\"{}/>\n",
          bx + kPad, y, bx + kPad + kSample, y, escape(series.color), std::max(series.width, 2.0),
          series.dashed ? " stroke-dasharray=\"6,4\"" : "");
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\">{}</text>\n", bx + kPad * 2 + kSample, y + 4,
                         escape(series.name));
    }
  }
  return svg;
}

}  // namespace plot_detail

/// A standalone SVG document: `title` on top, then `charts` side by side, each `chart_width` x
/// `chart_height` pixels.
inline std::string to_svg(const std::vector<Chart>& charts, std::string_view title, double chart_width = 480,
                          double chart_height = 340) {
  constexpr double kTitle = 34;
  const double width = chart_width * static_cast<double>(std::max<size_t>(charts.size(), 1));
  const double height = chart_height + kTitle;
  std::string svg =
      fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
                  "font-family=\"sans-serif\">\n"
                  "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
                  "<text x=\"{2}\" y=\"24\" text-anchor=\"middle\" font-size=\"17\">{3}</text>\n",
                  width, height, width / 2, plot_detail::escape(title));
  for (size_t i = 0; i < charts.size(); ++i) {
    svg += plot_detail::chart_svg(charts[i], chart_width * static_cast<double>(i), kTitle, chart_width, chart_height);
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace examples
