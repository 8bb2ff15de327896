#pragma once
// Settling a batch: the one place that turns a batch's fate into counters and
// gives its rows' bytes back to the memory budget, and its encoded body's charge
// (given back first, so that once rows are seen settled their bodies are no longer
// counted). Every batch ends in exactly one of these calls (a split batch: each part
// does).
//
// Accounting sits below the stages that call it: it sees a batch (or one event of a
// batch) only as the counts it settles, SettledRows, which batch/batch.hpp derives
// from a Batch and a BatchEvent.

#include "accounting/memory_budget.hpp"
#include "accounting/settled_rows.hpp"
#include "metrics/counters.hpp"

#include <spanline/stats.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace spanline::detail {

class Accounting {
 public:
  Accounting(PipelineCounters& counters, MemoryBudget& budget) : counters_(counters), budget_(budget) {}

  // 2xx: raw and wire bytes are those of the request that succeeded.
  void delivered(SettledRows batch, std::uint64_t raw_bytes, std::uint64_t wire_bytes) noexcept;
  // The server refused it for good (4xx).
  void rejected(SettledRows batch) noexcept;
  // Not delivered for `reason`.
  void dropped(SettledRows batch, DropReason reason) noexcept;
  // Written to the spool: settled here, delivered later by the spool's replay.
  void spooled(SettledRows batch) noexcept;
  // One event of a batch dropped on its own (e.g. too large), the rest goes on.
  void dropped_event(SettledRows event, DropReason reason) noexcept;

  // A request of replayed spool records (`records` of them, combined) delivered: their rows
  // were settled (spooled) when written, possibly by an earlier process, so only the
  // outcome counters move here.
  void replay_delivered(std::uint64_t rows, std::uint64_t raw_bytes, std::uint64_t wire_bytes,
                        std::uint64_t records = 1) noexcept;
  void replay_rejected(std::uint64_t rows) noexcept;

  // Rows evicted from the queue before reaching a batch (drop_oldest).
  void evicted(std::uint64_t rows, std::uint64_t budget_bytes) noexcept;

  // Waits until no accepted row is pending or `deadline` passes; true when none is.
  bool wait_until_settled(std::uint64_t accepted_before, std::chrono::steady_clock::time_point deadline);

  PipelineCounters& counters() noexcept { return counters_; }
  MemoryBudget& budget() noexcept { return budget_; }

 private:
  void settle(std::uint64_t rows, std::uint64_t budget_bytes) noexcept;
  void settle(SettledRows& settled) noexcept;

  PipelineCounters& counters_;
  MemoryBudget& budget_;
  std::mutex settle_mutex_;
  std::condition_variable settled_;
  std::atomic<int> settle_waiters_{0};
};

}  // namespace spanline::detail
