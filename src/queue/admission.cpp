#include "queue/admission.hpp"

#include <algorithm>

namespace spanline::detail {

bool Admission::admit(std::uint64_t bytes) noexcept {
  if (backlog_ != nullptr && backlog_->behind()) {
    // One timeout for both waits: the backlog's, then the budget's if it is full.
    const auto deadline = std::chrono::steady_clock::now() + block_timeout_;
    backlog_->wait_until_caught_up(deadline);
    if (budget_.try_acquire_from_credit(bytes)) return true;
    return wait_for_room(bytes, deadline);
  }
  // The common case spends this thread's credit and touches no shared counter; when
  // that fails the budget is (nearly) full and the policy decides, row by row.
  if (budget_.try_acquire_from_credit(bytes)) return true;
  switch (policy_) {
    case OverflowPolicy::drop_newest:
      return false;
    case OverflowPolicy::block:
    case OverflowPolicy::spill:  // waits while the sender moves waiting batches to the spool
      return wait_for_room(bytes, std::chrono::steady_clock::now() + block_timeout_);
    case OverflowPolicy::drop_oldest:
      return evict_until_room(bytes);
  }
  return false;
}

bool Admission::wait_for_room(std::uint64_t bytes, std::chrono::steady_clock::time_point deadline) noexcept {
  try {
    if (policy_ == OverflowPolicy::spill && make_room_) return spill_until_room(bytes, deadline);
    return budget_.acquire_until(bytes, deadline);
  } catch (...) {
    return false;  // a failed wait (e.g. a mutex error) refuses this row only
  }
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
