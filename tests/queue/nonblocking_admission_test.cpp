// Admission for producers that must never wait (the sidecar's I/O threads):
// MemoryBudget::notify_when_room, Admission::try_admit and sidecar::try_log_prepared.

#include "queue/admission.hpp"

#include "fake_api.hpp"
#include "support/wait_support.hpp"

#include <spanline/logger.hpp>
#include <spanline/sidecar/logger.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace spanline::detail {
namespace {

using namespace std::chrono_literals;

Row row_of(std::size_t json_bytes) {
  Row row;
  row.json = "{\"id\":\"x\"" + std::string(json_bytes > 10 ? json_bytes - 10 : 0, ' ') + "}";
  row.id_offset = 7;
  row.id_size = 1;
  return row;
}

// Budget, queue and counters with no batcher draining them: whatever is admitted stays.
struct Pipeline {
  Pipeline(std::uint64_t max_bytes, std::uint64_t max_rows) : budget(max_bytes, max_rows) {}

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

TEST(MemoryBudgetNotice, WakeRunsOnceOnTheReleasingThread) {
  MemoryBudget budget(1000, 10);
  ASSERT_TRUE(budget.try_acquire(600));
  ASSERT_FALSE(budget.try_acquire(600));
  std::atomic<int> wakes{0};
  std::promise<std::thread::id> woken_on;
  budget.notify_when_room([&] {
    if (wakes.fetch_add(1) == 0) woken_on.set_value(std::this_thread::get_id());
  });
  EXPECT_EQ(wakes.load(), 0);  // nothing released yet

  std::thread releaser([&] { budget.release(600, 1); });
  const std::thread::id releaser_id = releaser.get_id();
  releaser.join();
  auto woken = woken_on.get_future();
  ASSERT_EQ(woken.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(woken.get(), releaser_id);
  EXPECT_TRUE(budget.try_acquire(600));
  budget.release(600, 1);  // a second release does not run the spent wake again
  EXPECT_EQ(wakes.load(), 1);
}

TEST(MemoryBudgetNotice, AWakeMayRegisterAgainWithoutDeadlock) {
  MemoryBudget budget(1000, 10);
  int runs = 0;
  std::function<void()> wake = [&] {
    if (++runs < 3) budget.notify_when_room(wake);
  };
  budget.notify_when_room(wake);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(budget.try_acquire(10));
    budget.release(10, 1);
  }
  EXPECT_EQ(runs, 3);
}

TEST(MemoryBudgetNotice, CloseRunsPendingWakesAndLaterOnesAtOnce) {
  MemoryBudget budget(1000, 10);
  int before = 0;
  int after = 0;
  budget.notify_when_room([&] { ++before; });
  budget.notify_when_room([&] { ++before; });
  budget.close();
  EXPECT_EQ(before, 2);
  budget.notify_when_room([&] { ++after; });
  EXPECT_EQ(after, 1);
}

TEST(TryAdmit, BlockAnswersNoRoomAtOnceAndCountsNothing) {
  Pipeline p(1 << 20, 4);
  // A block timeout that would fail the test if try_admit waited it out.
  Admission admission(OverflowPolicy::block, std::chrono::milliseconds(60'000), p.budget, p.queue,
                      p.accounting);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(admission.try_admit(100), Admission::Try::admitted);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(admission.try_admit(100), Admission::Try::no_room);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  const Stats stats = p.stats();
  EXPECT_EQ(stats.producer_waits_for_budget, 0u);
  EXPECT_EQ(stats.rows_dropped_total(), 0u);
  EXPECT_EQ(p.budget.rows_in_use(), 4u);

  p.budget.release(100, 1);
  EXPECT_EQ(admission.try_admit(100), Admission::Try::admitted);
}

TEST(TryAdmit, BlockDoesNotWaitForABatcherThatIsBehind) {
  Pipeline p(1 << 20, 100);
  Backlog backlog(1000);
  backlog.update(5000);  // far behind
  ASSERT_TRUE(backlog.behind());
  Admission admission(OverflowPolicy::block, std::chrono::milliseconds(60'000), p.budget, p.queue,
                      p.accounting, {}, &backlog);
  EXPECT_EQ(admission.try_admit(100), Admission::Try::admitted);
  EXPECT_EQ(p.stats().producer_waits_for_batcher, 0u);
}

TEST(TryAdmit, DropPoliciesDecideAsAdmitDoes) {
  Pipeline newest(1 << 20, 2);
  Admission drop_newest(OverflowPolicy::drop_newest, std::chrono::milliseconds(0), newest.budget,
                        newest.queue, newest.accounting);
  EXPECT_EQ(drop_newest.try_admit(100), Admission::Try::admitted);
  EXPECT_EQ(drop_newest.try_admit(100), Admission::Try::admitted);
  EXPECT_EQ(drop_newest.try_admit(100), Admission::Try::refused);

  Pipeline oldest(1 << 20, 2);
  Admission drop_oldest(OverflowPolicy::drop_oldest, std::chrono::milliseconds(0), oldest.budget,
                        oldest.queue, oldest.accounting);
  for (int i = 0; i < 2; ++i) {
    Row row = row_of(100);
    ASSERT_EQ(drop_oldest.try_admit(row.budget_bytes()), Admission::Try::admitted);
    ASSERT_TRUE(oldest.queue.push(std::move(row)));
  }
  EXPECT_EQ(drop_oldest.try_admit(row_of(100).budget_bytes()), Admission::Try::admitted);
  EXPECT_EQ(oldest.counters.rows_dropped[static_cast<int>(DropReason::evicted_oldest)].load(), 1u);
}

TEST(TryAdmit, SpillAsksForRoomAndAnswersNoRoom) {
  Pipeline p(1 << 20, 1);
  std::atomic<int> asked{0};
  Admission admission(OverflowPolicy::spill, std::chrono::milliseconds(60'000), p.budget, p.queue,
                      p.accounting, [&] { asked.fetch_add(1); });
  ASSERT_EQ(admission.try_admit(100), Admission::Try::admitted);
  EXPECT_EQ(admission.try_admit(100), Admission::Try::no_room);
  EXPECT_EQ(asked.load(), 1);
}

}  // namespace
}  // namespace spanline::detail

namespace spanline {
namespace {

using namespace std::chrono_literals;

PreparedRow prepared(const std::string& id, std::size_t pad) {
  PreparedRow row;
  row.json = R"({"id":")" + id + R"(","input":")" + std::string(pad, 'p') + "\"}";
  row.id_offset = 7;
  row.id_size = static_cast<std::uint32_t>(id.size());
  return row;
}

// An outage keeps every accepted row in the budget until the fake API recovers.
struct OutageLogger {
  OutageLogger() : api(config()) {
    logger = std::make_unique<Logger>(Options{.api_key = "test-key",
                                              .api_url = api.base_url(),
                                              .max_queue_bytes = 64 * 1024,
                                              .overflow = OverflowPolicy::block,
                                              .block_timeout = 60s,
                                              .linger = 5ms,
                                              .retry_base_delay = 10ms,
                                              .retry_max_delay = 50ms});
    to = logger->destination(Destination{.kind = Destination::Kind::project_logs, .id = "try-proj"});
  }
  static fakeapi::ServerConfig config() {
    fakeapi::ServerConfig config;
    config.api_key = "test-key";
    config.faults.fail_5xx = 1.0;
    return config;
  }
  fakeapi::FakeApi api;
  std::unique_ptr<Logger> logger;
  DestinationHandle to;
};

TEST(TryLogPrepared, FullBudgetReturnsTheRowUntouchedAndAWakeComesWhenRoomIsFreed) {
  OutageLogger t;
  std::optional<LogResult> result;
  PreparedRow row;
  int queued = 0;
  const auto started = std::chrono::steady_clock::now();
  for (; queued < 1000; ++queued) {
    row = prepared("row-" + std::to_string(queued), 4000);
    result = sidecar::try_log_prepared(*t.logger, t.to, row);
    if (!result) break;
    ASSERT_EQ(*result, LogResult::queued);
  }
  ASSERT_FALSE(result) << "64 KiB never filled up";
  // Refused at once (the 60 s block timeout never applied), nothing counted, row intact.
  EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);
  EXPECT_EQ(row.json, prepared("row-" + std::to_string(queued), 4000).json);
  Stats stats = t.logger->stats();
  EXPECT_EQ(stats.rows_dropped_total(), 0u);
  EXPECT_EQ(stats.rows_in, static_cast<std::uint64_t>(queued));
  EXPECT_EQ(stats.producer_waits_for_budget, 0u);

  std::promise<void> woken;
  std::atomic<bool> once{false};
  sidecar::notify_when_room(*t.logger, [&] {
    if (!once.exchange(true)) woken.set_value();
  });
  t.api.set_faults({});  // the outage ends; deliveries free the budget
  ASSERT_EQ(woken.get_future().wait_for(30s), std::future_status::ready);
  ASSERT_TRUE(test_support::wait_for([&] { return sidecar::try_log_prepared(*t.logger, t.to, row).has_value(); }, 30s));
  EXPECT_TRUE(row.json.empty());  // taken
  const FlushResult flushed = t.logger->flush(30s);
  EXPECT_TRUE(flushed.complete);
  EXPECT_EQ(t.api.row_count("project_logs", "try-proj"), static_cast<std::size_t>(queued) + 1);
}

TEST(TryLogPrepared, AfterShutdownRowsAreDroppedAndWakesRunAtOnce) {
  OutageLogger t;
  (void)t.logger->shutdown(0ms);
  PreparedRow row = prepared("late", 10);
  EXPECT_EQ(sidecar::try_log_prepared(*t.logger, t.to, row), LogResult::dropped_shutdown);
  bool woken = false;
  sidecar::notify_when_room(*t.logger, [&] { woken = true; });
  EXPECT_TRUE(woken);
}

TEST(TryLogPrepared, DropNewestRefusesAndCountsAsLogPreparedDoes) {
  fakeapi::ServerConfig config = OutageLogger::config();
  fakeapi::FakeApi api(config);
  Logger logger(Options{.api_key = "test-key",
                        .api_url = api.base_url(),
                        .max_queue_bytes = 64 * 1024,
                        .overflow = OverflowPolicy::drop_newest,
                        .retry_base_delay = 10ms,
                        .retry_max_delay = 50ms});
  const DestinationHandle to =
      logger.destination(Destination{.kind = Destination::Kind::project_logs, .id = "p"});
  std::optional<LogResult> result;
  for (int i = 0; i < 1000; ++i) {
    PreparedRow row = prepared("row-" + std::to_string(i), 4000);
    result = sidecar::try_log_prepared(logger, to, row);
    ASSERT_TRUE(result.has_value());
    if (*result != LogResult::queued) break;
  }
  EXPECT_EQ(result, LogResult::dropped_queue_full);
  EXPECT_EQ(logger.stats().rows_dropped_total(), 1u);
  (void)logger.shutdown(0ms);
}

}  // namespace
}  // namespace spanline
