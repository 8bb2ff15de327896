#pragma once
// The outcome of one load run: what the final report, --json and REPORT.md show.
// Plain data; rendering and (de)serialization live in report.hpp.

#include "histogram.hpp"

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace spanline::load {

// Latency percentiles in nanoseconds.
struct LatencySummary {
  std::uint64_t count = 0;
  std::uint64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  double mean = 0;
};
LatencySummary summarize(const LatencyHistogram& histogram);

// One progress sample (cumulative counts since the run started).
struct ProgressSample {
  double t = 0;                  // seconds since the run started
  std::uint64_t sent = 0;        // row ids produced
  std::uint64_t delivered = 0;   // unique ids at the fake API (or acknowledged rows when unknown)
  std::uint64_t queue_rows = 0;  // gauge: rows waiting in the pipeline
  std::uint64_t in_flight = 0;   // gauge: requests on the wire
  std::uint64_t retries = 0;
  std::uint64_t status_429 = 0;
  std::uint64_t dropped = 0;  // rows dropped or rejected so far (known locally)
};

struct RunResult {
  // what was run
  std::string name;        // scenario name (free text)
  std::string target;      // inproc | uds | udp-unix | tcp | http
  std::string mode;        // open | closed
  double target_rate = 0;  // spans/s offered in open loop (0 in closed loop)
  unsigned threads = 0;
  std::string faults;  // human description of injected faults ("" = none)
  double warmup_s = 0;

  // timing
  double send_seconds = 0;   // from the first send to the last, warm-up included
  double drain_seconds = 0;  // from the last send until everything was delivered (or the deadline)

  // volume
  std::uint64_t traces = 0;
  std::uint64_t rows_logged = 0;    // rows handed over (start + merges + end)
  std::uint64_t backlog_spans = 0;  // open loop: due before the end but never sent (target too slow)
  double achieved_rate = 0;         // spans (row ids) per second over send_seconds
  double rows_per_second = 0;

  // caller-side latency (ns); in open loop measured from the intended send time
  LatencySummary caller_trace;  // one whole trace (all its calls)
  LatencySummary caller_call;   // one logging call
  LatencySummary delivery;      // logged -> stored by the fake API (estimated, see accounting.hpp)

  // delivery
  bool delivery_known = false;  // false: no fake API stats were reachable
  std::uint64_t sent = 0;
  std::uint64_t delivered_unique = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t missing = 0;  // sent - delivered_unique
  std::uint64_t lost = 0;     // missing ids no drop count accounts for (see accounting.hpp)
  std::uint64_t unexpected = 0;
  std::uint64_t rejected = 0;
  std::uint64_t dropped_local = 0;
  // Socket targets: rows the sidecar counted itself as dropped, invalid or rejected during
  // the run, by its reason (its /metrics, read before and after), when it could be read.
  bool sidecar_counts_known = false;
  std::map<std::string, std::uint64_t> dropped_sidecar;
  // Of those, the rows the harness had not counted itself (the http target counts the rows of
  // a refused request as dropped locally); the loss accounting adds only these.
  std::uint64_t dropped_sidecar_unanswered = 0;
  std::uint64_t dropped_sidecar_total() const {
    std::uint64_t sum = 0;
    for (const auto& [reason, rows] : dropped_sidecar) sum += rows;
    return sum;
  }

  // wire
  std::uint64_t bytes_raw = 0;
  std::uint64_t bytes_wire = 0;
  double compression_ratio = 0;  // raw / wire
  std::uint64_t requests = 0;    // every request the fake API saw
  std::uint64_t status_429 = 0;
  std::uint64_t retries = 0;
  // Inserts the fake API answered 2xx, and the largest body it accepts (decoded and
  // encoded): with bytes_raw per delivered span they give the request bound below.
  std::uint64_t requests_ok = 0;
  std::uint64_t payload_limit_bytes = 0;  // 0: unknown

  // cost of the process doing the shipping
  std::string cpu_of;  // "harness" (inproc: harness + library) or "agent pid N"
  double cpu_seconds = 0;
  std::uint64_t peak_rss_bytes = 0;

  std::vector<ProgressSample> samples;

  // Spans delivered per second over the whole run (send + drain); 0 when unknown.
  double delivered_rate() const {
    const double seconds = send_seconds + drain_seconds;
    return seconds > 0 && delivery_known ? static_cast<double>(delivered_unique) / seconds : 0;
  }
  // The most a host that limits requests, not bytes, lets through: successful requests per
  // second in the run times the spans that fit in one payload-limit body (at the run's
  // average rendered bytes per delivered span). 0 when any part is unknown.
  double request_bound() const {
    const double seconds = send_seconds + drain_seconds;
    if (seconds <= 0 || payload_limit_bytes == 0 || bytes_raw == 0 || delivered_unique == 0) return 0;
    const double bytes_per_span = static_cast<double>(bytes_raw) / static_cast<double>(delivered_unique);
    const double spans_per_body = std::floor(static_cast<double>(payload_limit_bytes) / bytes_per_span);
    return static_cast<double>(requests_ok) / seconds * spans_per_body;
  }

  // Nothing lost, dropped or rejected, here or by the sidecar (and delivery was checked).
  bool clean() const {
    return delivery_known && lost == 0 && dropped_local == 0 && rejected == 0 && dropped_sidecar_total() == 0;
  }
};

}  // namespace spanline::load
