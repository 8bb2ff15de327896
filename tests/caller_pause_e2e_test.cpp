// End-to-end: rows logged right after an idle gap (which take a spare text buffer,
// produce/row_text_reserve.hpp) and rows logged back to back reach the fake API intact,
// from two producer threads at once.
#include <spanline/logger.hpp>

#include "fake_api.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace spanline {
namespace {

using namespace std::chrono_literals;
using fakeapi::FakeApi;
using fakeapi::ServerConfig;

constexpr const char* kProject = "0c2d4e6f-8a1b-4c3d-9e5f-6a7b8c9d0e1f";

// Lets time pass on this thread, so that its next log() call follows an idle gap.
void idle(std::chrono::microseconds gap) {
  const auto until = std::chrono::steady_clock::now() + gap;
  while (std::chrono::steady_clock::now() < until) std::this_thread::yield();
}

std::string input_of(int thread, int row) {
  // Rows of a few shapes, so some spares fit the row after the gap and some do not.
  return "thread " + std::to_string(thread) + " row " + std::to_string(row) +
         std::string(static_cast<std::size_t>(row % 5) * 60, 'y');
}

TEST(CallerPauseE2E, RowsLoggedAfterIdleGapsArriveIntact) {
  FakeApi api(ServerConfig{.api_key = "test-key"});
  Logger logger(Options{.api_key = "test-key", .api_url = api.base_url(), .block_timeout = 30s, .linger = 5ms});
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  constexpr int kThreads = 2, kBursts = 40, kBurst = 5;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int b = 0; b < kBursts; ++b) {
        idle(1ms);
        for (int i = 0; i < kBurst; ++i) {
          const int row = b * kBurst + i;
          const std::string id = "t" + std::to_string(t) + "-r" + std::to_string(row);
          Fields fields;
          fields.string("input", input_of(t, row)).metrics({{"row", row}});
          ASSERT_EQ(logger.log(to, fields, id), LogResult::queued);
          ids[static_cast<std::size_t>(t)].push_back(id);
        }
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  const FlushResult flushed = logger.flush(60s);
  ASSERT_TRUE(flushed.complete) << "pending " << flushed.pending;
  ASSERT_EQ(api.row_count("project_logs", kProject), std::size_t{kThreads * kBursts * kBurst});
  for (int t = 0; t < kThreads; ++t) {
    for (int row = 0; row < kBursts * kBurst; ++row) {
      const std::string& id = ids[static_cast<std::size_t>(t)][static_cast<std::size_t>(row)];
      const auto stored = api.row("project_logs", kProject, id);
      ASSERT_TRUE(stored.has_value()) << id;
      SCOPED_TRACE(boost::json::serialize(*stored));
      EXPECT_EQ(stored->at("input").as_string(), input_of(t, row));
      EXPECT_EQ(stored->at("metrics").at("row").as_int64(), row);
      EXPECT_TRUE(stored->contains("created"));
    }
  }
}

}  // namespace
}  // namespace spanline
