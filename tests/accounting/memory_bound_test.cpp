// The memory budget counts encoded request bodies, end to end: the in-process Logger
// against the fake API, which fails, heals, or refuses large bodies on demand.
#include <spanline/logger.hpp>

#include "fake_api.hpp"
#include "support/spool_support.hpp"
#include "support/wait_support.hpp"

#include <gtest/gtest.h>

#include <string>

namespace spanline {
namespace {

using namespace std::chrono_literals;
using fakeapi::FakeApi;
using fakeapi::FaultConfig;
using fakeapi::ServerConfig;
using test_support::wait_for;

constexpr const char* kProject = "5a1e3c9e-4d2b-4f6a-9c1d-2b3e4f5a6b7c";
constexpr std::size_t kBudget = std::size_t{1} << 20;
constexpr std::uint64_t kRowOverhead = 64;  // per row, on top of its JSON (core/row.hpp)

// A 1 MiB budget (too small for producer credit, so the counters are exact), rows
// dropped rather than waited for when it is full, and bodies left uncompressed, so that
// a batch's body is as large as its rows.
Options small_budget(const FakeApi& api) {
  return Options{.api_key = "test-key",
                 .api_url = api.base_url(),
                 .max_queue_bytes = kBudget,
                 .overflow = OverflowPolicy::drop_newest,
                 .batch_max_bytes = 64 << 10,
                 .linger = 5ms,
                 .compression = Compression::none,
                 .max_payload_bytes = 1 << 20,
                 .retry_base_delay = 10ms,
                 .retry_max_delay = 50ms};
}

Fields row_of_about_1k(int i) {
  Fields f;
  f.string("input", "row " + std::to_string(i) + " " + std::string(900, 'q'));
  return f;
}

FaultConfig all_503() { return FaultConfig{.fail_5xx = 1.0}; }

// Bodies encoded and not yet done hold at least their rows' JSON (uncompressed).
bool every_row_encoded(const Stats& s) {
  const std::uint64_t rows_bytes = s.memory_bytes - s.memory_body_bytes;
  return s.queue_rows == 0 && s.memory_body_bytes + s.pending_rows * kRowOverhead >= rows_bytes;
}

// Rows count as settled an instant before their bytes go back (accounting.cpp): wait
// for the bytes, which stay in use forever if a charge or a row is never given back.
bool all_given_back(const Logger& logger) {
  return wait_for(
      [&] {
        const Stats s = logger.stats();
        return s.memory_bytes == 0 && s.memory_body_bytes == 0 && s.pending_rows == 0;
      },
      30s);
}

TEST(MemoryBound, BodiesWaitingForTheApiCountAndProducersAreRefusedAtTheBudget) {
  FakeApi api(ServerConfig{.api_key = "test-key", .faults = all_503()});
  Logger logger(small_budget(api));
  logger.set_error_handler([](const ErrorReport&) {});
  const DestinationHandle to = logger.destination(Destination::project(kProject));

  // Rows for about 40% of the budget, their bodies as much again: all fit.
  constexpr int kFirst = 400;
  for (int i = 0; i < kFirst; ++i) ASSERT_EQ(logger.log(to, row_of_about_1k(i)), LogResult::queued) << i;
  ASSERT_TRUE(wait_for([&] { return every_row_encoded(logger.stats()); }, 30s));
  const Stats held = logger.stats();
  EXPECT_GT(held.memory_body_bytes, 0u);
  EXPECT_GT(held.retries, 0u);  // the bodies are waiting for the API, not on their way

  // Rows alone would stay under 70% of the budget even if all were taken; with the
  // bodies they do not fit.
  constexpr int kMore = 250;
  int refused = 0;
  for (int i = kFirst; i < kFirst + kMore; ++i) {
    if (logger.log(to, row_of_about_1k(i)) == LogResult::dropped_queue_full) ++refused;
  }
  const Stats full = logger.stats();
  EXPECT_GT(refused, 0);
  EXPECT_EQ(full.dropped(DropReason::queue_full), static_cast<std::uint64_t>(refused));
  EXPECT_LT(full.memory_bytes - full.memory_body_bytes, kBudget * 7 / 10);

  // Once the API answers, everything is delivered and every byte given back.
  api.set_faults({});
  const FlushResult flushed = logger.flush(30s);
  EXPECT_TRUE(flushed.complete);
  EXPECT_EQ(flushed.delivered, static_cast<std::uint64_t>(kFirst + kMore - refused));
  EXPECT_TRUE(all_given_back(logger));
}

TEST(MemoryBound, SpilledBatchesGiveTheirBodiesBack) {
  detail::spool_test::TempDir dir;
  FakeApi api(ServerConfig{.api_key = "test-key", .faults = all_503()});
  Options options = small_budget(api);
  options.spool_dir = dir.path().string();
  options.spool_outage_after = 100ms;
  options.spool_fsync_interval = 20ms;
  Logger logger(options);
  logger.set_error_handler([](const ErrorReport&) {});
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  constexpr int kRows = 300;
  for (int i = 0; i < kRows; ++i) ASSERT_EQ(logger.log(to, row_of_about_1k(i)), LogResult::queued) << i;
  // The upstream stays down: every batch ends in the spool, and nothing stays counted.
  ASSERT_TRUE(wait_for([&] { return logger.stats().pending_rows == 0; }, 30s));
  EXPECT_TRUE(all_given_back(logger));
  const Stats spilled = logger.stats();
  EXPECT_EQ(spilled.rows_delivered, 0u);
  EXPECT_EQ(spilled.spool.rows_spilled, static_cast<std::uint64_t>(kRows));
}

// A 413 splits a batch and each half is encoded again: the charges follow.
TEST(MemoryBound, SplitAndReencodedBatchesAreGivenBackOnceDelivered) {
  FakeApi api(ServerConfig{.api_key = "test-key", .max_payload_bytes = 16 << 10});
  Logger logger(small_budget(api));  // believes 1 MiB bodies are fine
  logger.set_error_handler([](const ErrorReport&) {});
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  constexpr int kRows = 300;
  for (int i = 0; i < kRows; ++i) ASSERT_EQ(logger.log(to, row_of_about_1k(i)), LogResult::queued) << i;
  const FlushResult flushed = logger.flush(30s);
  EXPECT_TRUE(flushed.complete);
  EXPECT_EQ(flushed.delivered, static_cast<std::uint64_t>(kRows));
  EXPECT_GT(api.stats().requests.count(413), 0u);
  EXPECT_TRUE(all_given_back(logger));
}

}  // namespace
}  // namespace spanline
