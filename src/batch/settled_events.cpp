#include "batch/settled_events.hpp"

#include <utility>

namespace spanline::detail {

void SettledEvents::hand_over(std::vector<BatchEvent>& events) noexcept {
  if (events.empty()) return;
  try {
    std::lock_guard lock(mutex_);
    if (held_.size() >= kMaxHeld) return;  // the caller frees them
    held_.push_back(std::move(events));
    events.clear();  // a moved-from vector is valid but unspecified
  } catch (...) {
    // No memory for one more entry, or a mutex error: the caller frees them.
  }
}

void SettledEvents::free_all() noexcept {
  try {
    std::lock_guard lock(mutex_);
    if (held_.empty()) return;
    freeing_.swap(held_);
  } catch (...) {
    return;  // a mutex error: they are freed on a later call, or with this object
  }
  freeing_.clear();  // the frees, outside the lock
}

std::size_t SettledEvents::batches_held() noexcept {
  std::lock_guard lock(mutex_);
  return held_.size();
}

}  // namespace spanline::detail
