#include "sidecar_metrics.hpp"

#if SPANLINE_HAVE_AGENT
#include "prometheus.hpp"
#endif

#include <gtest/gtest.h>

#include <cmath>

namespace spanline::load {
namespace {

TEST(LoadSidecarMetrics, ParsesSamplesLabelsEscapesAndTimestamps) {
  const auto samples = parse_metrics_text(
      "# HELP spanline_rows_dropped_total Rows not delivered.\n"
      "# TYPE spanline_rows_dropped_total counter\n"
      "spanline_rows_dropped_total{reason=\"queue_full\"} 120\n"
      "odd_label{path=\"a \\\"quoted\\\" \\\\ back\\nslash\",x=\"1\"} 2.5 1700000000000\n"
      "\n"
      "spanline_request_duration_seconds_bucket{le=\"+Inf\"} 9\r\n"
      "gauge_inf +Inf\n"
      "no_labels 7");
  ASSERT_TRUE(samples.has_value());
  ASSERT_EQ(samples->size(), 5u);
  EXPECT_EQ((*samples)[0].name, "spanline_rows_dropped_total");
  EXPECT_EQ((*samples)[0].labels.at("reason"), "queue_full");
  EXPECT_EQ((*samples)[0].value, 120);
  EXPECT_EQ((*samples)[1].labels.at("path"), "a \"quoted\" \\ back\nslash");
  EXPECT_EQ((*samples)[1].labels.at("x"), "1");
  EXPECT_EQ((*samples)[1].value, 2.5);
  EXPECT_EQ((*samples)[2].labels.at("le"), "+Inf");
  EXPECT_EQ((*samples)[2].value, 9);
  EXPECT_TRUE(std::isinf((*samples)[3].value));
  EXPECT_EQ((*samples)[4].name, "no_labels");
  EXPECT_EQ((*samples)[4].value, 7);
}

TEST(LoadSidecarMetrics, RefusesAnythingThatIsNotExpositionText) {
  EXPECT_FALSE(parse_metrics_text("<html>not found</html>\n").has_value());
  EXPECT_FALSE(parse_metrics_text("name_without_value\n").has_value());
  EXPECT_FALSE(parse_metrics_text("name{reason=\"unterminated} 1\n").has_value());
  EXPECT_FALSE(parse_metrics_text("name{reason=\"x\" 1\n").has_value());
  EXPECT_FALSE(parse_metrics_text("name 12abc\n").has_value());
  EXPECT_FALSE(parse_metrics_text("name{reason=\"bad \\t escape\"} 1\n").has_value());
  // Empty text parses (to nothing), but it is not a sidecar's answer.
  const auto empty = parse_metrics_text("");
  ASSERT_TRUE(empty.has_value());
  EXPECT_FALSE(sidecar_counts(*empty).has_value());
}

TEST(LoadSidecarMetrics, CountsDropsRejectionsAndInvalidInputByReason) {
  const auto samples = parse_metrics_text(
      "spanline_rows_in_total 1000\n"
      "spanline_rows_rejected_total 2\n"
      "spanline_rows_dropped_total{reason=\"queue_full\"} 120\n"
      "spanline_rows_dropped_total{reason=\"evicted_oldest\"} 0\n"
      "spanline_rows_dropped_total{reason=\"retries_exhausted\"} 5\n"
      "spanline_pending_rows 17\n"
      "spanline_ingest_invalid_total{listener=\"uds\",reason=\"not_json\"} 3\n"
      "spanline_ingest_invalid_total{listener=\"tcp\",reason=\"not_json\"} 4\n"
      "spanline_ingest_invalid_total{listener=\"tcp\",reason=\"bad_id\"} 0\n"
      // Not a drop: valid events the pipeline refused are in spanline_rows_dropped_total already.
      "spanline_ingest_not_queued_total{listener=\"uds\"} 120\n");
  ASSERT_TRUE(samples.has_value());
  const auto counts = sidecar_counts(*samples);
  ASSERT_TRUE(counts.has_value());
  const std::map<std::string, std::uint64_t> expected{
      {"queue_full", 120}, {"retries_exhausted", 5}, {"rejected", 2}, {"invalid_not_json", 7}};
  EXPECT_EQ(counts->drops.by_reason, expected);
  EXPECT_EQ(counts->drops.total(), 134u);
  EXPECT_EQ(counts->pending_rows, 17u);
}

TEST(LoadSidecarMetrics, DeltaIsWhatTheRunAdded) {
  SidecarDrops before, after;
  before.by_reason = {{"queue_full", 100}, {"rejected", 4}};
  after.by_reason = {{"queue_full", 130}, {"rejected", 4}, {"invalid_not_json", 2}};
  const SidecarDrops d = delta(after, before);
  const std::map<std::string, std::uint64_t> expected{{"queue_full", 30}, {"invalid_not_json", 2}};
  EXPECT_EQ(d.by_reason, expected);
  // A restarted daemon (counters went down) adds nothing rather than wrapping around.
  EXPECT_TRUE(delta(before, after).by_reason.empty());
}

TEST(LoadSidecarMetrics, TheHttpTargetHasCountedAnsweredRefusalsItself) {
  SidecarDrops d;
  d.by_reason = {{"queue_full", 10},      {"too_large", 1},       {"shutdown", 2}, {"invalid", 3},
                 {"invalid_not_json", 4}, {"evicted_oldest", 20}, {"rejected", 5}, {"retries_exhausted", 6}};
  EXPECT_EQ(drops_unknown_to_client(d, false), d.total());
  // Only what was dropped after the 200 went out is news to an HTTP client.
  EXPECT_EQ(drops_unknown_to_client(d, true), 20u + 5u + 6u);
}

#if SPANLINE_HAVE_AGENT
// The daemon's real exposition: if a family is renamed there, the harness would quietly
// stop seeing the sidecar's drops and report them as loss again.
TEST(LoadSidecarMetrics, ReadsTheDaemonsOwnExposition) {
  Stats stats;
  stats.rows_rejected = 2;
  stats.rows_dropped[static_cast<std::size_t>(DropReason::queue_full)] = 120;
  stats.rows_dropped[static_cast<std::size_t>(DropReason::spool_full)] = 9;
  stats.pending_rows = 11;
  agent::IngestSnapshot ingest;
  ingest.listeners[static_cast<std::size_t>(agent::Listener::uds)]
      .invalid[static_cast<std::size_t>(detail::IngestError::not_json)] = 3;
  ingest.listeners[static_cast<std::size_t>(agent::Listener::datagram)]
      .invalid[static_cast<std::size_t>(detail::IngestError::too_long)] = 1;
  const auto samples = parse_metrics_text(agent::render_prometheus(stats, ingest));
  ASSERT_TRUE(samples.has_value());
  const auto counts = sidecar_counts(*samples);
  ASSERT_TRUE(counts.has_value());
  const std::map<std::string, std::uint64_t> expected{{"queue_full", 120},
                                                      {"spool_full", 9},
                                                      {"rejected", 2},
                                                      {"invalid_not_json", 3},
                                                      {"invalid_too_long", 1}};
  EXPECT_EQ(counts->drops.by_reason, expected);
  EXPECT_EQ(counts->pending_rows, 11u);
}
#endif

TEST(LoadSidecarMetrics, AdminAddressMustBeHostAndPort) {
  EXPECT_THROW(SidecarScraper("no-port"), std::invalid_argument);
  EXPECT_THROW(SidecarScraper("host:"), std::invalid_argument);
  EXPECT_NO_THROW(SidecarScraper("127.0.0.1:9"));
}

}  // namespace
}  // namespace spanline::load
