#include "accounting.hpp"

#include "probe.hpp"

#include <gtest/gtest.h>

namespace spanline::load {
namespace {

TEST(LoadAccounting, NothingLostWhenEveryIdArrived) {
  const LossSummary s = account({.sent = 1000, .delivered_unique = 1000, .duplicates = 37});
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.unexpected, 0u);
  EXPECT_EQ(s.loss_ratio, 0.0);
}

TEST(LoadAccounting, LostIsSentMinusDeliveredUnique) {
  // Duplicates never make up for missing ids.
  const LossSummary s = account({.sent = 1000, .delivered_unique = 990, .duplicates = 500});
  EXPECT_EQ(s.lost, 10u);
  EXPECT_DOUBLE_EQ(s.loss_ratio, 0.01);
}

TEST(LoadAccounting, MoreDeliveredThanSentIsFlaggedNotNegative) {
  const LossSummary s = account({.sent = 10, .delivered_unique = 12});
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.unexpected, 2u);
}

TEST(LoadAccounting, NothingSent) {
  const LossSummary s = account({});
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.loss_ratio, 0.0);
}

TEST(LoadAccounting, RowsTheSidecarCountedAsDroppedAreNotLost) {
  // 100 ids missing; the sidecar counted 400 dropped rows and every id is logged with 4
  // rows: all 100 may have been dropped whole.
  const LossSummary s =
      account({.sent = 1000, .delivered_unique = 900, .dropped_sidecar = 400, .min_rows_per_id = 4});
  EXPECT_EQ(s.missing, 100u);
  EXPECT_EQ(s.explained, 100u);
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.loss_ratio, 0.0);
}

TEST(LoadAccounting, DroppedRowsAccountForAtMostTheIdsTheyCouldHaveEmptied) {
  // 200 dropped rows empty at most 50 ids of 4 rows each: the other 50 missing ids
  // vanished without anyone counting them.
  const LossSummary s =
      account({.sent = 1000, .delivered_unique = 900, .dropped_sidecar = 200, .min_rows_per_id = 4});
  EXPECT_EQ(s.missing, 100u);
  EXPECT_EQ(s.explained, 50u);
  EXPECT_EQ(s.lost, 50u);
  EXPECT_DOUBLE_EQ(s.loss_ratio, 0.05);
}

TEST(LoadAccounting, LostIsSentMinusDeliveredMinusCountedDropsNeverNegative) {
  // One row per id: lost = sent - delivered - counted drops, here and locally alike.
  EXPECT_EQ(account({.sent = 100, .delivered_unique = 80, .dropped_sidecar = 5}).lost, 15u);
  EXPECT_EQ(
      account({.sent = 100, .delivered_unique = 80, .rejected = 2, .dropped_local = 3, .dropped_sidecar = 5})
          .lost,
      10u);
  // More counted drops than missing ids (dropped merge rows of delivered ids): never below 0.
  const LossSummary s = account({.sent = 100, .delivered_unique = 80, .dropped_sidecar = 500});
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.explained, 20u);
  // Drops never make up for ids delivered beyond what was sent.
  EXPECT_EQ(account({.sent = 10, .delivered_unique = 12, .dropped_sidecar = 5}).unexpected, 2u);
}

TEST(LoadAccounting, DeltaSubtractsABaselineAndSaturates) {
  FakeStats before, after;
  before.unique_rows = 100;
  before.duplicate_rows = 5;
  before.status_429 = 3;
  after.unique_rows = 350;
  after.duplicate_rows = 5;
  after.status_429 = 10;
  after.bytes_received = 7;
  const FakeStats d = delta(after, before);
  EXPECT_EQ(d.unique_rows, 250u);
  EXPECT_EQ(d.duplicate_rows, 0u);
  EXPECT_EQ(d.status_429, 7u);
  EXPECT_EQ(d.bytes_received, 7u);
  // A server reset between the two reads must not wrap around.
  EXPECT_EQ(delta(before, after).unique_rows, 0u);
}

TEST(LoadAccounting, DeliveryLagFromCurves) {
  // 100 rows sent by t=1 s and 100 more by t=2 s; the first 100 arrive at 1.5 s,
  // the rest at 4 s.
  const std::vector<CumulativeSample> sent{{1.0, 100}, {2.0, 200}};
  const std::vector<CumulativeSample> delivered{{0.5, 0}, {1.5, 100}, {3.0, 100}, {4.0, 200}};
  LatencyHistogram h;
  estimate_delivery_lag(sent, delivered, h);
  ASSERT_EQ(h.count(), 200u);
  EXPECT_NEAR(static_cast<double>(h.percentile(0.5)), 0.5e9, 0.5e9 * 0.01);
  EXPECT_NEAR(static_cast<double>(h.percentile(0.99)), 2.0e9, 2.0e9 * 0.01);
  EXPECT_NEAR(static_cast<double>(h.max()), 2.0e9, 1.0);
}

TEST(LoadAccounting, DeliveryLagSplitsADeliveredStepAcrossSendSamples) {
  const std::vector<CumulativeSample> sent{{1.0, 10}, {2.0, 30}, {3.0, 40}};
  const std::vector<CumulativeSample> delivered{{3.5, 40}};
  LatencyHistogram h;
  estimate_delivery_lag(sent, delivered, h);
  ASSERT_EQ(h.count(), 40u);
  // 10 rows sent by 1 s (lag 2.5 s), 20 by 2 s (1.5 s), 10 by 3 s (0.5 s).
  EXPECT_NEAR(static_cast<double>(h.percentile(0.25)), 0.5e9, 0.5e7);
  EXPECT_NEAR(static_cast<double>(h.percentile(0.5)), 1.5e9, 1.5e7);
  EXPECT_NEAR(static_cast<double>(h.percentile(0.76)), 2.5e9, 2.5e7);
}

TEST(LoadAccounting, DeliveredBeyondSentIsIgnored) {
  const std::vector<CumulativeSample> sent{{1.0, 5}};
  const std::vector<CumulativeSample> delivered{{2.0, 8}};
  LatencyHistogram h;
  estimate_delivery_lag(sent, delivered, h);
  EXPECT_EQ(h.count(), 5u);
}

TEST(LoadAccounting, ParsesFakeStatsWithAStatusMap) {
  const auto s = parse_fake_stats(
      R"({"requests":{"200":10,"429":4,"503":2},"requests_total":16,"rows_received":900,"unique_rows":800,)"
      R"("duplicate_rows":100,"bytes_received":1000,"bytes_decoded":5000,"inserts":10})");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->requests, 10u);
  EXPECT_EQ(s->status_429, 4u);
  EXPECT_EQ(s->status_5xx, 2u);
  EXPECT_EQ(s->unique_rows, 800u);
  EXPECT_EQ(s->bytes_decoded, 5000u);
  EXPECT_FALSE(parse_fake_stats("not json").has_value());
  EXPECT_FALSE(parse_fake_stats(R"({"hello":1})").has_value());
}

}  // namespace
}  // namespace spanline::load
