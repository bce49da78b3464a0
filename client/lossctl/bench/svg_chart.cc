#include "bench/svg_chart.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace lossctl::bench {
namespace {

constexpr int kLeft = 70, kRight = 130, kTop = 40, kBottom = 55;

std::string TickText(double value) {
  if (value == 0) return "0";
  const double magnitude = std::abs(value);
  if (magnitude >= 10000) return absl::StrFormat("%.0fk", value / 1000);
  if (magnitude >= 1) return absl::StrFormat("%g", value);
  return absl::StrFormat("%.3g", value);
}

}  // namespace

std::string EscapeHtml(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::vector<double> NiceTicks(double low, double high, int target) {
  if (!(high > low)) return {low};
  const double raw = (high - low) / std::max(target, 1);
  const double power = std::pow(10, std::floor(std::log10(raw)));
  double step = power;
  for (double factor : {1.0, 2.0, 5.0, 10.0}) {
    step = factor * power;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double t = std::ceil(low / step) * step; t <= high + step * 1e-9;
       t += step) {
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0 : t);
  }
  return ticks;
}

std::string RenderSvgChart(const ChartSpec& spec) {
  double x_max = 0, y_min = INFINITY, y_max = 0;
  for (const ChartSeries& series : spec.series) {
    for (const ChartPoint& p : series.points) {
      if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
      x_max = std::max(x_max, p.x);
      y_max = std::max(y_max, p.y);
      if (p.y > 0) y_min = std::min(y_min, p.y);
    }
  }
  if (x_max <= 0) x_max = 1;
  if (y_max <= 0) y_max = 1;
  if (!std::isfinite(y_min)) y_min = y_max / 10;
  const bool log_y = spec.automatic_log_y && y_max / y_min > 20;

  const double plot_width = spec.width - kLeft - kRight;
  const double plot_height = spec.height - kTop - kBottom;
  const std::vector<double> x_ticks = NiceTicks(0, x_max * 1.05, 6);
  const double x_top = std::max(x_ticks.back(), x_max * 1.05);
  double y_low = 0, y_high = 0;
  std::vector<double> y_ticks;
  if (log_y) {
    y_low = std::pow(10, std::floor(std::log10(y_min)));
    y_high = std::pow(10, std::ceil(std::log10(y_max)));
    for (double decade = y_low; decade <= y_high * 1.0001; decade *= 10) {
      for (double factor : {1.0, 2.0, 5.0}) {
        if (decade * factor <= y_high * 1.0001) {
          y_ticks.push_back(decade * factor);
        }
      }
    }
  } else {
    y_ticks = NiceTicks(0, y_max * 1.1, 6);
    y_high = std::max(y_ticks.back(), y_max * 1.1);
  }
  auto px = [&](double x) { return kLeft + x / x_top * plot_width; };
  auto py = [&](double y) {
    const double fraction = log_y ? (std::log10(y) - std::log10(y_low)) /
                                        (std::log10(y_high) - std::log10(y_low))
                                  : y / y_high;
    return kTop + (1 - fraction) * plot_height;
  };

  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
      "width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
      "font-size=\"12\" role=\"img\">\n",
      spec.width, spec.height, spec.width, spec.height);
  absl::StrAppendFormat(&svg,
                        "<text x=\"%d\" y=\"22\" font-size=\"15\" "
                        "font-weight=\"bold\">%s</text>\n",
                        kLeft, EscapeHtml(spec.title));
  // Grid and tick labels.
  for (double t : x_ticks) {
    absl::StrAppendFormat(
        &svg,
        "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" "
        "stroke=\"#e4e4e4\"/>"
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\">%s"
        "</text>\n",
        px(t), kTop, px(t), kTop + plot_height, px(t), kTop + plot_height + 16,
        TickText(t));
  }
  for (double t : y_ticks) {
    if (log_y && t < y_low) continue;
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                          "stroke=\"#e4e4e4\"/>"
                          "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" "
                          "fill=\"#555\">%s</text>\n",
                          kLeft, py(t), kLeft + plot_width, py(t), kLeft - 6,
                          py(t) + 4, TickText(t));
  }
  absl::StrAppendFormat(
      &svg,
      "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
      "stroke=\"#888\"/>\n",
      kLeft, kTop, plot_width, plot_height);
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s"
                        "</text>\n",
                        kLeft + plot_width / 2, spec.height - 12,
                        EscapeHtml(spec.x_label));
  absl::StrAppendFormat(&svg,
                        "<text transform=\"translate(16 %.1f) rotate(-90)\" "
                        "text-anchor=\"middle\">%s%s</text>\n",
                        kTop + plot_height / 2, EscapeHtml(spec.y_label),
                        log_y ? " (log scale)" : "");

  // Series, then the legend on the right.
  int legend_row = 0;
  for (const ChartSeries& series : spec.series) {
    std::string path;
    std::string markers;
    for (const ChartPoint& p : series.points) {
      if (!std::isfinite(p.x) || !std::isfinite(p.y) || (log_y && p.y <= 0)) {
        continue;
      }
      absl::StrAppendFormat(&path, "%s%.1f,%.1f", path.empty() ? "" : " ",
                            px(p.x), py(p.y));
      absl::StrAppendFormat(
          &markers,
          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\">"
          "<title>%s: %s, x %.4g, y %.4g</title></circle>\n",
          px(p.x), py(p.y), series.color, EscapeHtml(series.name),
          EscapeHtml(p.label), p.x, p.y);
      if (!p.label.empty()) {
        absl::StrAppendFormat(&markers,
                              "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" "
                              "fill=\"%s\">%s</text>\n",
                              px(p.x) + 5, py(p.y) - 5, series.color,
                              EscapeHtml(p.label));
      }
    }
    if (!path.empty()) {
      absl::StrAppendFormat(
          &svg,
          "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" "
          "stroke-width=\"2\"%s/>\n",
          path, series.color, series.dashed ? " stroke-dasharray=\"6 4\"" : "");
    }
    svg += markers;
    const double legend_y = kTop + 10 + 20 * legend_row++;
    const double legend_x = kLeft + plot_width + 15;
    absl::StrAppendFormat(
        &svg,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
        "stroke-width=\"2\"%s/><text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
        legend_x, legend_y, legend_x + 24, legend_y, series.color,
        series.dashed ? " stroke-dasharray=\"6 4\"" : "", legend_x + 30,
        legend_y + 4, EscapeHtml(series.name));
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace lossctl::bench
