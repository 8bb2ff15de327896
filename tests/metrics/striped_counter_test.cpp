#include "metrics/striped_counter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace spanline::detail {
namespace {

TEST(StripedCounter, SumsWhatEveryThreadAdded) {
  StripedCounter counter;
  constexpr int kThreads = 24;  // more threads than stripes: some share one
  constexpr std::uint64_t kAddsPerThread = 20'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&counter] {
      for (std::uint64_t i = 0; i < kAddsPerThread; ++i) counter.fetch_add(1, std::memory_order_relaxed);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.load(), kThreads * kAddsPerThread);
}

// A thread may take back more than it added itself (the logger's unadmit runs on the
// thread that admitted, but a stripe shared with others still wraps): the sum stays exact.
TEST(StripedCounter, SubtractingOnAnotherThreadKeepsTheSumExact) {
  StripedCounter counter;
  std::thread adder([&counter] { counter.fetch_add(10); });
  adder.join();
  std::thread taker([&counter] { counter.fetch_sub(3); });
  taker.join();
  EXPECT_EQ(counter.load(), 7u);
  counter.fetch_sub(7);
  EXPECT_EQ(counter.load(), 0u);
}

// rows_pending() reads settled before rows_in and relies on the sum never being seen
// to go down while threads only add.
TEST(StripedCounter, ASumReadWhileOthersAddNeverGoesDown) {
  StripedCounter counter;
  std::atomic<bool> stop{false};
  std::vector<std::thread> adders;
  for (int t = 0; t < 3; ++t) {
    adders.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) counter.fetch_add(1, std::memory_order_release);
    });
  }
  std::uint64_t last = 0;
  for (int i = 0; i < 100'000; ++i) {
    const std::uint64_t now = counter.load(std::memory_order_acquire);
    ASSERT_GE(now, last);
    last = now;
  }
  stop = true;
  for (auto& thread : adders) thread.join();
  EXPECT_GE(counter.load(), last);
}

}  // namespace
}  // namespace spanline::detail
