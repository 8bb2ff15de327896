#pragma once
// Loss accounting and delivery-lag estimation: pure functions over counts and
// cumulative time series, kept apart from the driver so they can be tested exactly.

#include "histogram.hpp"

#include <cstdint>
#include <vector>

namespace spanline::load {

// The fake API's counters (GET /_fake/stats or FakeApi::stats()), as plain numbers.
struct FakeStats {
  std::uint64_t requests = 0;        // answered with 2xx
  std::uint64_t requests_total = 0;  // every request, faults included
  std::uint64_t rows_received = 0;
  std::uint64_t unique_rows = 0;
  std::uint64_t duplicate_rows = 0;
  std::uint64_t bytes_received = 0;  // bodies as sent on the wire
  std::uint64_t bytes_decoded = 0;   // bodies after Content-Encoding
  std::uint64_t inserts = 0;
  std::uint64_t status_429 = 0;  // answered 429
  std::uint64_t status_5xx = 0;  // answered 500..599
};
// Field-wise `after - before` (saturating at 0): what one run added on a shared server.
FakeStats delta(const FakeStats& after, const FakeStats& before);

struct DeliveryCounts {
  std::uint64_t sent = 0;              // unique row ids the harness produced (a span with merges = 1)
  std::uint64_t delivered_unique = 0;  // distinct ids the fake API stored during the run
  std::uint64_t duplicates = 0;        // rows whose id the fake API had seen before: a span's later
                                       // rows sent in a later batch, retries, replays
  std::uint64_t rejected = 0;          // rows refused for good (known to the logger)
  std::uint64_t dropped_local = 0;     // rows the harness could not hand over (queue full, send error)
  std::uint64_t dropped_sidecar = 0;   // rows the sidecar counted as dropped, invalid or rejected and
                                       // not already in `rejected` or `dropped_local`
  // The fewest rows any one id is logged with (start + merges + end): an id goes missing
  // through counted drops only when every one of its rows was dropped.
  std::uint64_t min_rows_per_id = 1;
};

struct LossSummary {
  std::uint64_t missing = 0;     // sent - delivered_unique, never negative
  std::uint64_t explained = 0;   // of those, as many as the counted drops can account for
  std::uint64_t lost = 0;        // missing - explained: gone without anyone counting it
  std::uint64_t unexpected = 0;  // delivered ids beyond what was sent (another writer on the server?)
  double loss_ratio = 0;         // lost / sent
};
// Counted drops are rows and `sent` is ids, so at most (counted rows / min_rows_per_id)
// missing ids are put down to them: a row counted as dropped never also counts as lost,
// and a pile of dropped merge rows cannot hide an id that vanished silently.
LossSummary account(const DeliveryCounts& counts);

// One point of a cumulative count over time (seconds since the run started).
struct CumulativeSample {
  double t = 0;
  std::uint64_t value = 0;
};

// Estimates each row's delivery lag from two non-decreasing cumulative curves, assuming
// rows are delivered in the order they were sent (FIFO): the k-th delivered row, first
// seen in the delivered sample at time td, was sent at the first sent sample whose
// value reaches k, at time ts; its lag is td - ts. Accurate to about one sampling
// interval. Records nanoseconds into `out`, one count per row; rows delivered beyond
// the last sent sample are ignored.
void estimate_delivery_lag(const std::vector<CumulativeSample>& sent,
                           const std::vector<CumulativeSample>& delivered, LatencyHistogram& out);

}  // namespace spanline::load
