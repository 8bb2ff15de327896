#include "produce/row_text_reserve.hpp"

#include "core/wall_clock.hpp"
#include "produce/row_builder.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace spanline::detail {
namespace {

// Each test body runs on a thread of its own: the pool is per thread, and a fresh one
// starts empty whatever ran before in this process.
template <typename Body>
void on_fresh_thread(Body body) {
  std::thread thread(body);
  thread.join();
}

TEST(RowTextReserve, CallsInSteadyStateFillThePoolAndTakeNothing) {
  on_fresh_thread([] {
    EXPECT_EQ(RowTextReserve::spare_count(), 0u);
    RowTextReserve::prepare(700, /*after_pause=*/false);
    EXPECT_EQ(RowTextReserve::spare_count(), 1u);  // one per call at most
    std::string text;
    EXPECT_FALSE(RowTextReserve::take(text, 700));
    RowTextReserve::prepare(700, false);
    RowTextReserve::prepare(700, false);
    EXPECT_EQ(RowTextReserve::spare_count(), RowTextReserve::kPoolSize);
    EXPECT_FALSE(RowTextReserve::take(text, 700));
    EXPECT_EQ(text.capacity(), std::string().capacity());  // untouched
    EXPECT_GE(RowTextReserve::spare_capacity(), 700u);
  });
}

TEST(RowTextReserve, AfterAPauseOneRowTakesASpareAndTheNextCallPutsOneBack) {
  on_fresh_thread([] {
    for (std::size_t i = 0; i < RowTextReserve::kPoolSize; ++i) RowTextReserve::prepare(700, false);
    const std::size_t capacity = RowTextReserve::spare_capacity();
    RowTextReserve::prepare(700, /*after_pause=*/true);
    EXPECT_EQ(RowTextReserve::spare_count(), RowTextReserve::kPoolSize);  // nothing allocated
    std::string text;
    ASSERT_TRUE(RowTextReserve::take(text, 690));
    EXPECT_TRUE(text.empty());
    EXPECT_EQ(text.capacity(), capacity);
    EXPECT_EQ(RowTextReserve::spare_count(), RowTextReserve::kPoolSize - 1);
    // One spare per pause: a second row of the same call allocates its own.
    std::string other;
    EXPECT_FALSE(RowTextReserve::take(other, 690));
    RowTextReserve::prepare(700, false);
    EXPECT_EQ(RowTextReserve::spare_count(), RowTextReserve::kPoolSize);
  });
}

TEST(RowTextReserve, ASpareGoesOnlyToARowItFits) {
  on_fresh_thread([] {
    RowTextReserve::prepare(700, false);
    const std::size_t capacity = RowTextReserve::spare_capacity();
    ASSERT_TRUE(RowTextReserve::fits(capacity, 700));
    std::string text;
    RowTextReserve::prepare(100, true);
    EXPECT_FALSE(RowTextReserve::take(text, 100));  // far too big: the budget would undercount it
    RowTextReserve::prepare(capacity + 1, true);
    EXPECT_FALSE(RowTextReserve::take(text, capacity + 1));  // too small
    EXPECT_EQ(RowTextReserve::spare_count(), 1u);
    // Rows of the same shape a little longer or shorter still fit.
    EXPECT_TRUE(RowTextReserve::fits(RowTextReserve::capacity_for(700), 700));
    EXPECT_TRUE(RowTextReserve::fits(RowTextReserve::capacity_for(700), 760));
    EXPECT_TRUE(RowTextReserve::fits(RowTextReserve::capacity_for(700), 600));
    EXPECT_FALSE(RowTextReserve::fits(RowTextReserve::capacity_for(2000), 1000));
  });
}

TEST(RowTextReserve, SmallRowsNeedNoSpare) {
  on_fresh_thread([] {
    RowTextReserve::prepare(10, false);
    EXPECT_EQ(RowTextReserve::spare_count(), 0u);
  });
}

// Rows written into spares stay intact while later spares are allocated, taken and
// written: a spare leaves the pool with the row, and nothing else writes it after.
TEST(RowTextReserve, RowsWrittenIntoSparesStayIntact) {
  on_fresh_thread([] {
    const RowBuilder builder(IdFormat::uuid);
    std::vector<Row> rows;
    std::vector<std::string> expected_inputs;
    std::size_t taken = 0;
    for (int i = 0; i < 400; ++i) {
      Fields fields;
      expected_inputs.push_back("question " + std::to_string(i) + std::string(static_cast<std::size_t>(i % 7) * 40, 'x'));
      fields.string("input", expected_inputs.back()).metrics({{"tokens", i}});
      const RowDraft draft = builder.draft_event(0, fields, {});
      RowTextReserve::prepare(draft.json_size(), /*after_pause=*/i % 3 == 0);
      const std::size_t prepared = RowTextReserve::spare_count();
      rows.push_back(draft.write());
      if (RowTextReserve::spare_count() < prepared) ++taken;
      ASSERT_EQ(rows.back().json.size(), draft.json_size());
    }
    EXPECT_GT(taken, 20u);  // the shapes vary: some pauses find a spare that fits, some do not
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto row = boost::json::parse(rows[i].json).as_object();
      EXPECT_EQ(row.at("input").as_string(), expected_inputs[i]) << i;
      EXPECT_EQ(row.at("metrics").at("tokens").as_int64(), static_cast<std::int64_t>(i));
      EXPECT_EQ(rows[i].id().size(), 36u);
    }
  });
}

TEST(RowTextReserve, TheWallClockTellsAPauseFromBackToBackReadings) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the pause hint reads the TSC";
#else
  on_fresh_thread([] {
    (void)wall_clock_now();
    EXPECT_TRUE(take_wall_clock_pause());  // a thread's first reading follows no other
    EXPECT_FALSE(take_wall_clock_pause());  // reading the hint resets it
    // Back to back readings are no pause; a loaded machine may preempt this thread in
    // between, so one quick pair out of many is enough.
    bool quick_pair = false;
    for (int attempt = 0; attempt < 1000 && !quick_pair; ++attempt) {
      (void)wall_clock_now();
      (void)wall_clock_now();
      quick_pair = !take_wall_clock_pause();
    }
    EXPECT_TRUE(quick_pair);
    // Let well over kWallClockPauseTicks pass at any plausible tick rate (≤ 10 GHz).
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(5);
    while (std::chrono::steady_clock::now() < until) {
    }
    (void)wall_clock_now();
    EXPECT_TRUE(take_wall_clock_pause());
  });
#endif
}

}  // namespace
}  // namespace spanline::detail
