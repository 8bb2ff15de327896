#pragma once
// Settling a batch: the one place that turns a batch's fate into counters and
// gives its rows' bytes back to the memory budget. Every batch ends in exactly one
// of these calls (a split batch: each part does).

#include "batch/batch.hpp"
#include "metrics/counters.hpp"
#include "queue/memory_budget.hpp"

#include <spanline/stats.hpp>

namespace spanline::detail {

class Accounting {
 public:
  Accounting(PipelineCounters& counters, MemoryBudget& budget) : counters_(counters), budget_(budget) {}

  // 2xx: raw and wire bytes are those of the request that succeeded.
  void delivered(const Batch& batch, std::uint64_t raw_bytes, std::uint64_t wire_bytes) noexcept;
  // The server refused it for good (4xx).
  void rejected(const Batch& batch) noexcept;
  // Not delivered for `reason`.
  void dropped(const Batch& batch, DropReason reason) noexcept;
  // One event of a batch dropped on its own (e.g. too large), the rest goes on.
  void dropped_event(const BatchEvent& event, DropReason reason) noexcept;

  PipelineCounters& counters() noexcept { return counters_; }
  MemoryBudget& budget() noexcept { return budget_; }

 private:
  PipelineCounters& counters_;
  MemoryBudget& budget_;
};

}  // namespace spanline::detail
