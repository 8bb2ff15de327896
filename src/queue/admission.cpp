#include "queue/admission.hpp"

#include <algorithm>

namespace spanline::detail {

bool Admission::admit(std::uint64_t bytes) noexcept {
  if (backlog_ != nullptr && backlog_->behind()) {
    // One timeout for both waits: the backlog's, then the budget's if it is full.
    const auto started = std::chrono::steady_clock::now();
    const auto deadline = started + block_timeout_;
    accounting_.counters().producer_waits_for_batcher.fetch_add(1, std::memory_order_relaxed);
    backlog_->wait_until_caught_up(deadline);
    const bool admitted = budget_.try_acquire_from_credit(bytes) || wait_for_room(bytes, deadline);
    count_wait_time(started);
    return admitted;
  }
  // The common case spends this thread's credit and touches no shared counter; when
  // that fails the budget is (nearly) full and the policy decides, row by row.
  if (budget_.try_acquire_from_credit(bytes)) return true;
  switch (policy_) {
    case OverflowPolicy::drop_newest:
      return false;
    case OverflowPolicy::block:
    case OverflowPolicy::spill: {  // waits while the sender moves waiting batches to the spool
      const auto started = std::chrono::steady_clock::now();
      const bool admitted = wait_for_room(bytes, started + block_timeout_);
      count_wait_time(started);
      return admitted;
    }
    case OverflowPolicy::drop_oldest:
      return evict_until_room(bytes);
  }
  return false;
}

Admission::Try Admission::try_admit(std::uint64_t bytes) noexcept {
  if (budget_.try_acquire_from_credit(bytes)) return Try::admitted;
  switch (policy_) {
    case OverflowPolicy::drop_newest:
      return Try::refused;
    case OverflowPolicy::drop_oldest:
      return evict_until_room(bytes) ? Try::admitted : Try::refused;
    case OverflowPolicy::spill:
      if (make_room_) {
        try {
          make_room_();  // must not block (constructor contract); the batches it spools release room
        } catch (...) {
          // Asking failed; the row still waits for room freed by delivery.
        }
      }
      return Try::no_room;
    case OverflowPolicy::block:
      return Try::no_room;
  }
  return Try::refused;
}

bool Admission::wait_for_room(std::uint64_t bytes, std::chrono::steady_clock::time_point deadline) noexcept {
  // Counted on the way in: acquire_until does not tell a wait from an immediate success.
  // Every caller has just failed a try_acquire (try_acquire_from_credit ends in one when
  // it fails), so nearly every call sleeps; one whose room was freed in the instants
  // between is counted too.
  accounting_.counters().producer_waits_for_budget.fetch_add(1, std::memory_order_relaxed);
  try {
    if (policy_ == OverflowPolicy::spill && make_room_) return spill_until_room(bytes, deadline);
    return budget_.acquire_until(bytes, deadline);
  } catch (...) {
    return false;  // a failed wait (e.g. a mutex error) refuses this row only
  }
}

void Admission::count_wait_time(std::chrono::steady_clock::time_point started) noexcept {
  const auto waited = std::chrono::steady_clock::now() - started;
  accounting_.counters().producer_wait_nanos.fetch_add(
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(waited).count()),
      std::memory_order_relaxed);
}

bool Admission::spill_until_room(std::uint64_t bytes, std::chrono::steady_clock::time_point deadline) {
  // Other producers may take the room a spill freed before this one wakes, so keep
  // asking for more in short rounds until the block timeout runs out.
  constexpr std::chrono::milliseconds kRound{20};
  for (;;) {
    make_room_();
    const auto now = std::chrono::steady_clock::now();
    const auto until = std::min(deadline, now + kRound);
    if (budget_.acquire_until(bytes, until)) return true;
    if (until >= deadline) return false;
  }
}

bool Admission::evict_until_room(std::uint64_t bytes) noexcept {
  Row oldest;
  while (queue_.pop_one(oldest)) {
    if (oldest.json.empty()) continue;  // a wake-up sentinel holds no room
    accounting_.evicted(1, oldest.budget_bytes());
    if (budget_.try_acquire(bytes)) return true;
  }
  return budget_.try_acquire(bytes);
}

}  // namespace spanline::detail
