#pragma once
// Admission: decides whether a new row may enter the pipeline, applying the
// overflow policy when the memory budget is full. On success the row's room has
// been taken from the budget; the caller then pushes it onto the queue.

#include "core/accounting.hpp"
#include "queue/memory_budget.hpp"
#include "queue/row_queue.hpp"

#include <spanline/options.hpp>

#include <chrono>
#include <functional>

namespace spanline::detail {

class Admission {
 public:
  // `make_room` (spill only) asks the next stages to move waiting batches to the spool;
  // it must not block. Empty, or without a usable spool, spill behaves like block.
  Admission(OverflowPolicy policy, std::chrono::milliseconds block_timeout, MemoryBudget& budget, RowQueue& queue,
            Accounting& accounting, std::function<void()> make_room = {})
      : policy_(policy),
        block_timeout_(block_timeout),
        budget_(budget),
        queue_(queue),
        accounting_(accounting),
        make_room_(std::move(make_room)) {}

  // True when room for `bytes` was taken. drop_oldest evicts rows still waiting in
  // the queue (counted as evicted_oldest); rows already batched or in flight cannot
  // be taken back, so when the queue runs dry the new row is refused instead.
  [[nodiscard]] bool admit(std::uint64_t bytes) noexcept;

 private:
  bool evict_until_room(std::uint64_t bytes) noexcept;
  bool spill_until_room(std::uint64_t bytes);

  const OverflowPolicy policy_;
  const std::chrono::milliseconds block_timeout_;
  MemoryBudget& budget_;
  RowQueue& queue_;
  Accounting& accounting_;
  const std::function<void()> make_room_;
};

}  // namespace spanline::detail
