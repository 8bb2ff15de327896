#pragma once
// bench/results/REPORT.md: one table per load scenario, a summary with each
// throughput as a fraction of the physical reference, the micro-benchmarks, and
// SVG plots (throughput over time per scenario, latency percentiles).

#include "history.hpp"
#include "reference.hpp"
#include "result.hpp"

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace spanline::load {

struct ReportInputs {
  std::vector<RunResult> runs;
  std::optional<Reference> reference;
  std::optional<boost::json::value> micro;  // Google Benchmark --benchmark_format=json output
  // The caller-cost benchmarks again, each family run in a process of its own: the full
  // run measures them after earlier benchmarks have churned the heap (see README).
  std::optional<boost::json::value> micro_fresh;
  std::vector<HistoryRecord> history;  // earlier runs' headline figures (history.jsonl), oldest first
  std::string title = "spanline benchmark report";
  std::string preamble;  // free markdown placed under the title (machine, date, command)
};

struct RenderedReport {
  std::string markdown;
  std::vector<std::pair<std::string, std::string>>
      files;  // (file name, SVG text), referenced by the markdown
};

RenderedReport render_report(const ReportInputs& inputs);

// Reads DIR/*.load.json (sorted by name), DIR/reference.json, DIR/micro.json,
// DIR/micro-fresh.json and DIR/history.jsonl when present. Throws std::runtime_error on
// unreadable input.
ReportInputs read_report_inputs(const std::string& dir);

// read_report_inputs(DIR), then writes DIR/REPORT.md and the SVGs. `preamble_file`, when it
// exists, is copied under the title. Throws std::runtime_error on unreadable input.
void write_report(const std::string& dir, const std::string& preamble_file = {});

// File-name-safe form of a scenario name.
std::string slug(std::string_view name);

}  // namespace spanline::load
