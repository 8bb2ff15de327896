#include "core/ids.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <random>
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
  const system_clock::time_point when =
      system_clock::time_point(seconds(1'700'000'000)) + microseconds(123'456);
  std::string text;
  append_iso8601(text, when);
  EXPECT_EQ(text, "2023-11-14T22:13:20.123456Z");
  EXPECT_DOUBLE_EQ(unix_seconds(when), 1'700'000'000.123456);
}

// Every hex position of a UUID (but the version's) takes every value it may: a broken
// nibble extraction (a stuck or duplicated nibble) cannot hide behind the regex above.
TEST(Ids, UuidDigitsCoverEveryValue) {
  std::array<std::array<bool, 16>, 36> seen{};
  for (int i = 0; i < 20'000; ++i) {
    const std::string id = new_row_id(IdFormat::uuid);
    for (std::size_t p = 0; p < id.size(); ++p) {
      if (id[p] == '-') continue;
      const int value = id[p] <= '9' ? id[p] - '0' : id[p] - 'a' + 10;
      seen[p][static_cast<std::size_t>(value)] = true;
    }
  }
  for (std::size_t p = 0; p < 36; ++p) {
    if (p == 8 || p == 13 || p == 18 || p == 23) continue;
    std::size_t values = 0;
    for (bool s : seen[p]) values += s ? 1 : 0;
    const std::size_t expected = p == 14 ? 1 : p == 19 ? 4 : 16;  // version 4; variant 8, 9, a, b
    EXPECT_EQ(values, expected) << "position " << p;
  }
}

TEST(Ids, OtelHexDigitsCoverEveryValue) {
  // Row ids in positions 0-31, span ids in 32-47.
  std::array<std::array<bool, 16>, 48> seen{};
  const auto mark = [&](const std::string& id, std::size_t from) {
    for (std::size_t p = 0; p < id.size(); ++p)
      seen[from + p][static_cast<std::size_t>(id[p] <= '9' ? id[p] - '0' : id[p] - 'a' + 10)] = true;
  };
  for (int i = 0; i < 5'000; ++i) {
    mark(new_row_id(IdFormat::otel_hex), 0);
    mark(new_span_id(IdFormat::otel_hex), 32);
  }
  for (std::size_t p = 0; p < seen.size(); ++p)
    EXPECT_EQ(std::count(seen[p].begin(), seen[p].end(), true), 16) << "position " << p;
}

TEST(Ids, UniqueAcrossFormatsAndKinds) {
  std::unordered_set<std::string> all;
  for (int i = 0; i < 50'000; ++i) {
    ASSERT_TRUE(all.insert(new_row_id(IdFormat::uuid)).second);
    ASSERT_TRUE(all.insert(new_span_id(IdFormat::uuid)).second);
    ASSERT_TRUE(all.insert(new_row_id(IdFormat::otel_hex)).second);
    ASSERT_TRUE(all.insert(new_span_id(IdFormat::otel_hex)).second);
  }
}

// The ISO text against strftime for times all over the calendar, minute and second
// boundaries included (the formatter caches the calendar part per minute).
TEST(Ids, Iso8601MatchesStrftimeEverywhere) {
  using namespace std::chrono;
  std::mt19937_64 random(42);
  std::uniform_int_distribution<std::int64_t> micros_between(
      0, std::int64_t{4'102'444'800} * 1'000'000);  // to 2100
  std::vector<std::int64_t> cases = {0, 1, 999'999, 1'000'000, 59'999'999, 60'000'000, 1'700'000'000'123'456};
  for (int i = 0; i < 20'000; ++i) cases.push_back(micros_between(random));
  for (int i = 0; i < 200; ++i) cases.push_back(cases.back() + 999'999);  // walk across boundaries in order
  for (const std::int64_t micros : cases) {
    const auto when = system_clock::time_point(microseconds(micros));
    const auto t = static_cast<std::time_t>(micros / 1'000'000);
    std::tm parts{};
    gmtime_r(&t, &parts);
    char expected[40];
    const std::size_t n = std::strftime(expected, sizeof expected, "%Y-%m-%dT%H:%M:%S", &parts);
    std::snprintf(expected + n, sizeof expected - n, ".%06dZ", static_cast<int>(micros % 1'000'000));
    std::string text;
    append_iso8601(text, when);
    ASSERT_EQ(text, expected) << micros;
  }
}

// write_unix_seconds must write exactly what append_json_number(unix_seconds(t)) did
// (std::to_chars' shortest round-trip form), for any time.
TEST(Ids, UnixSecondsTextMatchesToChars) {
  using namespace std::chrono;
  std::mt19937_64 random(7);
  std::vector<std::int64_t> cases = {1,
                                     1'000'000,
                                     999'999'999'999'999,
                                     1'000'000'000'000'000,
                                     1'000'000'000'000'001,
                                     1'700'000'000'000'000,
                                     1'700'000'000'100'000,
                                     1'700'000'000'000'010,
                                     (std::int64_t{1} << 33) * 1'000'000 - 1,
                                     (std::int64_t{1} << 33) * 1'000'000,
                                     (std::int64_t{1} << 33) * 1'000'000 + 1,
                                     -1'500'000};
  std::uniform_int_distribution<std::int64_t> present(std::int64_t{1'000'000'000} * 1'000'000,
                                                      (std::int64_t{1} << 33) * 1'000'000 + 1'000'000'000);
  for (int i = 0; i < 500'000; ++i) cases.push_back(present(random));
  std::uniform_int_distribution<std::int64_t> short_fraction(0, 999);
  for (int i = 0; i < 20'000; ++i)
    cases.push_back(present(random) / 1'000'000 * 1'000'000 + short_fraction(random) * 1'000);
  for (const std::int64_t micros : cases) {
    const auto when = system_clock::time_point(microseconds(micros));
    char expected[64];
    const auto [end, ec] = std::to_chars(expected, expected + sizeof expected, unix_seconds(when));
    ASSERT_EQ(ec, std::errc());
    char text[kMaxUnixSecondsChars];
    const std::size_t size = write_unix_seconds(text, when);
    ASSERT_EQ(std::string_view(text, size),
              std::string_view(expected, static_cast<std::size_t>(end - expected)))
        << micros;
  }
}

}  // namespace
}  // namespace spanline::detail
