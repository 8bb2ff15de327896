#include "histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace spanline::load {
namespace {

// The exact q-quantile of sorted data, by the same rank rule: the ceil(q*n)-th smallest.
std::uint64_t exact_quantile(const std::vector<std::uint64_t>& sorted, double q) {
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void expect_within(std::uint64_t got, std::uint64_t want, double rel) {
  const double err = std::fabs(static_cast<double>(got) - static_cast<double>(want));
  EXPECT_LE(err, rel * static_cast<double>(want) + 0.5) << "got " << got << " want " << want;
}

TEST(LoadHistogram, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(0.5), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
}

TEST(LoadHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.percentile(0.5), 50u);
  EXPECT_EQ(h.percentile(0.9), 90u);
  EXPECT_EQ(h.percentile(0.99), 99u);
  EXPECT_EQ(h.percentile(1.0), 100u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(LoadHistogram, BucketsCoverEveryValueOnce) {
  for (std::uint64_t v :
       {0ull, 1ull, 255ull, 256ull, 257ull, 511ull, 512ull, 1000ull, 123456789ull, (1ull << 41) + 12345}) {
    const std::size_t i = LatencyHistogram::bucket_index(v);
    EXPECT_LE(LatencyHistogram::bucket_lower(i), v) << v;
    EXPECT_GE(LatencyHistogram::bucket_upper(i), v) << v;
    // Relative bucket width bounds the error.
    const auto width = LatencyHistogram::bucket_upper(i) - LatencyHistogram::bucket_lower(i) + 1;
    EXPECT_LE(static_cast<double>(width), std::max(1.0, static_cast<double>(v) / 128.0 + 1)) << v;
  }
  // Adjacent buckets touch.
  for (std::size_t i = 1; i < 2000; ++i) {
    EXPECT_EQ(LatencyHistogram::bucket_upper(i - 1) + 1, LatencyHistogram::bucket_lower(i)) << i;
  }
}

TEST(LoadHistogram, PercentilesOfUniformDataWithinOnePercent) {
  LatencyHistogram h;
  std::vector<std::uint64_t> data;
  for (std::uint64_t v = 1; v <= 200'000; ++v) data.push_back(v * 37);  // up to ~7.4 ms in ns
  for (auto v : data) h.record(v);
  for (double q : {0.5, 0.9, 0.99, 0.999}) expect_within(h.percentile(q), exact_quantile(data, q), 0.01);
  EXPECT_EQ(h.max(), data.back());
  EXPECT_EQ(h.min(), data.front());
}

TEST(LoadHistogram, PercentilesOfSkewedDataWithinOnePercent) {
  // A latency-like long tail: mostly ~2 us, some ~100 us, a few ~30 ms.
  std::vector<std::uint64_t> data;
  for (int i = 0; i < 9000; ++i) data.push_back(2000 + static_cast<std::uint64_t>(i % 500));
  for (int i = 0; i < 990; ++i) data.push_back(100'000 + static_cast<std::uint64_t>(i) * 13);
  for (int i = 0; i < 10; ++i) data.push_back(30'000'000 + static_cast<std::uint64_t>(i) * 1'000'000);
  LatencyHistogram h;
  for (auto v : data) h.record(v);
  std::sort(data.begin(), data.end());
  for (double q : {0.5, 0.9, 0.95, 0.99, 0.999})
    expect_within(h.percentile(q), exact_quantile(data, q), 0.01);
  EXPECT_EQ(h.percentile(1.0), 39'000'000u);
}

TEST(LoadHistogram, RecordWithCountEqualsRepeatedRecords) {
  LatencyHistogram a, b;
  a.record(5000, 1000);
  a.record(90'000, 10);
  for (int i = 0; i < 1000; ++i) b.record(5000);
  for (int i = 0; i < 10; ++i) b.record(90'000);
  for (double q : {0.5, 0.99, 0.995, 1.0}) EXPECT_EQ(a.percentile(q), b.percentile(q));
  EXPECT_EQ(a.count(), 1010u);
}

TEST(LoadHistogram, MergeEqualsRecordingEverything) {
  LatencyHistogram a, b, all;
  for (std::uint64_t v = 1; v < 50'000; v += 7) {
    ((v % 2) ? a : b).record(v * 11);
    all.record(v * 11);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_EQ(a.min(), all.min());
  for (double q : {0.1, 0.5, 0.9, 0.99}) EXPECT_EQ(a.percentile(q), all.percentile(q));
}

TEST(LoadHistogram, HugeValuesClampButMaxStaysExact) {
  LatencyHistogram h;
  const std::uint64_t huge = LatencyHistogram::kMaxTrackable * 4;
  h.record(huge);
  EXPECT_EQ(h.max(), huge);
  EXPECT_EQ(h.percentile(1.0), huge);
  EXPECT_EQ(h.percentile(0.5), huge);  // clamped to [min, max]
}

}  // namespace
}  // namespace spanline::load
