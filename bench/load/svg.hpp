#pragma once
// Minimal SVG line charts for REPORT.md (no plotting library is available, and the
// charts are simple): axes with round-number ticks, optional log-scale y, optional
// categorical x labels, one polyline with markers per series, a legend.

#include <string>
#include <utility>
#include <vector>

namespace spanline::load {

struct ChartSeries {
  std::string label;
  std::vector<std::pair<double, double>> points;  // (x, y); y <= 0 is skipped on a log axis
};

struct ChartSpec {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_y = false;
  std::vector<std::string> x_categories;  // when set, x values are indices into it
  int width = 820;
  int height = 420;
};

std::string render_line_chart(const ChartSpec& spec, const std::vector<ChartSeries>& series);

// Round tick values covering [lo, hi] (about `target` of them, steps of 1/2/5 x 10^k).
std::vector<double> nice_ticks(double lo, double hi, int target = 6);
// "&", "<", ">" and quotes escaped.
std::string xml_escape(std::string_view text);

}  // namespace spanline::load
