#pragma once
// When something last happened, or that it never has.
//
// steady_clock counts from the machine's boot, so a default-constructed time_point is
// "as long ago as the uptime", not "never": an interval measured from it has not passed
// yet on a freshly booted machine or container. Code that asks "has `interval` passed
// since X?" keeps X here, where "never" is its own state and always counts as passed.

#include <chrono>
#include <optional>

namespace spanline::detail {

class LastTime {
 public:
  using Clock = std::chrono::steady_clock;

  bool never() const noexcept { return !at_.has_value(); }
  void mark(Clock::time_point when) noexcept { at_ = when; }

  // True when it never happened, or `interval` has passed since it did.
  template <class Rep, class Period>
  bool passed(Clock::time_point now, std::chrono::duration<Rep, Period> interval) const noexcept {
    return !at_ || now - *at_ >= interval;
  }

  // The moment `interval` passes: time_point::min() (already due) when it never happened.
  template <class Rep, class Period>
  Clock::time_point due(std::chrono::duration<Rep, Period> interval) const noexcept {
    if (!at_) return Clock::time_point::min();
    return *at_ + std::chrono::duration_cast<Clock::duration>(interval);
  }

 private:
  std::optional<Clock::time_point> at_;
};

}  // namespace spanline::detail
