#include "metrics/counters.hpp"

#include <algorithm>
#include <numeric>

namespace spanline {

std::string_view to_string(DropReason reason) {
  switch (reason) {
    case DropReason::queue_full: return "queue_full";
    case DropReason::evicted_oldest: return "evicted_oldest";
    case DropReason::too_large: return "too_large";
    case DropReason::shutdown: return "shutdown";
    case DropReason::retries_exhausted: return "retries_exhausted";
    case DropReason::invalid: return "invalid";
    case DropReason::spool_full: return "spool_full";
  }
  return "unknown";
}

std::uint64_t Stats::rows_dropped_total() const {
  return std::accumulate(rows_dropped.begin(), rows_dropped.end(), std::uint64_t{0});
}

}  // namespace spanline

namespace spanline::detail {

void LatencyHistogram::observe(double seconds) noexcept {
  const auto bucket = std::lower_bound(kBounds.begin(), kBounds.end(), seconds) - kBounds.begin();
  if (static_cast<std::size_t>(bucket) < kBounds.size())
    buckets_[static_cast<std::size_t>(bucket)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<std::uint64_t>(std::max(0.0, seconds) * 1e6), std::memory_order_relaxed);
}

void LatencyHistogram::copy_to(Stats& stats) const {
  stats.latency_bounds.assign(kBounds.begin(), kBounds.end());
  stats.latency_buckets.resize(kBounds.size());
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    stats.latency_buckets[i] = cumulative;
  }
  // Read the count last so the +Inf bucket is never below a finite one.
  stats.latency_count = std::max(cumulative, count_.load(std::memory_order_relaxed));
  stats.latency_sum = static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
}

void PipelineCounters::count_request(int status) noexcept {
  const auto index = static_cast<std::size_t>(status >= 0 && status < 600 ? status : 0);
  std::lock_guard lock(status_mutex_);
  ++requests_by_status_[index];
}

std::uint64_t PipelineCounters::rows_pending() const noexcept {
  // Settled is read first: it never overtakes rows_in, so the difference never wraps.
  const std::uint64_t settled = rows_settled.load(std::memory_order_acquire);
  const std::uint64_t accepted = rows_in.load(std::memory_order_acquire);
  return accepted > settled ? accepted - settled : 0;
}

void PipelineCounters::copy_to(Stats& stats) const {
  const auto load = [](const std::atomic<std::uint64_t>& value) { return value.load(std::memory_order_relaxed); };
  stats.rows_in = rows_in.load(std::memory_order_relaxed);
  stats.rows_delivered = load(rows_delivered);
  stats.rows_rejected = load(rows_rejected);
  for (std::size_t i = 0; i < kDropReasonCount; ++i) stats.rows_dropped[i] = load(rows_dropped[i]);
  stats.rows_coalesced = load(rows_coalesced);
  stats.rows_refused = load(rows_refused);
  stats.producer_waits_for_batcher = load(producer_waits_for_batcher);
  stats.producer_waits_for_budget = load(producer_waits_for_budget);
  stats.producer_wait_seconds = static_cast<double>(load(producer_wait_nanos)) / 1e9;
  stats.events_sent = load(events_sent);
  stats.batches_sent = load(batches_sent);
  stats.bytes_raw = load(bytes_raw);
  stats.bytes_compressed = load(bytes_compressed);
  stats.retries = load(retries);
  stats.isolation_requests = load(isolation_requests);
  stats.in_flight = load(in_flight);
  stats.concurrency_limit = load(concurrency_limit);
  stats.pending_rows = rows_pending();
  stats.spool.rows_replayed_delivered = load(rows_replayed_delivered);
  stats.spool.rows_replayed_rejected = load(rows_replayed_rejected);
  {
    std::lock_guard lock(status_mutex_);
    stats.requests_by_status.clear();
    for (std::size_t status = 0; status < requests_by_status_.size(); ++status)
      if (requests_by_status_[status] != 0) stats.requests_by_status[static_cast<int>(status)] = requests_by_status_[status];
  }
  request_latency.copy_to(stats);
}

}  // namespace spanline::detail
