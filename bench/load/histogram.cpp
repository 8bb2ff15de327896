#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace spanline::load {

namespace {
constexpr std::uint64_t kExact = std::uint64_t{1} << LatencyHistogram::kSubBits;  // 256
constexpr std::uint64_t kHalf = kExact / 2;                                       // 128 per octave
}  // namespace

std::size_t LatencyHistogram::bucket_index(std::uint64_t value) noexcept {
  if (value >= kMaxTrackable) value = kMaxTrackable - 1;
  if (value < kExact) return static_cast<std::size_t>(value);
  // Highest set bit b >= kSubBits; keep the top kSubBits bits: (value >> shift) in [kHalf, kExact).
  const unsigned b = static_cast<unsigned>(std::bit_width(value)) - 1;
  const unsigned shift = b - (kSubBits - 1);
  const std::uint64_t top = value >> shift;
  return static_cast<std::size_t>(kExact + (b - kSubBits) * kHalf + (top - kHalf));
}

std::uint64_t LatencyHistogram::bucket_lower(std::size_t index) noexcept {
  if (index < kExact) return index;
  const std::size_t rel = index - kExact;
  const unsigned octave = static_cast<unsigned>(rel / kHalf);  // 0 for b == kSubBits
  const std::uint64_t top = kHalf + rel % kHalf;
  const unsigned shift = octave + 1;
  return top << shift;
}

std::uint64_t LatencyHistogram::bucket_upper(std::size_t index) noexcept {
  if (index < kExact) return index;
  const unsigned octave = static_cast<unsigned>((index - kExact) / kHalf);
  return bucket_lower(index) + (std::uint64_t{1} << (octave + 1)) - 1;
}

std::size_t LatencyHistogram::bucket_count() noexcept { return bucket_index(kMaxTrackable - 1) + 1; }

LatencyHistogram::LatencyHistogram() : counts_(bucket_count(), 0) {}

void LatencyHistogram::record(std::uint64_t value, std::uint64_t count) noexcept {
  if (count == 0) return;
  counts_[bucket_index(value)] += count;
  count_ += count;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<long double>(value) * static_cast<long double>(count);
}

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void LatencyHistogram::clear() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
  sum_ = 0;
}

double LatencyHistogram::mean() const noexcept {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

std::uint64_t LatencyHistogram::percentile(double q) const noexcept {
  if (count_ == 0) return 0;
  if (!(q > 0)) return min_;
  if (q >= 1) return max_;
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const std::uint64_t lo = bucket_lower(i);
      const std::uint64_t mid = lo + (bucket_upper(i) - lo) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace spanline::load
