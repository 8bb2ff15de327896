#include "queue/admission.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace spanline::detail {
namespace {

Row row_of(std::size_t json_bytes) {
  Row row;
  row.json = "{\"id\":\"x\"" + std::string(json_bytes > 10 ? json_bytes - 10 : 0, ' ') + "}";
  row.id_offset = 7;
  row.id_size = 1;
  return row;
}

// Budget, queue and counters with no batcher draining them: whatever is admitted
// stays put, so every bound is exact.
struct Pipeline {
  explicit Pipeline(std::uint64_t max_bytes, std::uint64_t max_rows) : budget(max_bytes, max_rows) {}

  bool offer(Admission& admission, Row row) {
    if (!admission.admit(row.budget_bytes())) {
      counters.add_dropped(DropReason::queue_full, 1);
      return false;
    }
    counters.rows_in.fetch_add(1);
    return queue.push(std::move(row));
  }

  Stats stats() const {
    Stats snapshot;
    counters.copy_to(snapshot);
    return snapshot;
  }

  PipelineCounters counters;
  MemoryBudget budget;
  Accounting accounting{counters, budget};
  RowQueue queue;
};

void expect_no_waits(const Stats& stats) {
  EXPECT_EQ(stats.producer_waits_for_batcher, 0u);
  EXPECT_EQ(stats.producer_waits_for_budget, 0u);
  EXPECT_EQ(stats.producer_wait_seconds, 0.0);
}

TEST(Admission, RowBoundIsExactUnderDropNewest) {
  Pipeline p(1 << 20, 10);
  Admission admission(OverflowPolicy::drop_newest, std::chrono::milliseconds(0), p.budget, p.queue, p.accounting);
  int admitted = 0;
  for (int i = 0; i < 25; ++i) admitted += p.offer(admission, row_of(100)) ? 1 : 0;
  EXPECT_EQ(admitted, 10);
  EXPECT_EQ(p.counters.rows_dropped[static_cast<int>(DropReason::queue_full)].load(), 15u);
  EXPECT_EQ(p.budget.rows_in_use(), 10u);
  EXPECT_EQ(p.queue.size_approx(), 10u);
}

TEST(Admission, ByteBoundIsExactUnderDropNewest) {
  const std::uint64_t row_bytes = row_of(1000).budget_bytes();
  Pipeline p(row_bytes * 4 + row_bytes / 2, 1000);
  Admission admission(OverflowPolicy::drop_newest, std::chrono::milliseconds(0), p.budget, p.queue, p.accounting);
  int admitted = 0;
  for (int i = 0; i < 10; ++i) admitted += p.offer(admission, row_of(1000)) ? 1 : 0;
  EXPECT_EQ(admitted, 4);
  EXPECT_LE(p.budget.bytes_in_use(), p.budget.max_bytes());
}

TEST(Admission, DropOldestEvictsQueuedRowsAndCountsThem) {
  Pipeline p(1 << 20, 5);
  Admission admission(OverflowPolicy::drop_oldest, std::chrono::milliseconds(0), p.budget, p.queue, p.accounting);
  for (int i = 0; i < 12; ++i) EXPECT_TRUE(p.offer(admission, row_of(100)));
  EXPECT_EQ(p.counters.rows_dropped[static_cast<int>(DropReason::evicted_oldest)].load(), 7u);
  EXPECT_EQ(p.counters.rows_settled.load(), 7u);
  EXPECT_EQ(p.budget.rows_in_use(), 5u);
  EXPECT_EQ(p.queue.size_approx(), 5u);
}

TEST(Admission, DropOldestRefusesWhenNothingIsLeftToEvict) {
  Pipeline p(1 << 20, 2);
  Admission admission(OverflowPolicy::drop_oldest, std::chrono::milliseconds(0), p.budget, p.queue, p.accounting);
  ASSERT_TRUE(p.offer(admission, row_of(100)));
  ASSERT_TRUE(p.offer(admission, row_of(100)));
  Row taken[2];
  ASSERT_EQ(p.queue.pop_bulk(taken, 2, std::chrono::microseconds(0)), 2u);  // "batched": out of reach
  EXPECT_FALSE(p.offer(admission, row_of(100)));
  EXPECT_EQ(p.counters.rows_dropped[static_cast<int>(DropReason::queue_full)].load(), 1u);
}

TEST(Admission, BlockTimesOutThenDrops) {
  Pipeline p(1 << 20, 1);
  Admission admission(OverflowPolicy::block, std::chrono::milliseconds(20), p.budget, p.queue, p.accounting);
  ASSERT_TRUE(p.offer(admission, row_of(100)));
  EXPECT_FALSE(p.offer(admission, row_of(100)));
  EXPECT_EQ(p.counters.rows_dropped[static_cast<int>(DropReason::queue_full)].load(), 1u);
  // The refused row waited its timeout for room first.
  EXPECT_EQ(p.stats().producer_waits_for_budget, 1u);
  EXPECT_EQ(p.stats().producer_waits_for_batcher, 0u);
  EXPECT_GT(p.stats().producer_wait_seconds, 0.0);
}

TEST(Admission, BlockWakesWhenRoomIsReleased) {
  Pipeline p(1 << 20, 1);
  Admission admission(OverflowPolicy::block, std::chrono::milliseconds(60'000), p.budget, p.queue, p.accounting);
  const Row first = row_of(100);
  ASSERT_TRUE(p.offer(admission, row_of(100)));
  auto blocked = std::async(std::launch::async, [&] { return admission.admit(first.budget_bytes()); });
  // The producer cannot get in until a row is settled.
  EXPECT_EQ(blocked.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  p.accounting.evicted(1, first.budget_bytes());
  ASSERT_EQ(blocked.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_TRUE(blocked.get());
  const Stats stats = p.stats();
  EXPECT_EQ(stats.producer_waits_for_budget, 1u);
  EXPECT_EQ(stats.producer_waits_for_batcher, 0u);
  EXPECT_GT(stats.producer_wait_seconds, 0.0);
}

TEST(Admission, ClosedBudgetReleasesBlockedProducers) {
  Pipeline p(1 << 20, 1);
  Admission admission(OverflowPolicy::block, std::chrono::milliseconds(60'000), p.budget, p.queue, p.accounting);
  ASSERT_TRUE(p.offer(admission, row_of(100)));
  auto blocked = std::async(std::launch::async, [&] { return admission.admit(200); });
  p.budget.close();
  ASSERT_EQ(blocked.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_FALSE(blocked.get());
}

// ---- a batcher that is behind (backlog.hpp) ----------------------------------------------

TEST(Admission, BlockWaitsForABatcherThatIsBehindThenAdmits) {
  Pipeline p(1 << 20, 1000);
  Backlog backlog(1000);
  backlog.update(5000);
  Admission admission(OverflowPolicy::block, std::chrono::milliseconds(60'000), p.budget, p.queue, p.accounting,
                      {}, &backlog);
  auto waiting = std::async(std::launch::async, [&] { return admission.admit(200); });
  // The budget has room, yet the producer waits for the batcher.
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  EXPECT_EQ(p.budget.rows_in_use(), 0u);
  backlog.update(0);
  ASSERT_EQ(waiting.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_TRUE(waiting.get());
  EXPECT_EQ(p.budget.rows_in_use(), 1u);
  const Stats stats = p.stats();
  EXPECT_EQ(stats.producer_waits_for_batcher, 1u);
  EXPECT_EQ(stats.producer_waits_for_budget, 0u);  // the budget had room once it was its turn
  EXPECT_GT(stats.producer_wait_seconds, 0.0);
}

TEST(Admission, ACallThatWaitsForTheBatcherThenForRoomCountsInBoth) {
  Pipeline p(1 << 20, 1);
  Backlog backlog(1000);
  Admission admission(OverflowPolicy::block, std::chrono::milliseconds(20), p.budget, p.queue, p.accounting,
                      {}, &backlog);
  ASSERT_TRUE(p.offer(admission, row_of(100)));  // the one row the budget holds
  backlog.update(5000);
  // The batcher never catches up and nothing frees room: both waits run into the timeout.
  EXPECT_FALSE(p.offer(admission, row_of(100)));
  const Stats stats = p.stats();
  EXPECT_EQ(stats.producer_waits_for_batcher, 1u);
  EXPECT_EQ(stats.producer_waits_for_budget, 1u);
  EXPECT_GT(stats.producer_wait_seconds, 0.0);
}

TEST(Admission, WaitingOutABacklogNeverDropsARowTheBudgetHasRoomFor) {
  Pipeline p(1 << 20, 1000);
  Backlog backlog(1000);
  backlog.update(5000);
  Admission admission(OverflowPolicy::block, std::chrono::milliseconds(20), p.budget, p.queue, p.accounting, {},
                      &backlog);
  EXPECT_TRUE(p.offer(admission, row_of(100)));
  EXPECT_TRUE(backlog.behind());
  EXPECT_EQ(p.counters.rows_dropped[static_cast<int>(DropReason::queue_full)].load(), 0u);
}

TEST(Admission, DropPoliciesDoNotWaitForTheBacklog) {
  for (const OverflowPolicy policy : {OverflowPolicy::drop_newest, OverflowPolicy::drop_oldest}) {
    Pipeline p(1 << 20, 1000);
    Backlog backlog(1000);
    backlog.update(5000);
    Admission admission(policy, std::chrono::milliseconds(60'000), p.budget, p.queue, p.accounting, {}, &backlog);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_TRUE(p.offer(admission, row_of(100)));
    // Far below the 60 s a wait would last: the call did not wait at all.
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
    expect_no_waits(p.stats());
  }
}

// ---- counting waits ------------------------------------------------------------------------

TEST(Admission, CallsThatFindRoomAndNoBacklogCountNoWait) {
  for (const OverflowPolicy policy : {OverflowPolicy::block, OverflowPolicy::spill}) {
    Pipeline p(64 << 20, 100'000);  // big enough for producer credit
    Backlog backlog(1000);          // not behind
    Admission admission(
        policy, std::chrono::milliseconds(60'000), p.budget, p.queue, p.accounting, [] {}, &backlog);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(p.offer(admission, row_of(100)));
    expect_no_waits(p.stats());
  }
}

TEST(Admission, RefusingAtOnceIsNotAWait) {
  Pipeline p(1 << 20, 1);
  Admission admission(OverflowPolicy::drop_newest, std::chrono::milliseconds(60'000), p.budget, p.queue,
                      p.accounting);
  ASSERT_TRUE(p.offer(admission, row_of(100)));
  EXPECT_FALSE(p.offer(admission, row_of(100)));
  expect_no_waits(p.stats());
}

TEST(Admission, SpillCountsAWaitForRoom) {
  Pipeline p(1 << 20, 1);
  std::atomic<int> asked{0};
  Admission admission(OverflowPolicy::spill, std::chrono::milliseconds(20), p.budget, p.queue, p.accounting,
                      [&] { asked.fetch_add(1); });
  ASSERT_TRUE(p.offer(admission, row_of(100)));
  EXPECT_FALSE(p.offer(admission, row_of(100)));  // nothing made room within the timeout
  EXPECT_GT(asked.load(), 0);
  const Stats stats = p.stats();
  EXPECT_EQ(stats.producer_waits_for_budget, 1u);
  EXPECT_EQ(stats.producer_waits_for_batcher, 0u);
  EXPECT_GT(stats.producer_wait_seconds, 0.0);
}

}  // namespace
}  // namespace spanline::detail
