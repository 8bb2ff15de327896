#include "accounting/accounting.hpp"

namespace spanline::detail {

void Accounting::delivered(SettledRows batch, std::uint64_t raw_bytes, std::uint64_t wire_bytes) noexcept {
  const std::uint64_t rows = batch.rows;
  counters_.rows_delivered.fetch_add(rows, std::memory_order_relaxed);
  counters_.events_sent.fetch_add(batch.events, std::memory_order_relaxed);
  counters_.batches_sent.fetch_add(1, std::memory_order_relaxed);
  counters_.bytes_raw.fetch_add(raw_bytes, std::memory_order_relaxed);
  counters_.bytes_compressed.fetch_add(wire_bytes, std::memory_order_relaxed);
  settle(batch);
}

void Accounting::rejected(SettledRows batch) noexcept {
  const std::uint64_t rows = batch.rows;
  counters_.rows_rejected.fetch_add(rows, std::memory_order_relaxed);
  settle(batch);
}

void Accounting::dropped(SettledRows batch, DropReason reason) noexcept {
  const std::uint64_t rows = batch.rows;
  counters_.add_dropped(reason, rows);
  settle(batch);
}

void Accounting::spooled(SettledRows batch) noexcept {
  const std::uint64_t rows = batch.rows;
  counters_.rows_spilled.fetch_add(rows, std::memory_order_relaxed);
  settle(batch);
}

void Accounting::replay_delivered(std::uint64_t rows, std::uint64_t raw_bytes, std::uint64_t wire_bytes,
                                  std::uint64_t records) noexcept {
  counters_.rows_delivered.fetch_add(rows, std::memory_order_relaxed);
  counters_.rows_replayed_delivered.fetch_add(rows, std::memory_order_relaxed);
  counters_.records_replay_delivered.fetch_add(records, std::memory_order_relaxed);
  counters_.batches_sent.fetch_add(1, std::memory_order_relaxed);
  counters_.bytes_raw.fetch_add(raw_bytes, std::memory_order_relaxed);
  counters_.bytes_compressed.fetch_add(wire_bytes, std::memory_order_relaxed);
}

void Accounting::replay_rejected(std::uint64_t rows) noexcept {
  counters_.rows_rejected.fetch_add(rows, std::memory_order_relaxed);
  counters_.rows_replayed_rejected.fetch_add(rows, std::memory_order_relaxed);
}

void Accounting::dropped_event(SettledRows event, DropReason reason) noexcept {
  counters_.add_dropped(reason, event.rows);
  settle(event);
}

void Accounting::evicted(std::uint64_t rows, std::uint64_t budget_bytes) noexcept {
  counters_.add_dropped(DropReason::evicted_oldest, rows);
  settle(rows, budget_bytes);
}

void Accounting::settle(SettledRows& settled) noexcept {
  settled.body.reset();
  settle(settled.rows, settled.budget_bytes);
}

void Accounting::settle(std::uint64_t rows, std::uint64_t budget_bytes) noexcept {
  counters_.rows_settled.fetch_add(rows, std::memory_order_seq_cst);
  budget_.release(budget_bytes, rows);
  if (settle_waiters_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard lock(settle_mutex_);
    settled_.notify_all();
  }
}

bool Accounting::wait_until_settled(std::uint64_t accepted_before, std::chrono::steady_clock::time_point deadline) {
  // Done once as many rows settled as had been accepted when the wait began, or
  // once nothing at all is pending.
  const auto done = [&] {
    return counters_.rows_settled.load(std::memory_order_seq_cst) >= accepted_before ||
           counters_.rows_pending() == 0;
  };
  std::unique_lock lock(settle_mutex_);
  settle_waiters_.fetch_add(1, std::memory_order_seq_cst);
  const bool finished = settled_.wait_until(lock, deadline, done);
  settle_waiters_.fetch_sub(1, std::memory_order_seq_cst);
  return finished;
}

}  // namespace spanline::detail
