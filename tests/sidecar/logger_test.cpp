// The sidecar's entry points into a Logger (spanline/sidecar/logger.hpp): a prepared row
// is delivered like a logged one, and a row or handle they cannot use is refused with a
// clear error before anything is counted or written.
#include <spanline/sidecar/logger.hpp>

#include "fake_api.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace spanline {
namespace {

using namespace std::chrono_literals;
using fakeapi::FakeApi;
using fakeapi::ServerConfig;

constexpr const char* kProject = "sidecar-proj";

PreparedRow prepared(const std::string& id, const std::string& rest) {
  return PreparedRow{.json = R"({"id":")" + id + "\"," + rest + "}",
                     .id_offset = 7,
                     .id_size = static_cast<std::uint32_t>(id.size())};
}

struct SidecarLogger : ::testing::Test {
  FakeApi api{ServerConfig{.api_key = "test-key"}};  // full store: rows can be read back
  Logger logger{Options{.api_key = "test-key",
                        .api_url = api.base_url(),
                        .linger = 5ms,
                        .retry_base_delay = 10ms,
                        .retry_max_delay = 200ms}};
  DestinationHandle to = logger.destination(Destination::project(kProject));
};

TEST_F(SidecarLogger, PreparedRowsAreDeliveredAndCountedLikeLoggedOnes) {
  EXPECT_EQ(sidecar::log_prepared(logger, to, prepared("r-1", R"("input":"one")")), LogResult::queued);
  PreparedRow second = prepared("r-2", R"("input":"two")");
  EXPECT_EQ(sidecar::try_log_prepared(logger, to, second), LogResult::queued);
  EXPECT_EQ(sidecar::log_prepared(logger, to, prepared("r-1", R"("_is_merge":true,"output":"three")")),
            LogResult::queued);

  const FlushResult flushed = logger.flush(10s);
  EXPECT_TRUE(flushed.complete);
  EXPECT_EQ(flushed.delivered, 3u);
  EXPECT_EQ(logger.stats().rows_in, 3u);
  const auto first = api.row("project_logs", kProject, "r-1");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->at("input"), "one");
  EXPECT_EQ(first->at("output"), "three");
  EXPECT_EQ(api.row_count("project_logs", kProject), 2u);
}

TEST_F(SidecarLogger, AnIdOutsideTheRowIsRefusedWithNothingCounted) {
  PreparedRow no_id = prepared("r-1", R"("input":"x")");
  no_id.id_size = 0;
  PreparedRow past_end = prepared("r-1", R"("input":"x")");
  past_end.id_offset = static_cast<std::uint32_t>(past_end.json.size());

  EXPECT_THROW((void)sidecar::log_prepared(logger, to, no_id), std::invalid_argument);
  EXPECT_THROW((void)sidecar::log_prepared(logger, to, past_end), std::invalid_argument);
  const std::string json = past_end.json;
  EXPECT_THROW((void)sidecar::try_log_prepared(logger, to, past_end), std::invalid_argument);
  EXPECT_EQ(past_end.json, json) << "a refused row stays the caller's";
  // One bad row refuses the whole write-ahead (and there is no spool to write to anyway:
  // the check comes first).
  std::vector<PreparedRow> rows{prepared("ok", R"("input":"x")"), past_end};
  EXPECT_THROW((void)sidecar::log_durable(logger, to, rows, 1s), std::invalid_argument);

  const Stats stats = logger.stats();
  EXPECT_EQ(stats.rows_in, 0u);
  EXPECT_EQ(stats.rows_dropped_total(), 0u);
  EXPECT_EQ(stats.spool.rows_spilled, 0u);
}

TEST_F(SidecarLogger, AnUnknownDestinationIsRefused) {
  const DestinationHandle unknown{.index = to.index + 7};
  PreparedRow row = prepared("r-1", R"("input":"x")");
  EXPECT_THROW((void)sidecar::log_prepared(logger, unknown, row), std::invalid_argument);
  EXPECT_THROW((void)sidecar::try_log_prepared(logger, unknown, row), std::invalid_argument);
  EXPECT_THROW((void)sidecar::log_durable(logger, unknown, {row}, 1s), std::invalid_argument);
  EXPECT_EQ(logger.stats().rows_in, 0u);
}

TEST_F(SidecarLogger, WithoutASpoolLogDurableSaysSo) {
  EXPECT_EQ(sidecar::log_durable(logger, to, {prepared("r-1", R"("input":"x")")}, 1s), DurableResult::no_spool);
  EXPECT_EQ(logger.stats().spool.rows_spilled, 0u);
}

}  // namespace
}  // namespace spanline
