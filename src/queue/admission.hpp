#pragma once
// Admission: decides whether a new row may enter the pipeline, applying the
// overflow policy when the memory budget is full. On success the row's room has
// been taken from the budget; the caller then pushes it onto the queue.

#include "accounting/accounting.hpp"
#include "queue/backlog.hpp"
#include "accounting/memory_budget.hpp"
#include "queue/row_queue.hpp"

#include <spanline/options.hpp>

#include <chrono>
#include <functional>

namespace spanline::detail {

class Admission {
 public:
  // `make_room` (spill only) asks the next stages to move waiting batches to the spool;
  // it must not block. Empty, or without a usable spool, spill behaves like block.
  // `backlog`, when given, makes block and spill wait while the batcher is behind.
  Admission(OverflowPolicy policy, std::chrono::milliseconds block_timeout, MemoryBudget& budget,
            RowQueue& queue, Accounting& accounting, std::function<void()> make_room = {},
            Backlog* backlog = nullptr)
      : policy_(policy),
        block_timeout_(block_timeout),
        budget_(budget),
        queue_(queue),
        accounting_(accounting),
        make_room_(std::move(make_room)),
        backlog_(policy == OverflowPolicy::block || policy == OverflowPolicy::spill ? backlog : nullptr) {}

  // True when room for `bytes` was taken. drop_oldest evicts rows still waiting in
  // the queue (counted as evicted_oldest); rows already batched or in flight cannot
  // be taken back, so when the queue runs dry the new row is refused instead.
  // block and spill first wait, within their timeout, for a batcher that is behind.
  // Waits are counted in accounting's counters (producer_waits_*, producer_wait_nanos);
  // counting adds no shared write and no clock read to a call that does not wait.
  [[nodiscard]] bool admit(std::uint64_t bytes) noexcept;

  enum class Try { admitted, refused, no_room };
  // admit() for a producer that must never wait: drop_newest and drop_oldest decide as in
  // admit() (admitted or refused); block and spill answer no_room at once when the budget
  // is full (spill has asked for room to be made first) and do not wait for a batcher
  // that is behind. After no_room, nothing was taken or counted: the caller keeps its row,
  // registers with MemoryBudget::notify_when_room and offers it again when woken.
  [[nodiscard]] Try try_admit(std::uint64_t bytes) noexcept;

 private:
  // block and spill, once the credit fast path has failed: room by `deadline`, or false.
  bool wait_for_room(std::uint64_t bytes, std::chrono::steady_clock::time_point deadline) noexcept;
  // Adds the time since `started` to the producers' total wait time.
  void count_wait_time(std::chrono::steady_clock::time_point started) noexcept;
  bool evict_until_room(std::uint64_t bytes) noexcept;
  bool spill_until_room(std::uint64_t bytes, std::chrono::steady_clock::time_point deadline);

  const OverflowPolicy policy_;
  const std::chrono::milliseconds block_timeout_;
  MemoryBudget& budget_;
  RowQueue& queue_;
  Accounting& accounting_;
  const std::function<void()> make_room_;
  Backlog* const backlog_;  // null unless the policy waits
};

}  // namespace spanline::detail
