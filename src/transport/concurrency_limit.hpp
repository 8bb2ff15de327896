#pragma once
// Adaptive (AIMD) limit on requests in flight, like TCP congestion control:
// every `current()` successes in a row raise it by one (additive increase, about
// +1 per round trip of a full window); a 429, 5xx or timeout halves it
// (multiplicative decrease). It stays within [1, max].
//
// Not thread-safe: the sender uses it from its io thread only.

#include <cstddef>

namespace spanline::detail {

class ConcurrencyLimit {
 public:
  // `initial` is clamped into [1, max]; `max` of 0 is treated as 1.
  ConcurrencyLimit(std::size_t initial, std::size_t max) noexcept;

  std::size_t current() const noexcept { return limit_; }
  std::size_t max() const noexcept { return max_; }

  void on_success() noexcept;
  void on_congestion() noexcept;

 private:
  std::size_t max_;
  std::size_t limit_;
  std::size_t successes_ = 0;  // since the last change
};

}  // namespace spanline::detail
