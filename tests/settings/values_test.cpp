#include "settings/values.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace spanline::settings {
namespace {

std::string reason_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(SettingsValues, SizeUnitsAreOneRuleInAnyCase) {
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("512B"), 512u);
  EXPECT_EQ(parse_size("4k"), 4096u);
  EXPECT_EQ(parse_size("4K"), 4096u);
  EXPECT_EQ(parse_size("4KiB"), 4096u);
  EXPECT_EQ(parse_size("4kib"), 4096u);
  EXPECT_EQ(parse_size("16MiB"), std::uint64_t{16} << 20);
  EXPECT_EQ(parse_size("16m"), std::uint64_t{16} << 20);
  EXPECT_EQ(parse_size("2G"), std::uint64_t{2} << 30);
  EXPECT_EQ(parse_size("17179869183G"), std::uint64_t{17179869183} << 30);  // the largest whole GiB
}

TEST(SettingsValues, SizeOverflowIsRefused) {
  const std::string scaled = reason_of([] { (void)parse_size("17179869184G"); });  // 2^64
  EXPECT_NE(scaled.find("fits in 64 bits"), std::string::npos) << scaled;
  const std::string digits = reason_of([] { (void)parse_size("18446744073709551616"); });
  EXPECT_NE(digits.find("fits in 64 bits"), std::string::npos) << digits;
}

TEST(SettingsValues, SizeUnknownUnitIsNamed) {
  const std::string reason = reason_of([] { (void)parse_size("4kb"); });
  EXPECT_NE(reason.find("unknown unit 'kb'"), std::string::npos) << reason;
  EXPECT_NE(reason.find("got '4kb'"), std::string::npos) << reason;
  EXPECT_NE(reason.find("KiB"), std::string::npos) << "says which units work: " << reason;
  for (const char* bad : {"", "k", "-4k", "4 k", "4.5M", "lots"}) {
    EXPECT_THROW((void)parse_size(bad), std::invalid_argument) << bad;
  }
}

TEST(SettingsValues, SizeRangeShowsTheBoundsAsSizes) {
  const std::string reason = reason_of([] { (void)parse_size("32", Range{64, std::uint64_t{64} << 20}); });
  EXPECT_NE(reason.find("[64, 64MiB]"), std::string::npos) << reason;
  EXPECT_EQ(parse_size("64MiB", Range{64, std::uint64_t{64} << 20}), std::uint64_t{64} << 20);
}

TEST(SettingsValues, DurationsAreMillisecondsWithOptionalUnits) {
  EXPECT_EQ(parse_duration("250").count(), 250);
  EXPECT_EQ(parse_duration("250ms").count(), 250);
  EXPECT_EQ(parse_duration("5s").count(), 5'000);
  EXPECT_EQ(parse_duration("2m").count(), 120'000);
  EXPECT_EQ(parse_duration("1H").count(), 3'600'000);
  const std::string unit = reason_of([] { (void)parse_duration("3d"); });
  EXPECT_NE(unit.find("unknown unit 'd'"), std::string::npos) << unit;
  const std::string range = reason_of([] { (void)parse_duration("11m", Range{1, 600'000}); });
  EXPECT_NE(range.find("[1 ms, 600000 ms]"), std::string::npos) << range;
  EXPECT_THROW((void)parse_duration("99999999999999999h"), std::invalid_argument);  // past 2^64 ms
  EXPECT_THROW((void)parse_duration(std::to_string((std::uint64_t{1} << 40) + 1)), std::invalid_argument);
}

TEST(SettingsValues, CountsIntegersAndBooleans) {
  EXPECT_EQ(parse_count("1000"), 1000u);
  EXPECT_NE(reason_of([] { (void)parse_count("0", Range{1, 64}); }).find("[1, 64]"), std::string::npos);
  EXPECT_NE(reason_of([] { (void)parse_count("-1"); }).find("non-negative whole number"), std::string::npos);
  EXPECT_EQ(parse_integer("-3", -7, 22), -3);
  EXPECT_THROW((void)parse_integer("23", -7, 22), std::invalid_argument);
  for (const char* yes : {"true", "TRUE", "yes", "on", "1"}) EXPECT_TRUE(parse_bool(yes)) << yes;
  for (const char* no : {"false", "no", "Off", "0"}) EXPECT_FALSE(parse_bool(no)) << no;
  EXPECT_NE(reason_of([] { (void)parse_bool("maybe"); }).find("true or false"), std::string::npos);
}

TEST(SettingsValues, ListsAndTexts) {
  EXPECT_EQ(split_list(" a, b ,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(join_list({"a", "b"}), "a,b");
  EXPECT_EQ(size_text(std::uint64_t{64} << 20), "64MiB");
  EXPECT_EQ(size_text(1536), "1536");  // exact: 1.5 KiB is not written as KiB
  EXPECT_EQ(size_text(1000), "1000");
  EXPECT_EQ(parse_size(size_text(std::uint64_t{3} << 30)), std::uint64_t{3} << 30);
}

TEST(SettingsValues, OneEnvironmentNameRule) {
  EXPECT_EQ(env_name("queue.max_bytes"), "SPANLINE_QUEUE_MAX_BYTES");
  EXPECT_EQ(env_name("ingest.max_line_bytes"), "SPANLINE_INGEST_MAX_LINE_BYTES");
}

TEST(SettingsValues, SettingErrorKeepsSettingAndReasonApart) {
  const SettingError e("batch.max_bytes", "must be >= 1 KiB, got 12");
  EXPECT_EQ(e.setting(), "batch.max_bytes");
  EXPECT_EQ(e.reason(), "must be >= 1 KiB, got 12");
  EXPECT_STREQ(e.what(), "batch.max_bytes must be >= 1 KiB, got 12");
}

}  // namespace
}  // namespace spanline::settings
