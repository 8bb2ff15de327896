#include "accounting/body_charge.hpp"

#include "accounting/accounting.hpp"
#include "batch/batch.hpp"
#include "batch/encoder.hpp"
#include "errors/error_reporter.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <vector>

namespace spanline::detail {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kMaxBytes = 100'000;

TEST(MemoryBudgetCharge, ChargesCountAsBytesInUseAndAreNeverRefused) {
  MemoryBudget budget(kMaxBytes, 1'000);
  budget.charge(60'000);
  budget.charge(60'000);  // past the bound: a body already made is counted, not refused
  EXPECT_EQ(budget.bytes_in_use(), 120'000u);
  EXPECT_EQ(budget.charged_bytes(), 120'000u);
  EXPECT_EQ(budget.rows_in_use(), 0u);
  budget.uncharge(120'000);
  EXPECT_EQ(budget.bytes_in_use(), 0u);
  EXPECT_EQ(budget.charged_bytes(), 0u);
}

TEST(MemoryBudgetCharge, ARowIsRefusedWhenRowsAndBodiesTogetherFillTheBudget) {
  MemoryBudget budget(kMaxBytes, 1'000);
  ASSERT_TRUE(budget.try_acquire(50'000));
  budget.charge(40'000);
  // The rows alone (50 000 + 20 000) would fit; with the body they do not.
  EXPECT_FALSE(budget.try_acquire(20'000));
  EXPECT_FALSE(budget.try_acquire_from_credit(20'000));
  EXPECT_FALSE(budget.acquire_until(20'000, std::chrono::steady_clock::now()));
  EXPECT_TRUE(budget.try_acquire(10'000));
  budget.uncharge(40'000);
  EXPECT_TRUE(budget.try_acquire(20'000));
  budget.release(80'000, 3);
  EXPECT_EQ(budget.bytes_in_use(), 0u);
}

// Rows leave room for the bodies they will become: with bodies a quarter of their rows,
// rows alone take at most 1 / 1.25 of the budget, so that rows and bodies together stay
// within it once every row is encoded.
TEST(MemoryBudgetCharge, RowsLeaveRoomForTheBodiesTheyWillBecome) {
  MemoryBudget budget(kMaxBytes, 1'000);
  EXPECT_EQ(budget.row_bytes_limit(), kMaxBytes);  // nothing seen yet: no room kept
  budget.note_body(25'000, 100'000);
  EXPECT_EQ(budget.row_bytes_limit(), 80'000u);
  ASSERT_TRUE(budget.try_acquire(79'000));
  EXPECT_FALSE(budget.try_acquire(2'000));  // the budget has 21 000 free, the rows 1 000
  EXPECT_TRUE(budget.try_acquire(1'000));
  // Encoded, those rows' bodies fill the rest; no more rows fit, by either bound.
  budget.charge(20'000);
  EXPECT_EQ(budget.bytes_in_use(), kMaxBytes);
  EXPECT_FALSE(budget.try_acquire(1));
  budget.uncharge(20'000);
  budget.release(80'000, 2);
  EXPECT_EQ(budget.bytes_in_use(), 0u);
  // The ratio follows the batches: uncompressed bodies, as large as their rows.
  for (int batch = 0; batch < 64; ++batch) budget.note_body(100'000, 100'000);
  EXPECT_LT(budget.row_bytes_limit(), kMaxBytes * 51 / 100);
  MemoryBudget uncompressed(kMaxBytes, 1'000);
  uncompressed.note_body(100'000, 100'000);
  EXPECT_EQ(uncompressed.row_bytes_limit(), kMaxBytes / 2);
}

TEST(MemoryBudgetCharge, GivingABodyBackWakesAWaitingProducer) {
  MemoryBudget budget(kMaxBytes, 1'000);
  ASSERT_TRUE(budget.try_acquire(10'000));
  budget.charge(kMaxBytes);
  auto waiting = std::async(std::launch::async, [&] {
    return budget.acquire_until(10'000, std::chrono::steady_clock::now() + 30s);
  });
  EXPECT_EQ(waiting.wait_for(50ms), std::future_status::timeout);  // still full: it must not get in
  budget.uncharge(kMaxBytes);
  EXPECT_TRUE(waiting.get());
  std::promise<void> woken;
  budget.charge(kMaxBytes);
  budget.notify_when_room([&] { woken.set_value(); });
  budget.uncharge(kMaxBytes);
  EXPECT_EQ(woken.get_future().wait_for(30s), std::future_status::ready);
  budget.release(20'000, 2);
  EXPECT_EQ(budget.bytes_in_use(), 0u);
}

TEST(BodyCharge, IsGivenBackOnceWhetherMovedResetOrDestroyed) {
  MemoryBudget budget(kMaxBytes, 1'000);
  {
    BodyCharge charge(budget, 1'000);
    EXPECT_EQ(budget.charged_bytes(), 1'000u);
    BodyCharge moved(std::move(charge));
    EXPECT_EQ(moved.bytes(), 1'000u);
    EXPECT_EQ(budget.charged_bytes(), 1'000u);
    BodyCharge other(budget, 500);
    other = std::move(moved);  // gives back other's 500, takes the 1 000
    EXPECT_EQ(budget.charged_bytes(), 1'000u);
    const BodyCharge copy(other);  // a copy of a batch counts nothing
    EXPECT_EQ(copy.bytes(), 0u);
    EXPECT_EQ(budget.charged_bytes(), 1'000u);
  }
  EXPECT_EQ(budget.charged_bytes(), 0u);
  EXPECT_EQ(budget.bytes_in_use(), 0u);
  BodyCharge reset(budget, 700);
  reset.reset();
  reset.reset();
  EXPECT_EQ(budget.bytes_in_use(), 0u);
}

Batch batch_of(std::size_t events, std::size_t pad, std::uint64_t row_budget) {
  Batch batch;
  for (std::size_t i = 0; i < events; ++i) {
    BatchEvent& event = batch.events.emplace_back();
    event.json = R"({"id":"e-)" + std::to_string(i) + R"(","pad":")" + std::string(pad, 'x') + "\"}";
    event.budget_bytes = row_budget;
  }
  return batch;
}

// Every way a batch settles gives its body back, before its rows: once its rows show as
// settled, nothing of it is counted any more.
TEST(BodyCharge, SettlingABatchGivesItsBodyBackWithItsRows) {
  PipelineCounters counters;
  MemoryBudget budget(std::uint64_t{1} << 30, 1'000'000);
  Accounting accounting(counters, budget);
  const auto settle_ways = std::vector<std::function<void(Batch&)>>{
      [&](Batch& b) { accounting.delivered(b, b.raw_body_bytes, b.body.size()); },
      [&](Batch& b) { accounting.rejected(b); },
      [&](Batch& b) { accounting.spooled(b); },
      [&](Batch& b) { accounting.dropped(b, DropReason::retries_exhausted); },
  };
  for (const auto& settle : settle_ways) {
    Batch batch = batch_of(10, 200, 300);
    for (int row = 0; row < 10; ++row) ASSERT_TRUE(budget.try_acquire(300));
    encode(batch, Compression::zstd, 1);
    charge_body(batch, budget);
    EXPECT_EQ(budget.charged_bytes(), batch.body.size());
    // A re-encode replaces the charge rather than adding to it.
    encode(batch, Compression::none, 1);
    charge_body(batch, budget);
    EXPECT_EQ(budget.charged_bytes(), batch.body.size());
    EXPECT_EQ(budget.bytes_in_use(), 10 * 300 + batch.body.size());
    settle(batch);
    EXPECT_EQ(budget.charged_bytes(), 0u);
    EXPECT_EQ(budget.bytes_in_use(), 0u);
    EXPECT_EQ(budget.rows_in_use(), 0u);
    EXPECT_FALSE(batch.body.empty());  // the body itself goes with the batch
  }
}

// The sender's place: holds every batch until opened, then settles it as delivered.
class HoldingSink : public BatchSink {
 public:
  explicit HoldingSink(Accounting& accounting) : accounting_(accounting) {}
  void submit(Batch batch) noexcept override {
    std::unique_lock lock(mutex_);
    held_.push_back(std::move(batch));
    changed_.notify_all();
  }
  std::size_t payload_limit() const noexcept override { return std::size_t{6} << 20; }
  Compression encoding() const noexcept override { return Compression::zstd; }
  bool ready_for_batch() const noexcept override { return true; }

  bool wait_held(std::size_t count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 30s, [&] { return held_.size() >= count; });
  }
  std::uint64_t body_bytes() {
    std::lock_guard lock(mutex_);
    std::uint64_t total = 0;
    for (const Batch& batch : held_) total += batch.body.size();
    return total;
  }
  void deliver_all() {
    std::lock_guard lock(mutex_);
    for (Batch& batch : held_) accounting_.delivered(batch, batch.raw_body_bytes, batch.body.size());
    held_.clear();
  }

 private:
  Accounting& accounting_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Batch> held_;
};

TEST(BodyCharge, EncodedBatchesCountUntilTheyAreDelivered) {
  PipelineCounters counters;
  MemoryBudget budget(std::uint64_t{64} << 20, 1'000'000);
  Accounting accounting(counters, budget);
  ErrorReporter errors(0ms);
  HoldingSink sink(accounting);
  Encoder encoder(EncoderConfig{.threads = 2}, sink, accounting, errors);
  encoder.start();
  constexpr std::size_t kBatches = 6;
  constexpr std::uint64_t kRowBudget = 1'000;
  for (std::size_t b = 0; b < kBatches; ++b) {
    ASSERT_TRUE(budget.try_acquire(kRowBudget));
    encoder.submit(batch_of(1, 20'000 + b, kRowBudget));
  }
  ASSERT_TRUE(sink.wait_held(kBatches));
  const std::uint64_t bodies = sink.body_bytes();
  EXPECT_GT(bodies, 0u);
  EXPECT_EQ(budget.charged_bytes(), bodies);
  EXPECT_EQ(budget.bytes_in_use(), kBatches * kRowBudget + bodies);
  sink.deliver_all();
  EXPECT_EQ(budget.charged_bytes(), 0u);
  EXPECT_EQ(budget.bytes_in_use(), 0u);
  EXPECT_EQ(budget.rows_in_use(), 0u);
  encoder.stop();
}

}  // namespace
}  // namespace spanline::detail
