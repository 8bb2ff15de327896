#include "transport/concurrency_limit.hpp"

#include <gtest/gtest.h>

namespace spanline::detail {
namespace {

TEST(ConcurrencyLimitTest, StartsAtInitialClampedIntoRange) {
  EXPECT_EQ(ConcurrencyLimit(2, 8).current(), 2u);
  EXPECT_EQ(ConcurrencyLimit(0, 8).current(), 1u);
  EXPECT_EQ(ConcurrencyLimit(20, 8).current(), 8u);
  EXPECT_EQ(ConcurrencyLimit(3, 0).current(), 1u);
  EXPECT_EQ(ConcurrencyLimit(3, 0).max(), 1u);
}

TEST(ConcurrencyLimitTest, AdditiveIncreaseAfterAWindowOfSuccesses) {
  ConcurrencyLimit limit(2, 8);
  limit.on_success();
  EXPECT_EQ(limit.current(), 2u);  // one success is not a full window of 2
  limit.on_success();
  EXPECT_EQ(limit.current(), 3u);
  for (int i = 0; i < 2; ++i) limit.on_success();
  EXPECT_EQ(limit.current(), 3u);
  limit.on_success();
  EXPECT_EQ(limit.current(), 4u);  // a window of 3 successes at limit 3
}

TEST(ConcurrencyLimitTest, NeverExceedsMax) {
  ConcurrencyLimit limit(1, 4);
  for (int i = 0; i < 1000; ++i) limit.on_success();
  EXPECT_EQ(limit.current(), 4u);
}

TEST(ConcurrencyLimitTest, MultiplicativeDecreaseHalvesDownToOne) {
  ConcurrencyLimit limit(8, 8);
  limit.on_congestion();
  EXPECT_EQ(limit.current(), 4u);
  limit.on_congestion();
  EXPECT_EQ(limit.current(), 2u);
  limit.on_congestion();
  EXPECT_EQ(limit.current(), 1u);
  limit.on_congestion();
  EXPECT_EQ(limit.current(), 1u);
}

TEST(ConcurrencyLimitTest, CongestionRestartsTheSuccessWindow) {
  ConcurrencyLimit limit(4, 8);
  for (int i = 0; i < 3; ++i) limit.on_success();  // 3 of a window of 4
  limit.on_congestion();                           // -> 2, window restarts
  EXPECT_EQ(limit.current(), 2u);
  limit.on_success();
  EXPECT_EQ(limit.current(), 2u);
  limit.on_success();
  EXPECT_EQ(limit.current(), 3u);
}

}  // namespace
}  // namespace spanline::detail
