#include "core/last_time.hpp"

#include <gtest/gtest.h>

namespace spanline::detail {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Moments near the clock's epoch stand for a freshly booted machine.
constexpr Clock::time_point kJustBooted = Clock::time_point{} + 30s;

TEST(LastTime, NeverCountsAsPassedWhateverTheUptime) {
  LastTime last;
  EXPECT_TRUE(last.never());
  EXPECT_TRUE(last.passed(kJustBooted, 1h));
  EXPECT_TRUE(last.passed(Clock::time_point{}, std::chrono::hours(24 * 365 * 50)));
  EXPECT_EQ(last.due(1h), Clock::time_point::min());
}

TEST(LastTime, MarkedStartsTheInterval) {
  LastTime last;
  last.mark(kJustBooted);
  EXPECT_FALSE(last.never());
  EXPECT_FALSE(last.passed(kJustBooted, 1s));
  EXPECT_FALSE(last.passed(kJustBooted + 999ms, 1s));
  EXPECT_TRUE(last.passed(kJustBooted + 1s, 1s));
  EXPECT_EQ(last.due(1s), kJustBooted + 1s);
  last.mark(kJustBooted + 5s);
  EXPECT_FALSE(last.passed(kJustBooted + 5500ms, 1s));
}

}  // namespace
}  // namespace spanline::detail
