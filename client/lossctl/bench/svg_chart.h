// Small self-contained SVG line charts (no scripts, no fonts, no network),
// for the bench report.

#ifndef LOSSCTL_BENCH_SVG_CHART_H_
#define LOSSCTL_BENCH_SVG_CHART_H_

#include <string>
#include <vector>

namespace lossctl::bench {

struct ChartPoint {
  double x = 0;
  double y = 0;
  std::string label;  // Drawn beside the point (may be empty).
};

struct ChartSeries {
  std::string name;
  std::string color;  // CSS colour.
  bool dashed = false;
  std::vector<ChartPoint> points;  // Joined in the given order.
};

struct ChartSpec {
  std::string title;
  std::string x_label;
  std::string y_label;
  // Logarithmic y axis; chosen automatically when the data span more than
  // a factor of 20 and `automatic_log_y` is set.
  bool automatic_log_y = true;
  int width = 760;
  int height = 430;
  std::vector<ChartSeries> series;
};

// An <svg> element. Points with non-finite coordinates (or y <= 0 on a log
// axis) are skipped.
std::string RenderSvgChart(const ChartSpec& spec);

// Ticks at 1, 2 or 5 times a power of ten covering [low, high] (about
// `target` of them).
std::vector<double> NiceTicks(double low, double high, int target);

// Escapes &, <, >, " for HTML and SVG text.
std::string EscapeHtml(const std::string& text);

}  // namespace lossctl::bench

#endif  // LOSSCTL_BENCH_SVG_CHART_H_
