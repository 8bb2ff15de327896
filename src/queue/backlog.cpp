#include "queue/backlog.hpp"

namespace spanline::detail {

void Backlog::wait_until_caught_up(std::chrono::steady_clock::time_point deadline) noexcept {
  try {
    std::unique_lock lock(mutex_);
    caught_up_.wait_until(lock, deadline, [&] {
      return !behind_.load(std::memory_order_relaxed) || closed_.load(std::memory_order_relaxed);
    });
  } catch (...) {
    // A failed wait only means this producer goes on to the budget at once.
  }
}

void Backlog::update(std::uint64_t waiting_bytes) noexcept {
  const bool behind = behind_.load(std::memory_order_relaxed);
  if (!behind && waiting_bytes > limit_bytes_) {
    set_behind(true);
  } else if (behind && waiting_bytes <= limit_bytes_ / 2) {
    set_behind(false);
  }
}

void Backlog::close() noexcept {
  closed_.store(true, std::memory_order_relaxed);
  set_behind(false);
}

void Backlog::set_behind(bool behind) noexcept {
  if (behind && closed_.load(std::memory_order_relaxed)) return;
  {
    // Under the mutex, so that a waiter between its check and its sleep cannot miss
    // the change.
    std::lock_guard lock(mutex_);
    behind_.store(behind, std::memory_order_relaxed);
  }
  if (!behind) caught_up_.notify_all();
}

}  // namespace spanline::detail
