#pragma once
// The queue between producers and the batcher: moodycamel's lock-free queue with a
// producer token per (thread, queue), one consumer. Bounds live in MemoryBudget;
// this class only moves rows.

#include "core/row.hpp"

#include <concurrentqueue/blockingconcurrentqueue.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace spanline::detail {

class RowQueue {
 public:
  RowQueue();
  ~RowQueue();
  RowQueue(const RowQueue&) = delete;
  RowQueue& operator=(const RowQueue&) = delete;

  // Never fails for lack of room (the budget bounds the queue); false only when
  // the allocator fails.
  [[nodiscard]] bool push(Row&& row) noexcept;
  // Removes some queued row, roughly the oldest of one producer (drop_oldest).
  [[nodiscard]] bool pop_one(Row& out) noexcept;
  // Consumer only: takes up to `max` rows, waiting up to `wait` for the first.
  std::size_t pop_bulk(Row* out, std::size_t max, std::chrono::microseconds wait) noexcept;
  // Wakes a consumer blocked in pop_bulk.
  void wake() noexcept;

  std::size_t size_approx() const noexcept { return queue_.size_approx(); }

 private:
  moodycamel::BlockingConcurrentQueue<Row> queue_;
  moodycamel::ConsumerToken consumer_token_;
  const std::uint64_t instance_id_;
};

}  // namespace spanline::detail
