#include "accounting/memory_budget.hpp"

#include "queue/admission.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

namespace spanline::detail {
namespace {

constexpr std::uint64_t kRowBytes = 764;  // a ~700-byte row and its overhead

TEST(MemoryBudget, CreditChunksScaleWithTheBudgetAndSmallBudgetsGetNone) {
  const MemoryBudget standard(std::uint64_t{64} << 20, 1'000'000);
  EXPECT_EQ(standard.credit_chunk_bytes(), MemoryBudget::kMaxCreditBytes);
  EXPECT_EQ(standard.credit_chunk_rows(), MemoryBudget::kMaxCreditRows);
  const MemoryBudget mid(std::uint64_t{4} << 20, 4'000);
  EXPECT_EQ(mid.credit_chunk_bytes(), (std::uint64_t{4} << 20) / 256);
  EXPECT_EQ(mid.credit_chunk_rows(), 4'000u / 256);
  EXPECT_EQ(MemoryBudget(std::uint64_t{1} << 20, 1'000'000).credit_chunk_rows(),
            0u);                                                                   // 4 KiB chunks: too small
  EXPECT_EQ(MemoryBudget(std::uint64_t{1} << 30, 1'000).credit_chunk_rows(), 0u);  // 3 rows: too few
}

TEST(MemoryBudget, CreditIsSpentWithoutTouchingTheCountersUntilARefill) {
  MemoryBudget budget(std::uint64_t{64} << 20, 1'000'000);
  ASSERT_TRUE(budget.try_acquire_from_credit(kRowBytes));
  // The first row took a whole chunk.
  EXPECT_EQ(budget.bytes_in_use(), MemoryBudget::kMaxCreditBytes);
  EXPECT_EQ(budget.rows_in_use(), MemoryBudget::kMaxCreditRows);
  for (int i = 1; i < 64; ++i) ASSERT_TRUE(budget.try_acquire_from_credit(kRowBytes));
  EXPECT_EQ(budget.rows_in_use(), MemoryBudget::kMaxCreditRows);  // 64 rows: still the first chunk
  ASSERT_TRUE(budget.try_acquire_from_credit(kRowBytes));         // the 65th refills
  EXPECT_EQ(budget.rows_in_use(), 2 * MemoryBudget::kMaxCreditRows);
  // Handing the credit back leaves exactly the rows taken.
  budget.return_credit();
  EXPECT_EQ(budget.rows_in_use(), 65u);
  EXPECT_EQ(budget.bytes_in_use(), 65 * kRowBytes);
  budget.release(65 * kRowBytes, 65);
  EXPECT_EQ(budget.bytes_in_use(), 0u);
  EXPECT_EQ(budget.rows_in_use(), 0u);
}

// Filling the budget through credit: the counters never pass the bounds, and at most
// one chunk of room is left unused (this thread's leftover credit).
TEST(MemoryBudget, CreditNeverExceedsTheBoundsAndWastesAtMostOneChunk) {
  for (const auto& [max_bytes, max_rows] :
       {std::pair<std::uint64_t, std::uint64_t>{std::uint64_t{8} << 20, 1'000'000},
        {std::uint64_t{1} << 30, 5'000}}) {
    MemoryBudget budget(max_bytes, max_rows);
    ASSERT_NE(budget.credit_chunk_rows(), 0u);
    std::uint64_t admitted = 0;
    while (budget.try_acquire_from_credit(kRowBytes)) {
      ++admitted;
      ASSERT_LE(budget.bytes_in_use(), max_bytes);
      ASSERT_LE(budget.rows_in_use(), max_rows);
    }
    const std::uint64_t exact = std::min(max_bytes / kRowBytes, max_rows);
    EXPECT_LE(admitted, exact);
    EXPECT_GE(admitted + budget.credit_chunk_rows(), exact);
    EXPECT_GE(admitted * kRowBytes + budget.credit_chunk_bytes() + kRowBytes,
              std::min(max_bytes, max_rows * kRowBytes));
    budget.return_credit();
    EXPECT_EQ(budget.rows_in_use(), admitted);
    EXPECT_EQ(budget.bytes_in_use(), admitted * kRowBytes);
  }
}

// Past half full no chunk is taken: each row is admitted on its own, exactly.
TEST(MemoryBudget, NoCreditPastHalfFull) {
  MemoryBudget budget(std::uint64_t{64} << 20, 1'000'000);
  ASSERT_TRUE(budget.try_acquire((std::uint64_t{33} << 20)));
  ASSERT_TRUE(budget.try_acquire_from_credit(kRowBytes));
  EXPECT_EQ(budget.bytes_in_use(), (std::uint64_t{33} << 20) + kRowBytes);
  EXPECT_EQ(budget.rows_in_use(), 2u);
}

TEST(MemoryBudget, ARowBiggerThanAChunkGetsCreditOfItsOwnSize) {
  MemoryBudget budget(std::uint64_t{64} << 20, 1'000'000);
  ASSERT_TRUE(budget.try_acquire_from_credit(200'000));
  EXPECT_EQ(budget.bytes_in_use(), 200'000u);
  budget.return_credit();
  EXPECT_EQ(budget.bytes_in_use(), 200'000u);
  EXPECT_EQ(budget.rows_in_use(), 1u);
}

// A thread's credit goes back to the budget when the thread exits: after every row is
// released, nothing is left in use.
TEST(MemoryBudget, CreditGoesBackWhenThreadsExit) {
  MemoryBudget budget(std::uint64_t{64} << 20, 1'000'000);
  constexpr int kThreads = 4, kRows = 10'000;
  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> admitted{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRows; ++i) {
        if (!budget.try_acquire_from_credit(kRowBytes)) continue;
        admitted.fetch_add(1);
        if (i % 2 == 0) budget.release(kRowBytes, 1);  // settled elsewhere, as the sender would
      }
    });
  }
  for (auto& thread : threads) thread.join();
  // Half the rows were released as they went; the other half are still held.
  const std::uint64_t held = admitted.load() - std::uint64_t{kThreads} * (kRows / 2);
  EXPECT_EQ(budget.rows_in_use(), held);
  EXPECT_EQ(budget.bytes_in_use(), held * kRowBytes);
}

// Concurrent producers and a releasing consumer: the rows admitted and not yet released
// never pass the bounds. (The counters themselves may pass them by a row per producer
// for an instant: try_acquire adds first and takes back an overshoot.)
TEST(MemoryBudget, ConcurrentCreditStaysWithinTheBounds) {
  constexpr std::uint64_t kMaxBytes = std::uint64_t{4} << 20, kMaxRows = 4'000;
  constexpr int kProducers = 3;
  MemoryBudget budget(kMaxBytes, kMaxRows);
  ASSERT_NE(budget.credit_chunk_rows(), 0u);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> outstanding{0}, worst_outstanding{0}, worst_bytes{0}, worst_rows{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < kProducers; ++t) {
    producers.emplace_back([&] {
      for (int i = 0; i < 200'000; ++i)
        if (budget.try_acquire_from_credit(kRowBytes)) outstanding.fetch_add(1);
    });
  }
  std::thread consumer([&] {
    while (!stop.load()) {
      worst_outstanding = std::max(worst_outstanding.load(), outstanding.load());
      worst_bytes = std::max(worst_bytes.load(), budget.bytes_in_use());
      worst_rows = std::max(worst_rows.load(), budget.rows_in_use());
      std::uint64_t n = outstanding.load();
      while (n != 0 && !outstanding.compare_exchange_weak(n, n - 1)) {
      }
      if (n != 0) budget.release(kRowBytes, 1);
    }
  });
  for (auto& producer : producers) producer.join();
  stop = true;
  consumer.join();
  EXPECT_LE(worst_outstanding.load(), std::min(kMaxRows, kMaxBytes / kRowBytes));
  EXPECT_LE(worst_bytes.load(), kMaxBytes + kProducers * kRowBytes);
  EXPECT_LE(worst_rows.load(), kMaxRows + kProducers);
  // The producers exited: their credit is back, only unreleased rows remain.
  EXPECT_EQ(budget.rows_in_use(), outstanding.load());
  EXPECT_EQ(budget.bytes_in_use(), outstanding.load() * kRowBytes);
}

// A thread using several budgets keeps credit for each; credit for a budget that is
// gone is dropped, not handed to a stranger.
TEST(MemoryBudget, CreditAcrossSeveralBudgetsAndBudgetsThatAreGone) {
  auto gone = std::make_unique<MemoryBudget>(std::uint64_t{64} << 20, 1'000'000);
  ASSERT_TRUE(gone->try_acquire_from_credit(kRowBytes));
  gone.reset();
  std::vector<std::unique_ptr<MemoryBudget>> budgets;
  for (int i = 0; i < 6; ++i)
    budgets.push_back(std::make_unique<MemoryBudget>(std::uint64_t{64} << 20, 1'000'000));
  for (int round = 0; round < 100; ++round)
    for (auto& budget : budgets) ASSERT_TRUE(budget->try_acquire_from_credit(kRowBytes));
  for (auto& budget : budgets) {
    budget->return_credit();
    EXPECT_EQ(budget->rows_in_use(), 100u);
    EXPECT_EQ(budget->bytes_in_use(), 100 * kRowBytes);
  }
}

// Through Admission (drop_newest): every offered row is either admitted or counted as
// dropped, and the bounds hold, with credit in play.
TEST(MemoryBudget, DropCountsStayExactWithCredit) {
  constexpr std::uint64_t kMaxRows = 5'000;
  MemoryBudget budget(std::uint64_t{1} << 30, kMaxRows);
  ASSERT_NE(budget.credit_chunk_rows(), 0u);
  PipelineCounters counters;
  Accounting accounting(counters, budget);
  RowQueue queue;
  Admission admission(OverflowPolicy::drop_newest, std::chrono::milliseconds(0), budget, queue, accounting);
  std::atomic<std::uint64_t> admitted{0}, dropped{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5'000; ++i) (admission.admit(kRowBytes) ? admitted : dropped).fetch_add(1);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(admitted.load() + dropped.load(), 20'000u);
  EXPECT_LE(admitted.load(), kMaxRows);
  EXPECT_GE(admitted.load(), kMaxRows / 2);          // credit may strand room, never more than half
  EXPECT_EQ(budget.rows_in_use(), admitted.load());  // the threads' leftover credit went back at exit
}

}  // namespace
}  // namespace spanline::detail
