#include "core/wall_clock.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

namespace spanline::detail {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kOneNsPerTick = std::uint64_t{1} << 32;  // 32.32 fixed point
constexpr std::int64_t kT = 1'700'000'000'000'000'000;           // some instant, ns since the epoch
constexpr std::int64_t kWindow = std::chrono::nanoseconds(kWallClockReanchor).count();
constexpr std::int64_t kHold = std::chrono::nanoseconds(kWallClockMaxHold).count();

TEST(TscAnchor, WithoutARateEveryReadingReanchors) {
  TscAnchor anchor;
  std::int64_t ns = 0;
  EXPECT_FALSE(anchor.extrapolate(1'000, ns));
  EXPECT_EQ(anchor.reanchor(1'000, kT, 0), kT);
  EXPECT_FALSE(anchor.extrapolate(1'001, ns));
}

TEST(TscAnchor, ExtrapolatesInsideTheWindowOnly) {
  TscAnchor anchor;
  EXPECT_EQ(anchor.reanchor(1'000, kT, kOneNsPerTick / 2), kT);  // 2 ticks per ns
  std::int64_t ns = 0;
  ASSERT_TRUE(anchor.extrapolate(1'000 + 2'000, ns));
  EXPECT_EQ(ns, kT + 1'000);
  ASSERT_TRUE(anchor.extrapolate(1'000 + 2 * static_cast<std::uint64_t>(kWindow) - 2, ns));
  EXPECT_EQ(ns, kT + kWindow - 1);
  EXPECT_FALSE(anchor.extrapolate(1'000 + 2 * static_cast<std::uint64_t>(kWindow), ns));
}

TEST(TscAnchor, ACounterBehindTheAnchorReanchors) {
  // The thread moved to a CPU whose counter lags: the delta wraps and must not be used.
  TscAnchor anchor;
  (void)anchor.reanchor(1'000'000, kT, kOneNsPerTick);
  std::int64_t ns = 0;
  EXPECT_FALSE(anchor.extrapolate(999'999, ns));
}

TEST(TscAnchor, HoldsFlatThroughASmallBackwardCorrection) {
  TscAnchor anchor;
  (void)anchor.reanchor(0, kT, kOneNsPerTick);
  std::int64_t ns = 0;
  ASSERT_TRUE(anchor.extrapolate(900'000, ns));
  EXPECT_EQ(ns, kT + 900'000);
  // The system clock says the TSC ran 100 us fast: this thread holds at its last time...
  EXPECT_EQ(anchor.reanchor(1'000'000, kT + 800'000, kOneNsPerTick), kT + 900'000);
  ASSERT_TRUE(anchor.extrapolate(1'050'000, ns));
  EXPECT_EQ(ns, kT + 900'000);
  // ...until the system time passes it.
  ASSERT_TRUE(anchor.extrapolate(1'150'000, ns));
  EXPECT_EQ(ns, kT + 950'000);
}

TEST(TscAnchor, FollowsSystemClockSteps) {
  TscAnchor anchor;
  (void)anchor.reanchor(0, kT, kOneNsPerTick);
  std::int64_t ns = 0;
  ASSERT_TRUE(anchor.extrapolate(500'000, ns));
  // Set back by ten seconds: more than the hold, so followed at once.
  EXPECT_EQ(anchor.reanchor(2'000'000, kT - 10'000'000'000, kOneNsPerTick), kT - 10'000'000'000);
  ASSERT_TRUE(anchor.extrapolate(2'000'010, ns));
  EXPECT_EQ(ns, kT - 10'000'000'000 + 10);
  // Set forward by an hour.
  const std::int64_t later = kT + 3'600'000'000'000;
  EXPECT_EQ(anchor.reanchor(4'000'000, later, kOneNsPerTick), later);
  // A step back of just over the hold is a step, not drift.
  EXPECT_EQ(anchor.reanchor(6'000'000, later - kHold - 1, kOneNsPerTick), later - kHold - 1);
}

TEST(TscRate, CalibratesAfterTheFirstBaselineAndRefines) {
  TscRate rate;
  rate.observe(1'000, 0);
  EXPECT_EQ(rate.ns_per_tick_q32(), 0u);
  EXPECT_FALSE(rate.wants_reading(1'001));  // nothing can be learned this soon
  rate.observe(2'000'000, 1'000'000);       // 1 ms in: too short a baseline
  EXPECT_EQ(rate.ns_per_tick_q32(), 0u);
  rate.observe(1'000 + 25'000'000, 10'000'000);  // 2.5 GHz over 10 ms
  EXPECT_NEAR(static_cast<double>(rate.ns_per_tick_q32()) / kOneNsPerTick, 0.4, 1e-9);
  rate.observe(1'000 + 25'000'000 + 40, 10'000'100);  // baseline not doubled yet: ignored
  EXPECT_NEAR(static_cast<double>(rate.ns_per_tick_q32()) / kOneNsPerTick, 0.4, 1e-9);
  rate.observe(1'000 + 50'000'050, 20'000'000);  // refined over 20 ms
  EXPECT_NEAR(static_cast<double>(rate.ns_per_tick_q32()) / kOneNsPerTick, 20'000'000.0 / 50'000'050.0, 1e-9);
}

// Between refinements a re-anchor needs no monotonic reading: the rate says which TSC
// readings can be due for the next refinement (a little early, never late).
TEST(TscRate, OnceCalibratedOnlyReadingsDueForARefinementAreWanted) {
  TscRate rate;
  rate.observe(1'000, 0);
  rate.observe(1'000 + 25'000'000, 10'000'000);  // 2.5 GHz over 10 ms; next refinement at 20 ms
  ASSERT_NE(rate.ns_per_tick_q32(), 0u);
  const std::uint64_t due = 1'000 + 50'000'000;  // 20 ms at 2.5 GHz
  EXPECT_FALSE(rate.wants_reading(1'000 + 25'000'001));
  EXPECT_FALSE(rate.wants_reading(due - 500'000));  // 0.2 ms before: more than the 1% margin
  EXPECT_TRUE(rate.wants_reading(due));
  // A reading taken a little early is ignored and moves the mark closer to the due time.
  rate.observe(due - 200'000, 19'920'000);
  EXPECT_FALSE(rate.wants_reading(due - 100'000));
  EXPECT_TRUE(rate.wants_reading(due));
  rate.observe(due, 20'000'000);  // refined; the next one is due 20 ms later
  EXPECT_FALSE(rate.wants_reading(due + 1'000));
  EXPECT_TRUE(rate.wants_reading(due + 50'000'000));
}

TEST(TscRate, RefusesAnImplausibleRate) {
  TscRate rate;
  rate.observe(0, 0);
  rate.observe(1'000'000'000'000, 10'000'000);  // 100 THz
  EXPECT_EQ(rate.ns_per_tick_q32(), 0u);
}

// The real clock against system_clock, from several threads: every reading lies within
// a millisecond of a system_clock reading taken around it, and one thread's readings
// never go backwards. Runs on any machine (with the TSC, or falling back).
TEST(WallClock, StaysWithinAMillisecondOfSystemClockAndNeverStepsBack) {
  using Clock = std::chrono::system_clock;
  // Let the calibration finish (where the TSC is used at all).
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!wall_clock_uses_tsc() && std::chrono::steady_clock::now() < deadline) (void)wall_clock_now();

  constexpr int kThreads = 3;
  constexpr int kReadings = 300'000;
  std::vector<std::int64_t> worst_behind(kThreads, 0), worst_ahead(kThreads, 0), backward_steps(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto previous = Clock::time_point::min();
      for (int i = 0; i < kReadings; ++i) {
        const auto before = Clock::now();
        const auto reading = wall_clock_now();
        const auto after = Clock::now();
        worst_behind[t] = std::max<std::int64_t>(worst_behind[t], (before - reading).count());
        worst_ahead[t] = std::max<std::int64_t>(worst_ahead[t], (reading - after).count());
        if (reading < previous) ++backward_steps[t];
        previous = reading;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto ms = std::chrono::duration_cast<Clock::duration>(1ms).count();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_LE(worst_behind[t], ms) << "thread " << t;
    EXPECT_LE(worst_ahead[t], ms) << "thread " << t;
    EXPECT_EQ(backward_steps[t], 0) << "thread " << t;
  }
  std::printf("wall_clock_now uses the TSC: %s; worst behind/ahead of system_clock: %lld/%lld ns\n",
              wall_clock_uses_tsc() ? "yes" : "no",
              static_cast<long long>(*std::max_element(worst_behind.begin(), worst_behind.end())),
              static_cast<long long>(*std::max_element(worst_ahead.begin(), worst_ahead.end())));
}

}  // namespace
}  // namespace spanline::detail
