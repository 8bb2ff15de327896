#include "queue/backlog.hpp"

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace spanline::detail {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kFar = 60s;  // reached only when a wake-up is lost

TEST(Backlog, BehindAboveTheLimitAndCaughtUpAtHalfOfIt) {
  Backlog backlog(1000);
  EXPECT_FALSE(backlog.behind());
  backlog.update(1000);
  EXPECT_FALSE(backlog.behind()) << "at the limit is not behind";
  backlog.update(1001);
  EXPECT_TRUE(backlog.behind());
  backlog.update(501);
  EXPECT_TRUE(backlog.behind()) << "between half and the limit it stays behind";
  backlog.update(500);
  EXPECT_FALSE(backlog.behind());
  backlog.update(900);
  EXPECT_FALSE(backlog.behind()) << "below the limit it stays caught up";
}

TEST(Backlog, AWaiterWakesWhenTheBatcherCatchesUp) {
  Backlog backlog(1000);
  backlog.update(5000);
  const auto deadline = Clock::now() + kFar;
  std::promise<void> started;
  auto waiter = std::async(std::launch::async, [&] {
    started.set_value();
    backlog.wait_until_caught_up(deadline);
    return Clock::now();
  });
  started.get_future().wait();
  backlog.update(800);  // still behind: the waiter must not return for this
  backlog.update(0);
  ASSERT_EQ(waiter.wait_until(deadline), std::future_status::ready);
  EXPECT_LT(waiter.get(), deadline);
  EXPECT_FALSE(backlog.behind());
}

TEST(Backlog, AWaitEndsAtItsDeadlineWhileStillBehind) {
  Backlog backlog(1000);
  backlog.update(5000);
  const auto deadline = Clock::now() + 50ms;
  backlog.wait_until_caught_up(deadline);
  EXPECT_GE(Clock::now(), deadline);
  EXPECT_TRUE(backlog.behind());
}

TEST(Backlog, NotBehindReturnsAtOnce) {
  Backlog backlog(1000);
  const auto deadline = Clock::now() + kFar;
  backlog.wait_until_caught_up(deadline);
  EXPECT_LT(Clock::now(), deadline);
}

TEST(Backlog, CloseWakesWaitersAndKeepsItCaughtUp) {
  Backlog backlog(1000);
  backlog.update(5000);
  const auto deadline = Clock::now() + kFar;
  auto waiter = std::async(std::launch::async, [&] {
    backlog.wait_until_caught_up(deadline);
    return Clock::now();
  });
  backlog.close();
  ASSERT_EQ(waiter.wait_until(deadline), std::future_status::ready);
  EXPECT_LT(waiter.get(), deadline);
  backlog.update(1'000'000);
  EXPECT_FALSE(backlog.behind()) << "a closed backlog never holds producers again";
}

}  // namespace
}  // namespace spanline::detail
