#include "queue/row_queue.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <thread>
#include <vector>

namespace spanline::detail {
namespace {

using namespace std::chrono_literals;

Row row_with(std::string json) {
  Row row;
  row.json = std::move(json);
  return row;
}

// A consumer asleep waiting for a push must be woken by the next push, however the two
// race: a missed wake-up would leave it asleep for the whole minute.
TEST(RowQueue, APushAlwaysWakesAConsumerWaitingForOne) {
  RowQueue queue;
  for (int round = 0; round < 300; ++round) {
    auto consumer = std::async(std::launch::async, [&] {
      Row out[4];
      // An earlier round's late signal may end a wait early, with nothing to take: wait again.
      std::size_t n = 0;
      while (n == 0)
        n = queue.pop_bulk(out, 4, std::chrono::microseconds(60'000'000), RowQueue::WakeOn::push);
      return n;
    });
    if (round % 3 == 1) std::this_thread::yield();  // vary who gets there first
    ASSERT_TRUE(queue.push(row_with("{\"id\":\"x\"}")));
    ASSERT_EQ(consumer.wait_for(20s), std::future_status::ready) << "round " << round;
    EXPECT_EQ(consumer.get(), 1u);
  }
}

TEST(RowQueue, ExplicitWakeOnlyWakesOnWake) {
  RowQueue queue;
  auto consumer = std::async(std::launch::async, [&] {
    Row out[4];
    return queue.pop_bulk(out, 4, std::chrono::microseconds(60'000'000), RowQueue::WakeOn::explicit_wake);
  });
  queue.wake();
  ASSERT_EQ(consumer.wait_for(20s), std::future_status::ready);
  EXPECT_LE(consumer.get(), 1u);  // the sentinel, or nothing if it was taken before the wait
}

// Rows from several producer threads all come out, each once.
TEST(RowQueue, EveryRowFromEveryProducerComesOutOnce) {
  RowQueue queue;
  constexpr int kThreads = 3, kRows = 20'000;
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kRows; ++i) ASSERT_TRUE(queue.push(row_with(std::to_string(t * kRows + i))));
    });
  }
  std::vector<int> seen(kThreads * kRows, 0);
  std::vector<Row> out(256);
  int taken = 0;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (taken < kThreads * kRows && std::chrono::steady_clock::now() < deadline) {
    const std::size_t n = queue.pop_bulk(out.data(), out.size(), std::chrono::microseconds(1000));
    for (std::size_t i = 0; i < n; ++i) {
      ++seen[static_cast<std::size_t>(std::stoi(out[i].json))];
      ++taken;
    }
  }
  for (auto& producer : producers) producer.join();
  EXPECT_EQ(taken, kThreads * kRows);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), kThreads * kRows);
}

}  // namespace
}  // namespace spanline::detail
