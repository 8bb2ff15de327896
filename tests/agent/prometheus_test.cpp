#include "prometheus.hpp"

#include "agent/prometheus_text.hpp"

#include <gtest/gtest.h>

namespace spanline::agent {
namespace {

Stats sample_stats() {
  Stats s;
  s.rows_in = 100;
  s.rows_delivered = 90;
  s.rows_rejected = 3;
  s.rows_dropped[static_cast<std::size_t>(DropReason::queue_full)] = 7;
  s.bytes_raw = 5000;
  s.bytes_compressed = 1200;
  s.requests_by_status = {{200, 9}, {429, 2}, {0, 1}};
  s.retries = 3;
  s.producer_waits_for_batcher = 11;
  s.producer_waits_for_budget = 5;
  s.producer_wait_seconds = 1.5;
  s.queue_rows = 4;
  s.memory_bytes = 4096;
  s.memory_body_bytes = 1024;
  s.in_flight = 2;
  s.latency_bounds = {0.01, 0.1, 1.0};
  s.latency_buckets = {2, 5, 9};
  s.latency_count = 10;
  s.latency_sum = 3.25;
  return s;
}

IngestSnapshot sample_ingest() {
  IngestSnapshot in;
  auto& uds = in.listeners[static_cast<std::size_t>(Listener::uds)];
  uds.events = 60;
  uds.invalid[static_cast<std::size_t>(detail::IngestError::not_json)] = 2;
  uds.connections_active = 1;
  in.http_responses = {{200, 4}, {400, 1}};
  in.ready = true;
  return in;
}

TEST(MetricsPrometheus, ParsesAsPrometheusText) {
  const std::string text = render_prometheus(sample_stats(), sample_ingest());
  const auto parsed = testing::parse_prometheus(text);
  for (const auto& e : parsed.errors) ADD_FAILURE() << e;
  // Every family has HELP and TYPE, and every TYPE has samples.
  for (const auto& [family, type] : parsed.types) {
    EXPECT_TRUE(parsed.helps.count(family)) << family;
    const bool has_samples = std::any_of(parsed.samples.begin(), parsed.samples.end(), [&](const auto& s) {
      return s.name == family || s.name.rfind(family + "_", 0) == 0;
    });
    EXPECT_TRUE(has_samples || family == "spanline_requests_total") << family;
    if (type == "counter") {
      EXPECT_TRUE(family.ends_with("_total")) << family;
    }
  }
}

TEST(MetricsPrometheus, CarriesTheValues) {
  const auto parsed = testing::parse_prometheus(render_prometheus(sample_stats(), sample_ingest()));
  EXPECT_EQ(parsed.value("spanline_rows_in_total"), 100);
  EXPECT_EQ(parsed.value("spanline_rows_delivered_total"), 90);
  EXPECT_EQ(parsed.value("spanline_rows_rejected_total"), 3);
  EXPECT_EQ(parsed.value("spanline_rows_dropped_total", {{"reason", "queue_full"}}), 7);
  EXPECT_EQ(parsed.value("spanline_rows_dropped_total", {{"reason", "shutdown"}}), 0);
  EXPECT_EQ(parsed.value("spanline_requests_total", {{"status", "429"}}), 2);
  EXPECT_EQ(parsed.value("spanline_requests_total", {{"status", "0"}}), 1);
  EXPECT_EQ(parsed.value("spanline_bytes_compressed_total"), 1200);
  EXPECT_EQ(parsed.value("spanline_memory_bytes"), 4096);
  EXPECT_EQ(parsed.value("spanline_memory_body_bytes"), 1024);
  EXPECT_EQ(parsed.value("spanline_request_duration_seconds_bucket", {{"le", "0.1"}}), 5);
  EXPECT_EQ(parsed.value("spanline_request_duration_seconds_bucket", {{"le", "+Inf"}}), 10);
  EXPECT_EQ(parsed.value("spanline_request_duration_seconds_sum"), 3.25);
  EXPECT_EQ(parsed.value("spanline_ingest_events_total", {{"listener", "uds"}}), 60);
  EXPECT_EQ(parsed.value("spanline_ingest_invalid_total", {{"listener", "uds"}, {"reason", "not_json"}}), 2);
  EXPECT_EQ(parsed.value("spanline_connections", {{"listener", "uds"}}), 1);
  EXPECT_EQ(parsed.value("spanline_http_ingest_responses_total", {{"code", "400"}}), 1);
  EXPECT_EQ(parsed.value("spanline_ready"), 1);
}

TEST(MetricsPrometheus, ShowsProducerWaits) {
  const auto parsed = testing::parse_prometheus(render_prometheus(sample_stats(), sample_ingest()));
  for (const auto& e : parsed.errors) ADD_FAILURE() << e;
  for (const std::string family :
       {"spanline_producer_waits_for_batcher_total", "spanline_producer_waits_for_budget_total",
        "spanline_producer_wait_seconds_total"}) {
    EXPECT_EQ(parsed.types.count(family) ? parsed.types.at(family) : "", "counter") << family;
    EXPECT_TRUE(parsed.helps.count(family)) << family;
  }
  EXPECT_EQ(parsed.value("spanline_producer_waits_for_batcher_total"), 11);
  EXPECT_EQ(parsed.value("spanline_producer_waits_for_budget_total"), 5);
  EXPECT_EQ(parsed.value("spanline_producer_wait_seconds_total"), 1.5);
}

TEST(MetricsPrometheus, RacySnapshotStillCumulative) {
  Stats s = sample_stats();
  s.latency_buckets = {5, 3, 9};  // a torn read must not produce a decreasing series
  s.latency_count = 8;
  const auto parsed = testing::parse_prometheus(render_prometheus(s, {}));
  for (const auto& e : parsed.errors) ADD_FAILURE() << e;
}

TEST(MetricsPrometheusChecker, CatchesBrokenText) {
  // The checker itself must be able to fail.
  EXPECT_FALSE(testing::parse_prometheus("x 1\n").errors.empty());  // no TYPE/HELP
  EXPECT_FALSE(testing::parse_prometheus("# HELP x h\n# TYPE x counter\nx{a=\"b} 1\n").errors.empty());
  EXPECT_FALSE(testing::parse_prometheus("# HELP x h\n# TYPE x counter\nx{1a=\"b\"} 1\n").errors.empty());
  EXPECT_FALSE(testing::parse_prometheus("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 5\n"
                                         "h_bucket{le=\"+Inf\"} 4\nh_sum 1\nh_count 4\n")
                   .errors.empty());
  EXPECT_TRUE(testing::parse_prometheus("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 3\n"
                                        "h_bucket{le=\"+Inf\"} 4\nh_sum 1\nh_count 4\n")
                  .errors.empty());
}

}  // namespace
}  // namespace spanline::agent
