// Spool records go through delivery's one outcome handler, as live batches do: a
// replayed record that meets 503s and 429s is retried (replay backs off as a whole,
// the host pauses for Retry-After) until every row has arrived and every record is
// acknowledged, with nothing rejected or dropped.
#include <spanline/logger.hpp>

#include "fake_api.hpp"
#include "support/spool_support.hpp"
#include "support/wait_support.hpp"

#include <gtest/gtest.h>

#include <string>

namespace spanline {
namespace {

using namespace std::chrono_literals;
using detail::spool_test::TempDir;
using fakeapi::FakeApi;
using fakeapi::FaultConfig;
using fakeapi::ServerConfig;
using test_support::wait_for;

constexpr const char* kProject = "3b9e2d41-6a7c-4f18-9d2e-5c4b3a291807";

Options replay_options(const FakeApi& api, const TempDir& dir) {
  Options o{.api_key = "test-key",
            .api_url = api.base_url(),
            .linger = 5ms,
            .retry_base_delay = 10ms,
            .retry_max_delay = 50ms};
  o.spool_dir = dir.path().string();
  o.spool_fsync_interval = 20ms;
  o.spool_outage_after = 60s;  // no outage spilling in the second run: only replay is under test
  o.batch_max_rows = 10;
  return o;
}

std::uint64_t answered(const Stats& stats, int status) {
  const auto it = stats.requests_by_status.find(status);
  return it == stats.requests_by_status.end() ? 0 : it->second;
}

TEST(ReplayOutcome, RecordsRetriedThrough503And429UntilEveryRowArrives) {
  TempDir dir;
  constexpr int kRows = 200;
  {
    FakeApi down(ServerConfig{.api_key = "test-key",
                              .faults = FaultConfig{.outage_start_s = 0, .outage_duration_s = 3600}});
    Logger first(replay_options(down, dir));
    first.set_error_handler([](const ErrorReport&) {});
    const DestinationHandle to = first.destination(Destination::project(kProject));
    for (int i = 0; i < kRows; ++i) {
      ASSERT_EQ(first.log(to, Fields{}.string("input", "row " + std::to_string(i)),
                          "replayed-" + std::to_string(i)),
                LogResult::queued);
    }
    ASSERT_EQ(first.shutdown(1s).spooled, std::uint64_t{kRows});
  }
  // Seeded: the same answers come in the same order on every run.
  FakeApi flaky(
      ServerConfig{.api_key = "test-key",
                   .faults = FaultConfig{.fail_429 = 0.2, .retry_after_s = 0, .fail_5xx = 0.4, .seed = 7}});
  Logger logger(replay_options(flaky, dir));
  logger.set_error_handler([](const ErrorReport&) {});
  ASSERT_TRUE(wait_for([&] { return flaky.stats().unique_rows >= kRows; }, 20s)) << flaky.stats_json();
  ASSERT_TRUE(wait_for([&] { return logger.stats().spool.replay_lag_bytes == 0; }, 10s));

  const Stats stats = logger.stats();
  EXPECT_EQ(stats.spool.rows_replayed_delivered, std::uint64_t{kRows});
  EXPECT_EQ(stats.rows_rejected, 0u);
  EXPECT_GE(answered(stats, 503), 1u) << "the API must have failed some replayed records";
  EXPECT_GE(answered(stats, 429), 1u) << "the API must have paused replay at least once";
  EXPECT_EQ(flaky.row_count("project_logs", kProject), std::size_t{kRows});
  EXPECT_TRUE(logger.shutdown(5s).complete);
}

}  // namespace
}  // namespace spanline
