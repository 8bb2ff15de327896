#include "queue/memory_budget.hpp"

namespace spanline::detail {

MemoryBudget::MemoryBudget(std::uint64_t max_bytes, std::uint64_t max_rows)
    : max_bytes_(max_bytes), max_rows_(max_rows) {}

bool MemoryBudget::try_acquire(std::uint64_t bytes) noexcept {
  // Optimistic add, undo on overshoot: one atomic RMW per counter on the common path.
  const std::uint64_t rows_before = rows_.fetch_add(1, std::memory_order_relaxed);
  if (rows_before >= max_rows_) {
    rows_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  const std::uint64_t bytes_before = bytes_.fetch_add(bytes, std::memory_order_relaxed);
  // A single row larger than the whole budget still gets in when nothing else is held,
  // so an oversized-but-legal row cannot wedge a producer forever.
  if (bytes_before + bytes > max_bytes_ && bytes_before != 0) {
    bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    rows_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

bool MemoryBudget::acquire_until(std::uint64_t bytes, std::chrono::steady_clock::time_point deadline) {
  if (try_acquire(bytes)) return true;
  std::unique_lock lock(mutex_);
  waiters_.fetch_add(1, std::memory_order_seq_cst);
  bool acquired = false;
  while (!closed_.load(std::memory_order_relaxed)) {
    if (try_acquire(bytes)) {
      acquired = true;
      break;
    }
    if (room_freed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      acquired = try_acquire(bytes);
      break;
    }
  }
  waiters_.fetch_sub(1, std::memory_order_relaxed);
  return acquired;
}

void MemoryBudget::release(std::uint64_t bytes, std::uint64_t rows) noexcept {
  // seq_cst pairs with the waiter's increment of waiters_: either it sees the room
  // freed here, or this sees it waiting.
  bytes_.fetch_sub(bytes, std::memory_order_seq_cst);
  rows_.fetch_sub(rows, std::memory_order_seq_cst);
  // Waking costs a lock; only pay it when a producer is actually waiting.
  if (waiters_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard lock(mutex_);
    room_freed_.notify_all();
  }
}

void MemoryBudget::close() noexcept {
  closed_.store(true, std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  room_freed_.notify_all();
}

}  // namespace spanline::detail
