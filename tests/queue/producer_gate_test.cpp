#include "queue/producer_gate.hpp"

#include "queue/asymmetric_fence.hpp"

#include <gtest/gtest.h>

#include <future>
#include <thread>
#include <vector>

namespace spanline::detail {
namespace {

using namespace std::chrono_literals;

TEST(ProducerGate, AdmitsUntilClosed) {
  ProducerGate gate;
  { EXPECT_TRUE(gate.enter()); }
  EXPECT_FALSE(gate.closed());
  gate.close_and_wait();
  EXPECT_TRUE(gate.closed());
  { EXPECT_FALSE(gate.enter()); }
  gate.close_and_wait();  // twice is fine
}

TEST(ProducerGate, CloseWaitsForTheProducerInside) {
  ProducerGate gate;
  std::promise<void> entered, may_leave;
  std::thread producer([&] {
    const auto pass = gate.enter();
    ASSERT_TRUE(pass);
    entered.set_value();
    may_leave.get_future().wait();
  });
  entered.get_future().wait();
  auto closing = std::async(std::launch::async, [&] { gate.close_and_wait(); });
  EXPECT_EQ(closing.wait_for(50ms), std::future_status::timeout);  // still inside
  may_leave.set_value();
  EXPECT_EQ(closing.wait_for(30s), std::future_status::ready);
  producer.join();
}

// Producers count "rows" while inside; once close_and_wait returns, no producer can
// add one: the count it saw is final. Run many times: a broken handshake (a producer
// that passes the gate without close_and_wait seeing it) shows up as a late row.
TEST(ProducerGate, NoProducerGetsPastAClosedGate) {
  for (int round = 0; round < 200; ++round) {
    ProducerGate gate;
    std::atomic<std::uint64_t> rows{0};
    std::atomic<bool> started{false};
    std::vector<std::thread> producers;
    for (int t = 0; t < 3; ++t) {
      producers.emplace_back([&] {
        for (;;) {
          const auto pass = gate.enter();
          if (!pass) return;
          started.store(true);
          rows.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    while (!started.load()) std::this_thread::yield();
    gate.close_and_wait();
    const std::uint64_t at_close = rows.load();
    for (auto& producer : producers) producer.join();
    ASSERT_EQ(rows.load(), at_close) << "round " << round;
  }
}

// Threads come and go: their records are reused and closing still sees everyone.
TEST(ProducerGate, ShortLivedThreads) {
  ProducerGate gate;
  for (int i = 0; i < 200; ++i) {
    std::thread([&] { EXPECT_TRUE(gate.enter()); }).join();
  }
  gate.close_and_wait();
  std::thread([&] { EXPECT_FALSE(gate.enter()); }).join();
}

TEST(AsymmetricFence, ReportsWhichKindIsInUse) {
  std::printf("asymmetric fences (membarrier): %s\n", asymmetric_fences_available() ? "yes" : "no");
  light_fence();
  heavy_fence();
  EXPECT_EQ(asymmetric_fences_available(), asymmetric_fences_available());
}

}  // namespace
}  // namespace spanline::detail
