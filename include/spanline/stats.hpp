#pragma once
// A snapshot of every pipeline counter. Counters only grow; gauges are current values.

#include <spanline/export.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <string_view>
#include <vector>

namespace spanline {

// Why a row was not delivered without the server having refused it.
enum class DropReason {
  queue_full,         // budget full: drop_newest, or block timed out
  evicted_oldest,     // budget full under drop_oldest: this older row made room
  too_large,          // one row larger than the payload limit
  shutdown,           // still pending when the shutdown deadline passed
  retries_exhausted,  // max_retry_attempts reached
  invalid,            // refused at log time (malformed row)
  spool_full,         // had to go to the spool, which was full (or unwritable)
};
inline constexpr std::size_t kDropReasonCount = 7;
SPANLINE_API std::string_view to_string(DropReason reason);

struct SPANLINE_API Stats {
  // rows (as logged, before coalescing)
  std::uint64_t rows_in = 0;         // accepted into the queue
  std::uint64_t rows_delivered = 0;  // acknowledged by a 2xx (replayed spool records included)
  std::uint64_t rows_rejected = 0;   // refused by the server for good (401/403/404; 400/413/422 alone)
  std::array<std::uint64_t, kDropReasonCount> rows_dropped{};  // indexed by DropReason
  // Of rows_dropped, the rows the log call refused (queue full, too large, shut down):
  // never in rows_in. The others were accepted first, then dropped.
  std::uint64_t rows_refused = 0;
  std::uint64_t rows_coalesced = 0;  // merged into another row with the same id before sending

  // producers that waited (block and spill only; a call that waited for both counts in both)
  std::uint64_t producer_waits_for_batcher = 0;  // log calls that waited because the batcher was behind
  std::uint64_t producer_waits_for_budget = 0;   // log calls that waited for room in the memory budget
  double producer_wait_seconds = 0;              // total time log calls spent in either wait

  // what went on the wire
  std::uint64_t events_sent = 0;     // events acknowledged (after coalescing)
  std::uint64_t batches_sent = 0;    // acknowledged requests
  std::uint64_t bytes_raw = 0;       // uncompressed bodies of acknowledged requests
  std::uint64_t bytes_compressed = 0;  // as sent on the wire
  std::map<int, std::uint64_t> requests_by_status;  // 0 = transport error / timeout
  std::uint64_t retries = 0;
  // Requests sent to isolate rows the API refused (400/422) from the rest of their
  // batch, which is halved until the refused rows are alone: about 2*log2(n) per bad row.
  std::uint64_t isolation_requests = 0;

  // gauges
  std::uint64_t queue_rows = 0;      // rows in the queue, not yet batched
  std::uint64_t pending_rows = 0;    // accepted and not yet delivered, rejected or dropped
  std::uint64_t memory_bytes = 0;    // bytes counted against the budget
  std::uint64_t memory_body_bytes = 0;  // of memory_bytes: encoded request bodies not yet done
  std::uint64_t in_flight = 0;       // requests on the wire
  std::uint64_t concurrency_limit = 0;

  // durable spool (all zero when no spool is configured)
  struct Spool {
    bool enabled = false;
    std::uint64_t bytes_on_disk = 0;       // gauge
    std::uint64_t segments_on_disk = 0;    // gauge
    std::uint64_t replay_lag_bytes = 0;    // gauge: record bytes on disk not yet acknowledged
    double oldest_unacked_age_seconds = 0; // gauge: replay lag in time
    std::uint64_t records_written = 0;
    std::uint64_t rows_spilled = 0;        // rows written to the spool (as logged; log_durable rows too)
    std::uint64_t records_replayed = 0;
    std::uint64_t rows_replayed_delivered = 0;
    // Refused for good by the API on replay (also in rows_rejected).
    std::uint64_t rows_replayed_rejected = 0;
    // Records not replayed on reopen because an earlier run had them acknowledged (.acks file).
    std::uint64_t records_already_acked = 0;
    // Acknowledgements that could not be written to disk: those records replay again after a restart.
    std::uint64_t ack_write_errors = 0;
    std::uint64_t records_corrupt = 0;     // bad CRC / damaged regions skipped
    std::uint64_t records_truncated = 0;   // incomplete tails skipped (crash mid-write)
    // Segments of a format version this build cannot read (a newer spanline's): left on
    // disk untouched and not replayed.
    std::uint64_t segments_unknown_version = 0;
    std::uint64_t write_errors = 0;        // write + fsync failures
  } spool;

  // request latency histogram (seconds): cumulative counts per upper bound, like Prometheus
  std::vector<double> latency_bounds;
  std::vector<std::uint64_t> latency_buckets;  // same size as bounds; +Inf is latency_count
  std::uint64_t latency_count = 0;
  double latency_sum = 0;

  std::uint64_t rows_dropped_total() const;
  std::uint64_t dropped(DropReason reason) const { return rows_dropped[static_cast<std::size_t>(reason)]; }
};

}  // namespace spanline
