#pragma once
// A log-linear latency histogram (HdrHistogram's bucket layout): values below
// 2^kSubBits are exact, above that every power of two is split into 2^(kSubBits-1)
// equal buckets, so any reported value is within 1/2^(kSubBits-1) (< 0.8 %) of a
// recorded one. Memory is fixed (a few thousand counters); recording is O(1).
//
// Not thread-safe: each harness thread records into its own histogram and the
// driver merges them at the end.

#include <cstdint>
#include <vector>

namespace spanline::load {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBits = 8;                                 // 256 exact values, 128 per octave
  static constexpr std::uint64_t kMaxTrackable = std::uint64_t{1} << 42;  // ~73 min in ns

  LatencyHistogram();

  // Values above kMaxTrackable land in the last bucket; max() stays exact.
  void record(std::uint64_t value, std::uint64_t count = 1) noexcept;
  void merge(const LatencyHistogram& other) noexcept;
  void clear() noexcept;

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept;

  // The value at quantile q in [0,1]: the smallest recorded bucket whose cumulative
  // count reaches ceil(q * count), reported as the bucket's midpoint clamped to
  // [min, max]. 0 when empty. q = 1 gives max() exactly, q = 0 gives min().
  std::uint64_t percentile(double q) const noexcept;

  // Bucket layout, exposed for tests.
  static std::size_t bucket_index(std::uint64_t value) noexcept;
  static std::uint64_t bucket_lower(std::size_t index) noexcept;
  static std::uint64_t bucket_upper(std::size_t index) noexcept;  // inclusive
  static std::size_t bucket_count() noexcept;

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace spanline::load
