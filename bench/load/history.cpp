#include "history.hpp"

#include "caller_cost.hpp"
#include "report.hpp"
#include "report_md.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace spanline::load {

namespace json = boost::json;

namespace {

constexpr const char* kZstdCeiling = "zstd-1 ceiling";
constexpr const char* kZstdCost = "zstd-1 CPU per span";
// A change this much for the worse from the run before is flagged in the report.
constexpr double kFlagFraction = 0.10;

std::string f(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

double zstd_ceiling_spans_per_s(const Reference& ref) {
  return ref.bytes_per_span > 0 ? ref.zstd1_bytes_per_s / ref.bytes_per_span : 0;
}

double zstd_us_per_span(const Reference& ref) {
  return ref.zstd1_bytes_per_s > 0 ? ref.bytes_per_span / ref.zstd1_bytes_per_s * 1e6 : 0;
}

std::string scenario_name(const RunResult& r, std::size_t index) {
  return r.name.empty() ? r.target + "-" + std::to_string(index + 1) : r.name;
}

HistoryFigure figure(std::string name, double value, std::string unit, double reference_value = 0,
                     const char* reference = "") {
  HistoryFigure out{std::move(name), value, std::move(unit), std::nullopt, {}};
  if (reference_value > 0) {
    out.ratio = value / reference_value;
    out.reference = reference;
  }
  return out;
}

bool higher_is_better(const std::string& unit) { return unit == "spans/s"; }

std::string format_value(double v, const std::string& unit) {
  if (unit == "spans/s") return format_count(v);
  if (unit == "ns") return format_ns(v <= 0 ? 0 : static_cast<std::uint64_t>(v + 0.5));
  if (unit == "us/span") return f("%.2f µs", v);
  if (unit == "MiB") return f("%.1f MiB", v);
  return f("%.0f", v) + (unit.empty() ? "" : " " + unit);
}

std::string format_ratio(const HistoryFigure& fig) {
  if (!fig.ratio) return "";
  return fig.unit == "spans/s" ? " (" + f("%.1f %%", *fig.ratio * 100) + ")"
                               : " (" + f("%.2fx", *fig.ratio) + ")";
}

// The newest value against the one before: "+3.2 %", bold and marked when worse by more
// than kFlagFraction (or when a count that should be 0 no longer is).
std::string change(double before, double now, const std::string& unit) {
  if (before == now) return "=";
  if (before == 0) return higher_is_better(unit) ? "new" : "**worse (was 0)**";
  const double delta = (now - before) / std::fabs(before);
  const bool worse = higher_is_better(unit) ? delta < -kFlagFraction : delta > kFlagFraction;
  const std::string text = f("%+.1f %%", delta * 100);
  return worse ? "**" + text + " worse**" : text;
}

const json::value& field(const json::object& o, std::string_view key, std::size_t line) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr)
    throw std::runtime_error("history line " + std::to_string(line) + ": no \"" + std::string(key) + "\"");
  return *v;
}

std::string text_field(const json::object& o, std::string_view key, std::size_t line) {
  const json::value& v = field(o, key, line);
  if (!v.is_string())
    throw std::runtime_error("history line " + std::to_string(line) + ": \"" + std::string(key) +
                             "\" is not a string");
  return std::string(v.as_string());
}

double number_field(const json::object& o, std::string_view key, std::size_t line) {
  const json::value& v = field(o, key, line);
  if (!v.is_number())
    throw std::runtime_error("history line " + std::to_string(line) + ": \"" + std::string(key) +
                             "\" is not a number");
  return v.to_number<double>();
}

// Dates are to the second: a quick run and a full one of the same commit started in the same
// second (as in a script that runs both) are still two runs.
bool same_run(const HistoryRun& a, const HistoryRun& b) {
  return a.date == b.date && a.commit == b.commit && a.quick == b.quick && a.local_changes == b.local_changes;
}

std::string short_date(const std::string& iso) {
  // "2026-12-08T03:10:00Z" -> "2026-12-08 03:10"
  if (iso.size() >= 16 && iso[10] == 'T') return iso.substr(0, 10) + " " + iso.substr(11, 5);
  return iso;
}

}  // namespace

MachineInfo machine_from_cpuinfo(std::string_view cpuinfo, unsigned nproc) {
  MachineInfo m{"unknown", nproc};
  std::size_t start = 0;
  while (start < cpuinfo.size()) {
    const std::size_t end = std::min(cpuinfo.find('\n', start), cpuinfo.size());
    const std::string_view line = cpuinfo.substr(start, end - start);
    start = end + 1;
    if (!line.starts_with("model name")) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(colon + 1);
    while (!name.empty() && (name.front() == ' ' || name.front() == '\t')) name.remove_prefix(1);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t' || name.back() == '\r'))
      name.remove_suffix(1);
    if (!name.empty()) m.cpu = std::string(name);
    break;
  }
  return m;
}

MachineInfo this_machine() {
  std::ifstream in("/proc/cpuinfo");
  std::ostringstream text;
  if (in) text << in.rdbuf();
  return machine_from_cpuinfo(text.str(), std::thread::hardware_concurrency());
}

std::vector<HistoryFigure> headline_figures(const std::vector<RunResult>& runs,
                                            const std::optional<Reference>& reference,
                                            const json::value* micro, const json::value* micro_fresh) {
  const double ceiling = reference ? zstd_ceiling_spans_per_s(*reference) : 0;
  const double zstd_us = reference ? zstd_us_per_span(*reference) : 0;
  std::vector<HistoryFigure> out;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunResult& r = runs[i];
    const std::string s = scenario_name(r, i) + "/";
    out.push_back(figure(s + "accepted", r.achieved_rate, "spans/s", ceiling, kZstdCeiling));
    if (r.delivery_known) {
      const double seconds = r.send_seconds + r.drain_seconds;
      const double delivered = seconds > 0 ? static_cast<double>(r.delivered_unique) / seconds : 0;
      out.push_back(figure(s + "delivered", delivered, "spans/s", ceiling, kZstdCeiling));
      out.push_back(figure(s + "lost", static_cast<double>(r.lost), "ids"));
    }
    // Under a 429 storm the ceiling is the requests the host allowed, not zstd.
    if (r.status_429 > 0 && r.request_bound() > 0) {
      out.push_back(figure(s + "request_bound", r.request_bound(), "spans/s"));
      out.push_back(figure(s + "delivered_vs_bound", 100 * r.delivered_rate() / r.request_bound(), "%"));
    }
    out.push_back(figure(s + "dropped",
                         static_cast<double>(r.dropped_local + r.rejected + r.dropped_sidecar_unanswered),
                         "rows"));
    if (r.sent > 0 && r.cpu_seconds > 0) {
      out.push_back(figure(s + "cpu_per_span", r.cpu_seconds * 1e6 / static_cast<double>(r.sent), "us/span",
                           zstd_us, kZstdCost));
    }
    if (r.peak_rss_bytes > 0)
      out.push_back(figure(s + "peak_rss", static_cast<double>(r.peak_rss_bytes) / (1024.0 * 1024.0), "MiB"));
  }
  // The fresh-process measurement is the one the targets are stated for; the full
  // suite's is kept only when there is no fresh one.
  for (const CallerCost& c : caller_costs(micro_fresh, micro_fresh != nullptr ? nullptr : micro)) {
    const std::string s = "caller/" + c.benchmark + "/";
    if (c.p50_net_ns) out.push_back(figure(s + "p50_net", *c.p50_net_ns, "ns"));
    if (c.p99_ns) out.push_back(figure(s + "p99", *c.p99_ns, "ns"));
    if (c.first_p50_ns) out.push_back(figure(s + "first", *c.first_p50_ns, "ns"));
  }
  return out;
}

std::string history_lines(const HistoryRun& run, const std::vector<HistoryFigure>& figures) {
  std::string out;
  for (const HistoryFigure& fig : figures) {
    json::object o;
    o["commit"] = run.commit;
    o["local_changes"] = run.local_changes;
    o["date"] = run.date;
    o["quick"] = run.quick;
    o["machine"] = json::object{{"cpu", run.machine.cpu}, {"nproc", run.machine.nproc}};
    o["figure"] = fig.name;
    // JSON has no infinity or NaN: a figure that is not finite is recorded as 0.
    o["value"] = std::isfinite(fig.value) ? fig.value : 0.0;
    o["unit"] = fig.unit;
    if (fig.ratio && std::isfinite(*fig.ratio)) {
      o["ratio"] = *fig.ratio;
      o["reference"] = fig.reference;
    }
    out += json::serialize(o);
    out += '\n';
  }
  return out;
}

std::vector<HistoryRecord> parse_history(std::string_view text) {
  std::vector<HistoryRecord> out;
  std::size_t start = 0, line_no = 0;
  while (start < text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    boost::system::error_code ec;
    const json::value v = json::parse(line, ec);
    if (ec || !v.is_object())
      throw std::runtime_error("history line " + std::to_string(line_no) + ": not a JSON object");
    const json::object& o = v.as_object();
    HistoryRecord r;
    r.run.commit = text_field(o, "commit", line_no);
    r.run.date = text_field(o, "date", line_no);
    if (const auto* lc = o.if_contains("local_changes"); lc != nullptr && lc->is_bool())
      r.run.local_changes = lc->as_bool();
    if (const auto* q = o.if_contains("quick"); q != nullptr && q->is_bool()) r.run.quick = q->as_bool();
    if (const auto* m = o.if_contains("machine"); m != nullptr && m->is_object()) {
      const auto& mo = m->as_object();
      if (const auto* cpu = mo.if_contains("cpu"); cpu != nullptr && cpu->is_string())
        r.run.machine.cpu = std::string(cpu->as_string());
      if (const auto* n = mo.if_contains("nproc"); n != nullptr && n->is_number())
        r.run.machine.nproc = static_cast<unsigned>(n->to_number<double>());
    }
    r.figure.name = text_field(o, "figure", line_no);
    r.figure.value = number_field(o, "value", line_no);
    r.figure.unit = text_field(o, "unit", line_no);
    if (o.contains("ratio")) {
      r.figure.ratio = number_field(o, "ratio", line_no);
      if (const auto* ref = o.if_contains("reference"); ref != nullptr && ref->is_string())
        r.figure.reference = std::string(ref->as_string());
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::size_t append_history(const std::string& dir, const std::string& history_file, const HistoryRun& run) {
  const ReportInputs in = read_report_inputs(dir);
  const auto figures = headline_figures(in.runs, in.reference, in.micro ? &*in.micro : nullptr,
                                        in.micro_fresh ? &*in.micro_fresh : nullptr);
  if (figures.empty()) throw std::runtime_error("no results in " + dir + " to add to the history");
  std::ofstream out(history_file, std::ios::binary | std::ios::app);
  out << history_lines(run, figures);
  out.flush();
  if (!out) throw std::runtime_error("cannot append to " + history_file);
  return figures.size();
}

void history_section(std::string& md, const std::vector<HistoryRecord>& records, std::size_t last_runs) {
  if (records.empty() || last_runs == 0) return;
  // Runs in file order (appended, so oldest first), then those of the newest run's kind.
  std::vector<HistoryRun> runs;
  for (const HistoryRecord& r : records) {
    const bool known =
        std::any_of(runs.begin(), runs.end(), [&](const HistoryRun& x) { return same_run(x, r.run); });
    if (!known) runs.push_back(r.run);
  }
  const bool quick = runs.back().quick;
  std::erase_if(runs, [&](const HistoryRun& x) { return x.quick != quick; });
  if (runs.size() > last_runs) runs.erase(runs.begin(), runs.end() - static_cast<std::ptrdiff_t>(last_runs));

  // Figures in the newest run's order, then any the older runs had and it has not.
  std::vector<std::pair<std::string, std::string>> names;  // (figure, unit)
  for (auto run = runs.rbegin(); run != runs.rend(); ++run) {
    for (const HistoryRecord& r : records) {
      if (!same_run(r.run, *run)) continue;
      const bool known =
          std::any_of(names.begin(), names.end(), [&](const auto& n) { return n.first == r.figure.name; });
      if (!known) names.emplace_back(r.figure.name, r.figure.unit);
    }
  }
  auto find = [&](const HistoryRun& run, const std::string& name) -> const HistoryFigure* {
    for (auto r = records.rbegin(); r != records.rend(); ++r)
      if (same_run(r->run, run) && r->figure.name == name) return &r->figure;
    return nullptr;
  };

  const std::string what = runs.size() == 1
                               ? std::string(quick ? "quick-mode run" : "run")
                               : std::to_string(runs.size()) + (quick ? " quick-mode runs" : " runs");
  md += "## History: the last " + what + " (history.jsonl)\n\n";
  md += quick ? "Quick-mode runs (shortened scenarios) are compared only with each other.\n\n"
              : "Full runs only (quick-mode runs are recorded but not compared with them). Ratios in "
                "parentheses are to the physical reference of the same run: the zstd-1 ceiling for spans/s, "
                "zstd-1's own CPU time for a span's bytes for CPU per span. A change for the worse of more "
                "than 10 % from the run before is in bold.\n\n";
  md += "| run | commit | date (UTC) | machine |\n|---|---|---|---|\n";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const HistoryRun& r = runs[i];
    md += "| " + std::to_string(i + 1) + " | `" + r.commit + "`" +
          (r.local_changes ? " (with local changes)" : "") + " | " + short_date(r.date) + " | " +
          std::to_string(r.machine.nproc) + " × " + r.machine.cpu + " |\n";
  }
  md += "\n| figure |";
  for (std::size_t i = 0; i < runs.size(); ++i)
    md += " run " + std::to_string(i + 1) + " `" + runs[i].commit + "` |";
  md += " newest vs the run before |\n|---|";
  for (std::size_t i = 0; i < runs.size(); ++i) md += "---|";
  md += "---|\n";
  for (const auto& [name, unit] : names) {
    md += "| " + name + " |";
    for (const HistoryRun& run : runs) {
      const HistoryFigure* fig = find(run, name);
      md += " " +
            (fig != nullptr ? format_value(fig->value, fig->unit) + format_ratio(*fig) : std::string("–")) +
            " |";
    }
    const HistoryFigure* now = find(runs.back(), name);
    const HistoryFigure* before = runs.size() >= 2 ? find(runs[runs.size() - 2], name) : nullptr;
    md += " " +
          (now != nullptr && before != nullptr ? change(before->value, now->value, unit) : std::string("–")) +
          " |\n";
  }
  md += "\n";
}

std::string utc_now_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace spanline::load
