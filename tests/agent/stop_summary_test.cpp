#include "stop_summary.hpp"

#include <gtest/gtest.h>

namespace spanline::agent {
namespace {

// A run that refused, rejected, dropped, spooled and also replayed an earlier run's spool.
Stats busy_run() {
  Stats stats;
  stats.rows_in = 1000;
  stats.rows_refused = 7;  // e.g. too large when logged
  stats.rows_dropped[static_cast<std::size_t>(DropReason::too_large)] = 7;
  stats.rows_dropped[static_cast<std::size_t>(DropReason::retries_exhausted)] = 20;
  stats.rows_delivered = 900 + 50;  // 50 from the earlier run's spool
  stats.spool.rows_replayed_delivered = 50;
  stats.rows_rejected = 3 + 2;
  stats.spool.rows_replayed_rejected = 2;
  stats.pending_rows = 0;
  return stats;
}

TEST(StopSummary, FiguresOfAMixedRunAddUpAndLeaveTheReplayOut) {
  FlushResult result;
  result.spooled = 77;
  result.complete = true;
  const StopSummary s = make_stop_summary(busy_run(), result);
  EXPECT_EQ(s.received, 1007u);
  EXPECT_EQ(s.accepted, 1000u);
  EXPECT_EQ(s.refused, 7u);
  EXPECT_EQ(s.delivered, 900u);
  EXPECT_EQ(s.rejected, 3u);
  EXPECT_EQ(s.dropped, 20u);
  EXPECT_EQ(s.spooled, 77u);
  EXPECT_EQ(s.replayed_delivered, 50u);
  EXPECT_EQ(s.replayed_rejected, 2u);
  EXPECT_TRUE(s.adds_up());
  EXPECT_EQ(to_string(s),
            "received=1007 accepted=1000 refused=7 delivered=900 rejected=3 dropped=20 spooled=77 pending=0 "
            "replayed_delivered=50 replayed_rejected=2 complete=yes");
}

TEST(StopSummary, ARowCountedTwiceOrNotAtAllDoesNotAddUp) {
  FlushResult result;
  result.spooled = 76;  // one row short
  EXPECT_FALSE(make_stop_summary(busy_run(), result).adds_up());
  result.spooled = 77;
  Stats stats = busy_run();
  stats.pending_rows = 1;  // one row in two states
  EXPECT_FALSE(make_stop_summary(stats, result).adds_up());
}

}  // namespace
}  // namespace spanline::agent
