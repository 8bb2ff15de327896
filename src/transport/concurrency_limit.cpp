#include "transport/concurrency_limit.hpp"

#include <algorithm>

namespace spanline::detail {

ConcurrencyLimit::ConcurrencyLimit(std::size_t initial, std::size_t max) noexcept
    : max_(std::max<std::size_t>(max, 1)), limit_(std::clamp<std::size_t>(initial, 1, max_)) {}

void ConcurrencyLimit::on_success() noexcept {
  if (limit_ >= max_) return;
  if (++successes_ >= limit_) {
    ++limit_;
    successes_ = 0;
  }
}

void ConcurrencyLimit::on_congestion() noexcept {
  limit_ = std::max<std::size_t>(limit_ / 2, 1);
  successes_ = 0;
}

}  // namespace spanline::detail
