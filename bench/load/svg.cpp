#include "svg.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>

namespace spanline::load {

namespace {

constexpr std::array<const char*, 8> kColors{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                             "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// A compact tick label: 1.5k, 2M, 0.25, 1e-06.
std::string tick_label(double v) {
  const double a = std::fabs(v);
  if (a >= 1e9) return fmt("%gG", v / 1e9);
  if (a >= 1e6) return fmt("%gM", v / 1e6);
  if (a >= 1e4) return fmt("%gk", v / 1e3);
  return fmt("%g", v);
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
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
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string render_line_chart(const ChartSpec& spec, const std::vector<ChartSeries>& series) {
  const double left = 80, right = 180, top = 40, bottom = 55;
  const double w = spec.width - left - right;
  const double h = spec.height - top - bottom;

  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin;
  double ymin = std::numeric_limits<double>::infinity(), ymax = -ymin;
  for (const auto& s : series) {
    for (auto [x, y] : s.points) {
      if (spec.log_y && !(y > 0)) continue;
      xmin = std::min(xmin, x);
      xmax = std::max(xmax, x);
      ymin = std::min(ymin, y);
      ymax = std::max(ymax, y);
    }
  }
  if (!spec.x_categories.empty()) {
    xmin = 0;
    xmax = static_cast<double>(spec.x_categories.size() - 1);
  }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1;
  // No point to show (e.g. no run recorded a latency): an empty frame. On a log axis the
  // range must stay positive, or its decades would run from log10(0) = -inf.
  if (!std::isfinite(ymin)) ymin = spec.log_y ? 1 : 0, ymax = spec.log_y ? 10 : 1;
  if (xmax <= xmin) xmax = xmin + 1;

  std::vector<double> yticks;
  double ylo, yhi;  // in axis space (log10 when log_y)
  if (spec.log_y) {
    ylo = std::floor(std::log10(ymin));
    yhi = std::ceil(std::log10(ymax));
    if (yhi <= ylo) yhi = ylo + 1;
    for (double e = ylo; e <= yhi; e += 1) yticks.push_back(e);
  } else {
    ymin = std::min(0.0, ymin);
    yticks = nice_ticks(ymin, ymax <= ymin ? ymin + 1 : ymax);
    ylo = yticks.front();
    yhi = std::max(yticks.back(), ymax);
  }
  auto X = [&](double x) { return left + (x - xmin) / (xmax - xmin) * w; };
  auto Y = [&](double y) {
    const double v = spec.log_y ? std::log10(y) : y;
    return top + h - (v - ylo) / (yhi - ylo) * h;
  };

  std::string out;
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(spec.width) + "\" height=\"" +
         std::to_string(spec.height) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out += "<text x=\"" + fmt("%.1f", left + w / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" +
         xml_escape(spec.title) + "</text>\n";

  // grid and y ticks
  for (double t : yticks) {
    const double y = top + h - (t - ylo) / (yhi - ylo) * h;
    out += "<line x1=\"" + fmt("%.1f", left) + "\" x2=\"" + fmt("%.1f", left + w) + "\" y1=\"" +
           fmt("%.1f", y) + "\" y2=\"" + fmt("%.1f", y) + "\" stroke=\"#ddd\"/>\n";
    const std::string label = spec.log_y ? tick_label(std::pow(10.0, t)) : tick_label(t);
    out += "<text x=\"" + fmt("%.1f", left - 6) + "\" y=\"" + fmt("%.1f", y + 4) + "\" text-anchor=\"end\">" +
           xml_escape(label) + "</text>\n";
  }
  // x ticks
  if (!spec.x_categories.empty()) {
    for (std::size_t i = 0; i < spec.x_categories.size(); ++i) {
      const double x = X(static_cast<double>(i));
      out += "<text x=\"" + fmt("%.1f", x) + "\" y=\"" + fmt("%.1f", top + h + 18) +
             "\" text-anchor=\"middle\">" + xml_escape(spec.x_categories[i]) + "</text>\n";
    }
  } else {
    for (double t : nice_ticks(xmin, xmax)) {
      if (t < xmin - 1e-9 || t > xmax + 1e-9) continue;
      const double x = X(t);
      out += "<line x1=\"" + fmt("%.1f", x) + "\" x2=\"" + fmt("%.1f", x) + "\" y1=\"" +
             fmt("%.1f", top + h) + "\" y2=\"" + fmt("%.1f", top + h + 5) + "\" stroke=\"#333\"/>\n";
      out += "<text x=\"" + fmt("%.1f", x) + "\" y=\"" + fmt("%.1f", top + h + 18) +
             "\" text-anchor=\"middle\">" + xml_escape(tick_label(t)) + "</text>\n";
    }
  }
  // axes
  out += "<line x1=\"" + fmt("%.1f", left) + "\" x2=\"" + fmt("%.1f", left) + "\" y1=\"" + fmt("%.1f", top) +
         "\" y2=\"" + fmt("%.1f", top + h) + "\" stroke=\"#333\"/>\n";
  out += "<line x1=\"" + fmt("%.1f", left) + "\" x2=\"" + fmt("%.1f", left + w) + "\" y1=\"" +
         fmt("%.1f", top + h) + "\" y2=\"" + fmt("%.1f", top + h) + "\" stroke=\"#333\"/>\n";
  out += "<text x=\"" + fmt("%.1f", left + w / 2) + "\" y=\"" + fmt("%.1f", top + h + 40) +
         "\" text-anchor=\"middle\">" + xml_escape(spec.x_label) + "</text>\n";
  out += "<text transform=\"translate(18," + fmt("%.1f", top + h / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + xml_escape(spec.y_label) + "</text>\n";

  // series and legend
  for (std::size_t i = 0; i < series.size(); ++i) {
    const char* color = kColors[i % kColors.size()];
    std::string pts;
    std::string marks;
    for (auto [x, y] : series[i].points) {
      if (spec.log_y && !(y > 0)) continue;
      const std::string px = fmt("%.1f", X(x)), py = fmt("%.1f", Y(y));
      pts += px + "," + py + " ";
      marks += "<circle cx=\"" + px + "\" cy=\"" + py + "\" r=\"2.5\" fill=\"" + color + "\"/>";
    }
    out += "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" + std::string(color) + "\" points=\"" +
           pts + "\"/>\n";
    if (series[i].points.size() <= 64) out += marks + "\n";
    const double ly = top + 10 + static_cast<double>(i) * 18;
    out += "<rect x=\"" + fmt("%.1f", left + w + 15) + "\" y=\"" + fmt("%.1f", ly - 9) +
           "\" width=\"12\" height=\"12\" fill=\"" + color + "\"/>";
    out += "<text x=\"" + fmt("%.1f", left + w + 32) + "\" y=\"" + fmt("%.1f", ly + 1) + "\">" +
           xml_escape(series[i].label) + "</text>\n";
  }
  out += "</svg>\n";
  return out;
}

}  // namespace spanline::load
