#include "core/ids.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <thread>
#include <unordered_set>
#include <vector>

namespace spanline::detail {
namespace {

TEST(Ids, UuidV4Shape) {
  const std::regex uuid_v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (int i = 0; i < 1000; ++i) {
    const std::string id = new_row_id(IdFormat::uuid);
    ASSERT_TRUE(std::regex_match(id, uuid_v4)) << id;
  }
}

TEST(Ids, OtelHexShape) {
  const std::regex hex32("^[0-9a-f]{32}$");
  const std::regex hex16("^[0-9a-f]{16}$");
  EXPECT_TRUE(std::regex_match(new_row_id(IdFormat::otel_hex), hex32));
  EXPECT_TRUE(std::regex_match(new_span_id(IdFormat::otel_hex), hex16));
}

TEST(Ids, UniqueAcrossThreads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100'000;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&ids, t] {
      ids[t].reserve(kPerThread);
      for (int i = 0; i < kPerThread; ++i) ids[t].push_back(new_row_id(IdFormat::uuid));
    });
  }
  for (auto& thread : threads) thread.join();
  std::unordered_set<std::string> all;
  for (const auto& list : ids) all.insert(list.begin(), list.end());
  EXPECT_EQ(all.size(), std::size_t{kThreads} * kPerThread);
}

TEST(Ids, Iso8601WithMicroseconds) {
  using namespace std::chrono;
  const system_clock::time_point when = system_clock::time_point(seconds(1'700'000'000)) + microseconds(123'456);
  std::string text;
  append_iso8601(text, when);
  EXPECT_EQ(text, "2023-11-14T22:13:20.123456Z");
  EXPECT_DOUBLE_EQ(unix_seconds(when), 1'700'000'000.123456);
}

}  // namespace
}  // namespace spanline::detail
