#pragma once
// The caller's cost of one log() call, read from Google Benchmark's JSON output of
// spanline-micro: BM_LogCallLatency (the logger) beside BM_LogCallFloor (one heap string
// of the row's size, the least any row costs) at the same offered rate. REPORT.md shows
// them side by side; the history keeps the logger's p50, p99 and first-call figures.

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <vector>

namespace spanline::load {

// One BM_LogCallLatency instance and the floor measured at its rate. Times in ns; a
// counter the benchmark did not report stays empty.
struct CallerCost {
  std::string source;     // "fresh process" or "after the other benchmarks"
  std::string benchmark;  // "BM_LogCallLatency/20000/threads:1" (iterations and real_time left out)
  long rate = 0;          // rows/s offered per thread
  int threads = 1;
  std::optional<double> p50_net_ns;    // p50 less the timer's own cost
  std::optional<double> p99_ns;        // every call, the first of each burst included
  std::optional<double> first_p50_ns;  // median of the first call after each idle gap
  std::optional<double> floor_p50_net_ns;
  std::optional<double> floor_p99_ns;  // the floor's calls after the first of each burst
  std::optional<double> floor_first_p50_ns;
};

// The logger's rows from `fresh` (spanline-micro run with only the caller-cost benchmarks)
// first, then from `full` (the whole suite); each row's floor comes from the same output
// when it has BM_LogCallFloor at that rate, else from the other. Either may be null.
// Outputs that are not Google Benchmark JSON give no rows.
std::vector<CallerCost> caller_costs(const boost::json::value* fresh, const boost::json::value* full);

// "## Caller cost" with one table row per CallerCost, or a line saying it was not measured.
void caller_cost_section(std::string& md, const std::vector<CallerCost>& costs);

}  // namespace spanline::load
