#include "otlp/otlp_json_text.hpp"

#include <gtest/gtest.h>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

namespace spanline::otlp {
namespace {

namespace json = boost::json;

std::string written_string(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

std::string written_double(double value) {
  std::string out;
  append_json_double(out, value);
  return out;
}

TEST(OtlpJsonText, StringsAreEscapedAsBoostJsonEscapesThem) {
  for (int byte = 0; byte < 256; ++byte) {
    const std::string text = "a" + std::string(1, static_cast<char>(byte)) + "b";
    EXPECT_EQ(written_string(text), json::serialize(json::value(json::string_view(text)))) << byte;
  }
  const std::string mixed = std::string("q\" b\\ n\n nul") + '\0' + " \xc3\xa9 \xff end";
  EXPECT_EQ(written_string(mixed), json::serialize(json::value(json::string_view(mixed))));
  EXPECT_EQ(written_string(""), R"("")");
}

TEST(OtlpJsonText, IntegersAreDecimal) {
  for (const std::int64_t n :
       {std::int64_t{0}, std::int64_t{-1}, std::int64_t{42}, std::numeric_limits<std::int64_t>::max(),
        std::numeric_limits<std::int64_t>::min()}) {
    std::string out;
    append_json_integer(out, n);
    EXPECT_EQ(out, json::serialize(json::value(n)));
  }
}

TEST(OtlpJsonText, DoublesAreSpelledAsBoostJsonSpellsThem) {
  const double cases[] = {0.0,
                          -0.0,
                          0.1,
                          -2.5,
                          3.0,
                          100.0,
                          1e21,
                          1e22,
                          1e-7,
                          5e-324,
                          2.2250738585072014e-308,
                          1.7976931348623157e308,
                          123456789.125,
                          1.0 / 3,
                          1733011200.123456789,
                          1e100,
                          1e-100};
  for (const double d : cases) EXPECT_EQ(written_double(d), json::serialize(json::value(d))) << d;
  EXPECT_EQ(written_double(1.5), "1.5E0");
  EXPECT_EQ(written_double(-1e-7), "-1E-7");
}

TEST(OtlpJsonText, RandomDoublesAreSpelledAsBoostJsonSpellsThem) {
  std::mt19937_64 random(20261208);
  int compared = 0;
  while (compared < 200000) {
    const double d = std::bit_cast<double>(random());
    if (!std::isfinite(d)) continue;
    ++compared;
    ASSERT_EQ(written_double(d), json::serialize(json::value(d))) << std::bit_cast<std::uint64_t>(d);
  }
  std::uniform_real_distribution<double> ordinary(-1e6, 1e6);
  for (int i = 0; i < 100000; ++i) {
    const double d = ordinary(random);
    ASSERT_EQ(written_double(d), json::serialize(json::value(d))) << d;
  }
}

}  // namespace
}  // namespace spanline::otlp
