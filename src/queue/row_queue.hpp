#pragma once
// The queue between producers and the batcher: moodycamel's lock-free queue with a
// producer token per (thread, queue), one consumer. Bounds live in MemoryBudget;
// this class only moves rows.
//
// Waking the consumer is the expensive part of a push (a futex call on the producer's
// thread), so a push wakes it only when it sleeps waiting for rows (pop_bulk with
// WakeOn::push). A consumer that has rows in hand and polls on its own timer sleeps
// with WakeOn::explicit_wake, and pushes never pay for a wake-up. The handshake between
// a push and a consumer falling asleep uses asymmetric fences (asymmetric_fence.hpp):
// a push pays no fence, falling asleep pays a membarrier call.
//
// In a ThreadSanitizer build the rows go through a locked deque instead: moodycamel
// orders its slots and block index with standalone fences, which TSan does not model,
// so every hand-off would be reported as a race in the queue itself. The lock gives the
// same happens-before from push to pop that the queue promises, so races in what the
// rows carry (the code on either side of the queue) are still found.

#include "core/row.hpp"
#include "queue/thread_sanitizer.hpp"

// lightweightsemaphore.h needs concurrentqueue.h's macros first, in every build.
#include <concurrentqueue/concurrentqueue.h>
#include <concurrentqueue/lightweightsemaphore.h>

#if SPANLINE_THREAD_SANITIZER
#include <deque>
#include <mutex>
#endif

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace spanline::detail {

class RowQueue {
 public:
  // What ends a consumer's wait in pop_bulk() before its timeout.
  enum class WakeOn {
    push,           // the next push (or wake())
    explicit_wake,  // only wake()
  };

  RowQueue();
  ~RowQueue();
  RowQueue(const RowQueue&) = delete;
  RowQueue& operator=(const RowQueue&) = delete;

  // Never fails for lack of room (the budget bounds the queue); false only when
  // the allocator fails.
  [[nodiscard]] bool push(Row&& row) noexcept;
  // Removes some queued row, roughly the oldest of one producer (drop_oldest).
  [[nodiscard]] bool pop_one(Row& out) noexcept;
  // Consumer only: takes up to `max` rows; when there are none, sleeps up to `wait`
  // (or until what `wake_on` names happens) and tries once more.
  std::size_t pop_bulk(Row* out, std::size_t max, std::chrono::microseconds wait,
                       WakeOn wake_on = WakeOn::push) noexcept;
  // Wakes the consumer, whatever it sleeps for; its pop_bulk returns an empty row
  // (a sentinel carrying no data and no budget) or what else was queued.
  void wake() noexcept;

#if SPANLINE_THREAD_SANITIZER
  std::size_t size_approx() const noexcept;
#else
  std::size_t size_approx() const noexcept { return queue_.size_approx(); }
#endif

 private:
  // Takes up to `max` queued rows, oldest first.
  std::size_t try_pop_bulk(Row* out, std::size_t max) noexcept;

#if SPANLINE_THREAD_SANITIZER
  mutable std::mutex rows_mutex_;
  std::deque<Row> rows_;
#else
  moodycamel::ConcurrentQueue<Row> queue_;
  moodycamel::ConsumerToken consumer_token_;
#endif
  moodycamel::LightweightSemaphore wakeups_;
  // On its own cache line: producers read it on every push, and it changes only
  // when the consumer goes to sleep or wakes up.
  alignas(64) std::atomic<bool> consumer_waits_for_push_{false};
  alignas(64) const std::uint64_t instance_id_;
};

}  // namespace spanline::detail
