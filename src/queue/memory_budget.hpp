#pragma once
// The byte and row budget every accepted, unresolved row counts against: while a
// row waits in the queue, in an open batch, in flight or in a retry. Producers
// acquire; whoever resolves a row (delivered, rejected, dropped) releases.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace spanline::detail {

class MemoryBudget {
 public:
  MemoryBudget(std::uint64_t max_bytes, std::uint64_t max_rows);

  // Takes room for one row if there is some; never waits.
  [[nodiscard]] bool try_acquire(std::uint64_t bytes) noexcept;
  // Waits until room frees up or `deadline` passes (false) or close() is called (false).
  [[nodiscard]] bool acquire_until(std::uint64_t bytes, std::chrono::steady_clock::time_point deadline);
  // Gives back room for `rows` rows of `bytes` bytes in total.
  void release(std::uint64_t bytes, std::uint64_t rows) noexcept;
  // Wakes every waiter; later acquire_until calls fail at once.
  void close() noexcept;

  std::uint64_t bytes_in_use() const noexcept { return bytes_.load(std::memory_order_relaxed); }
  std::uint64_t rows_in_use() const noexcept { return rows_.load(std::memory_order_relaxed); }
  std::uint64_t max_bytes() const noexcept { return max_bytes_; }

 private:
  const std::uint64_t max_bytes_;
  const std::uint64_t max_rows_;
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::uint64_t> rows_{0};
  std::atomic<bool> closed_{false};
  std::atomic<int> waiters_{0};
  std::mutex mutex_;
  std::condition_variable room_freed_;
};

}  // namespace spanline::detail
