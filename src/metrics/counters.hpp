#pragma once
// The pipeline's counters: lock-free atomics that every stage bumps, and that
// stats() copies into a spanline::Stats snapshot.

#include "metrics/striped_counter.hpp"

#include <spanline/stats.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>

namespace spanline::detail {

class LatencyHistogram {
 public:
  // Upper bounds in seconds (Prometheus style); the last bucket is +Inf.
  static constexpr std::array<double, 14> kBounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                  0.25,  0.5,    1.0,   2.5,  5.0,   10.0, 30.0};
  void observe(double seconds) noexcept;
  void copy_to(Stats& stats) const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size()> buckets_{};  // non-cumulative
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micros_{0};
};

struct PipelineCounters {
  StripedCounter rows_in;  // every log call adds to it: one cache line per thread
  std::atomic<std::uint64_t> rows_delivered{0};
  std::atomic<std::uint64_t> rows_rejected{0};
  std::array<std::atomic<std::uint64_t>, kDropReasonCount> rows_dropped{};
  // Of rows_dropped, the rows refused by the log call itself (never in rows_in).
  std::atomic<std::uint64_t> rows_refused{0};
  std::atomic<std::uint64_t> rows_coalesced{0};
  // Accepted rows that reached a final state (delivered, rejected, or dropped after
  // being accepted). Rows refused at log time are counted in rows_dropped only.
  std::atomic<std::uint64_t> rows_settled{0};
  // Accepted rows settled by being written to the spool (their delivery is the
  // spool's replay's business from then on; part of rows_settled).
  std::atomic<std::uint64_t> rows_spilled{0};
  // Rows of spool records acknowledged by a 2xx on replay (also in rows_delivered)
  // and refused for good on replay (also in rows_rejected).
  std::atomic<std::uint64_t> rows_replayed_delivered{0};
  std::atomic<std::uint64_t> rows_replayed_rejected{0};
  std::atomic<std::uint64_t> records_replay_delivered{0};

  // Producers that waited in Admission (block and spill). Only calls that wait bump them,
  // never the credit fast path: sharing a cache line with the stages' counters costs only
  // calls that are about to sleep anyway.
  std::atomic<std::uint64_t> producer_waits_for_batcher{0};
  std::atomic<std::uint64_t> producer_waits_for_budget{0};
  std::atomic<std::uint64_t> producer_wait_nanos{0};  // either wait, from its start to admit's answer

  std::atomic<std::uint64_t> events_sent{0};
  std::atomic<std::uint64_t> batches_sent{0};
  std::atomic<std::uint64_t> bytes_raw{0};
  std::atomic<std::uint64_t> bytes_compressed{0};
  std::atomic<std::uint64_t> retries{0};
  // Requests sent only to isolate rows the API refused (400/422) from the rest of
  // their batch: each halving of a refused batch adds two.
  std::atomic<std::uint64_t> isolation_requests{0};

  std::atomic<std::uint64_t> in_flight{0};
  std::atomic<std::uint64_t> concurrency_limit{0};

  LatencyHistogram request_latency;

  void add_dropped(DropReason reason, std::uint64_t rows) noexcept {
    rows_dropped[static_cast<std::size_t>(reason)].fetch_add(rows, std::memory_order_relaxed);
  }
  void count_request(int status) noexcept;  // 0 = transport error or timeout

  // Accepted rows not settled yet.
  std::uint64_t rows_pending() const noexcept;

  // Fills everything but the gauges that live elsewhere (queue, memory).
  void copy_to(Stats& stats) const;

 private:
  mutable std::mutex status_mutex_;  // requests are rare next to rows
  std::array<std::uint64_t, 600> requests_by_status_{};
};

}  // namespace spanline::detail
