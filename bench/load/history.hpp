#pragma once
// bench/results/history.jsonl: each bench/run appends its headline figures, one JSON
// object per figure per line, so that REPORT.md can show the last runs side by side and
// a regression is visible. Lines are only ever appended; nothing rewrites old runs.
//
// A line: {"commit":"eb465e8","local_changes":false,"date":"2026-12-08T03:10:00Z",
//          "quick":false,"machine":{"cpu":"AMD EPYC","nproc":2},
//          "figure":"01-no-faults-closed/accepted","value":194400.0,"unit":"spans/s",
//          "ratio":0.677,"reference":"zstd-1 ceiling"}
// "ratio" and "reference" are present only for figures with a physical reference.

#include "reference.hpp"
#include "result.hpp"

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spanline::load {

struct MachineInfo {
  std::string cpu;  // /proc/cpuinfo's model name ("unknown" when absent)
  unsigned nproc = 0;
};
// From the text of /proc/cpuinfo and the number of CPUs this process may use.
MachineInfo machine_from_cpuinfo(std::string_view cpuinfo, unsigned nproc);
MachineInfo this_machine();

// Which run a figure belongs to. Runs are told apart by all of these but the machine.
struct HistoryRun {
  std::string commit;
  bool local_changes = false;  // the work tree differed from the commit
  std::string date;            // ISO 8601 UTC, to the second
  bool quick = false;          // SPANLINE_BENCH_QUICK=1: shortened scenarios, not comparable to full runs
  MachineInfo machine;
};

struct HistoryFigure {
  std::string name;  // "<scenario>/accepted", "caller/BM_LogCallLatency/20000/threads:1/p99"
  double value = 0;
  std::string unit;             // spans/s, ids, rows, us/span, MiB, ns
  std::optional<double> ratio;  // value / the physical reference's figure, when it has one
  std::string reference;        // what ratio divides by
};

struct HistoryRecord {
  HistoryRun run;
  HistoryFigure figure;
};

// A run's headline figures: for each load scenario accepted and delivered spans/s (ratio to
// the zstd-1 ceiling), lost ids, dropped rows, CPU µs per span (ratio to zstd-1's own µs for
// a span's bytes) and peak RSS; for each BM_LogCallLatency instance (the fresh-process run
// when there is one) p50 net, p99 and the first call after an idle gap. Either micro output
// may be null.
std::vector<HistoryFigure> headline_figures(const std::vector<RunResult>& runs,
                                            const std::optional<Reference>& reference,
                                            const boost::json::value* micro,
                                            const boost::json::value* micro_fresh);

// One line per figure, each ending in '\n'.
std::string history_lines(const HistoryRun& run, const std::vector<HistoryFigure>& figures);

// Every line of a history file. Blank lines are skipped; throws std::runtime_error naming
// the line when one is not a history record.
std::vector<HistoryRecord> parse_history(std::string_view text);

// Reads DIR's results (as write_report does) and appends their headline figures to
// `history_file` (created 0644 when absent; it is a published result, not user data).
// Returns the number of figures appended; throws std::runtime_error when nothing could be
// read or the file cannot be written.
std::size_t append_history(const std::string& dir, const std::string& history_file, const HistoryRun& run);

// "## History" with the last `last_runs` runs of the same kind as the newest one (full runs
// are compared with full runs, quick runs with quick runs): a table of the runs (commit,
// date, machine) and one of every figure, newest last, with the change from the run before.
// Nothing when `records` is empty.
void history_section(std::string& md, const std::vector<HistoryRecord>& records, std::size_t last_runs = 5);

// Now, as ISO 8601 UTC to the second.
std::string utc_now_iso8601();

}  // namespace spanline::load
