#include "transport/retry_policy.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace spanline::detail {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

struct DecisionCase {
  int status;
  std::size_t events;
  std::string_view body;
  RetryDecision expected;
};

TEST(RetryDecisionTest, EveryStatusMapsToItsDecision) {
  const DecisionCase cases[] = {
      {200, 10, "", RetryDecision::success},
      {201, 1, "", RetryDecision::success},
      {204, 1, "", RetryDecision::success},
      {400, 10, R"({"message":"bad event"})", RetryDecision::isolate},
      {400, 2, R"({"message":"body is not valid JSON: too deep"})", RetryDecision::isolate},
      {400, 1, R"({"message":"bad event"})", RetryDecision::reject},
      {401, 10, "", RetryDecision::reject},
      {403, 10, "", RetryDecision::reject},
      {404, 10, "", RetryDecision::reject},
      {408, 10, "", RetryDecision::retry_backoff},
      {413, 1, R"({"message":"Request Too Long"})", RetryDecision::reject},
      {413, 2, R"({"message":"Request Too Long"})", RetryDecision::split},
      {413, 500, "", RetryDecision::split},
      {415, 10, "", RetryDecision::fallback_encoding},
      {422, 10, "", RetryDecision::isolate},
      {422, 1, "", RetryDecision::reject},
      {429, 10, "", RetryDecision::retry_after_pause},
      {500, 10, R"({"Code":"InternalServerError"})", RetryDecision::retry_backoff},
      {502, 10, "", RetryDecision::retry_backoff},
      {503, 10, "", RetryDecision::retry_backoff},
      {504, 10, "", RetryDecision::retry_backoff},
      {0, 10, "", RetryDecision::retry_backoff},
      {409, 10, "", RetryDecision::reject},
      {302, 10, "", RetryDecision::reject},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(decide(c.status, c.events, c.body), c.expected)
        << "status " << c.status << " events " << c.events << ": got "
        << to_string(decide(c.status, c.events, c.body));
  }
}

TEST(RetryDecisionTest, BadRequestNamingTheEncodingFallsBack) {
  EXPECT_EQ(decide(400, 5, "Unsupported Content-Encoding: zstd"), RetryDecision::fallback_encoding);
  EXPECT_EQ(decide(400, 5, R"({"error":"cannot decode ZSTD body"})"), RetryDecision::fallback_encoding);
  EXPECT_EQ(decide(400, 5, "invalid gzip header"), RetryDecision::fallback_encoding);
  EXPECT_EQ(decide(400, 5, "events[3].scores must be numbers"), RetryDecision::isolate);
  EXPECT_EQ(decide(400, 1, "events[0].scores must be numbers"), RetryDecision::reject);
}

TEST(RetryDecisionTest, ToStringNamesEveryDecision) {
  EXPECT_EQ(to_string(RetryDecision::split), "split");
  EXPECT_EQ(to_string(RetryDecision::isolate), "isolate");
  EXPECT_EQ(to_string(RetryDecision::retry_after_pause), "retry_after_pause");
}

// 2024-03-01 12:00:00 UTC
std::chrono::system_clock::time_point reference_now() {
  using namespace std::chrono;
  return system_clock::time_point{sys_days{year{2024} / March / 1}} + 12h;
}

TEST(RetryAfterTest, DeltaSeconds) {
  const auto now = reference_now();
  EXPECT_EQ(parse_retry_after("1", now), milliseconds(1000));
  EXPECT_EQ(parse_retry_after("0", now), milliseconds(0));
  EXPECT_EQ(parse_retry_after(" 120 ", now), milliseconds(120'000));
}

TEST(RetryAfterTest, DeltaSecondsAreCappedAtOneHour) {
  const auto now = reference_now();
  EXPECT_EQ(parse_retry_after("86400", now), kMaxRetryAfter);
  EXPECT_EQ(parse_retry_after("99999999999999999999999", now), kMaxRetryAfter);
}

TEST(RetryAfterTest, ImfFixdate) {
  EXPECT_EQ(parse_retry_after("Fri, 01 Mar 2024 12:00:30 GMT", reference_now()), milliseconds(30'000));
}

TEST(RetryAfterTest, Rfc850Date) {
  EXPECT_EQ(parse_retry_after("Friday, 01-Mar-24 12:01:00 GMT", reference_now()), milliseconds(60'000));
}

TEST(RetryAfterTest, AsctimeDate) {
  EXPECT_EQ(parse_retry_after("Fri Mar  1 12:00:05 2024", reference_now()), milliseconds(5'000));
  // Two-digit day, no padding space.
  const auto later = reference_now() - 24h * 9;  // Feb 21
  EXPECT_EQ(parse_retry_after("Fri Mar 01 12:00:05 2024", reference_now()), milliseconds(5'000));
  EXPECT_EQ(parse_retry_after("Wed Feb 21 12:30:00 2024", later), milliseconds(30min));
}

TEST(RetryAfterTest, DateFarAheadIsCapped) {
  EXPECT_EQ(parse_retry_after("Sun, 01 Mar 2026 12:00:00 GMT", reference_now()), kMaxRetryAfter);
}

TEST(RetryAfterTest, PastDatesAndNegativeValuesMeanNoWait) {
  const auto now = reference_now();
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), milliseconds(0));
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), milliseconds(0));
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", now), milliseconds(0));
  EXPECT_EQ(parse_retry_after("-5", now), milliseconds(0));
}

// Found by fuzzing (tests/fuzz/corpus/retry_after/regression-*): a year outside what
// system_clock's nanoseconds can hold (1678-2262) overflowed on conversion.
TEST(RetryAfterTest, YearsOutsideTheClocksRangeAreThePastOrCapped) {
  const auto now = reference_now();
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 1013 07:28:00 GMT", now), milliseconds(0));
  EXPECT_EQ(parse_retry_after("Sat, 01 Jan 0000 00:00:00 GMT", now), milliseconds(0));
  EXPECT_EQ(parse_retry_after("Fri Dec 31 23:59:59 9999", now), kMaxRetryAfter);
  EXPECT_EQ(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now), kMaxRetryAfter);
}

TEST(RetryAfterTest, GarbageIsNullopt) {
  const auto now = reference_now();
  for (const char* garbage :
       {"", "   ", "soon", "1.5", "12abc", "-", "-x", "Fri, 01 Mar 2024 12:00:30",
        "Fri, 31 Feb 2024 12:00:30 GMT", "Fri, 01 Foo 2024 12:00:30 GMT", "Fri, 01 Mar 2024 25:00:30 GMT",
        "Fri Mar  1 12:00:05", "Fri, 1 Mar 2024 12:00:30 GMT"}) {
    EXPECT_EQ(parse_retry_after(garbage, now), std::nullopt) << "'" << garbage << "'";
  }
}

TEST(RetryBackoffTest, StaysWithinFullJitterBounds) {
  std::mt19937_64 rng(42);
  for (std::uint32_t attempt = 0; attempt < 12; ++attempt) {
    const auto ceiling = std::min<milliseconds>(milliseconds(100) * (1 << attempt), milliseconds(5000));
    for (int i = 0; i < 200; ++i) {
      const auto delay = backoff_delay(attempt, 100ms, 5000ms, rng);
      EXPECT_GE(delay, 0ms);
      EXPECT_LE(delay, ceiling) << "attempt " << attempt;
    }
  }
}

TEST(RetryBackoffTest, IsJitteredAndGrowsWithAttempts) {
  std::mt19937_64 rng(7);
  milliseconds low_max{0}, high_max{0}, high_min{milliseconds::max()};
  for (int i = 0; i < 500; ++i) {
    low_max = std::max(low_max, backoff_delay(0, 100ms, 30s, rng));
    const auto d = backoff_delay(6, 100ms, 30s, rng);
    high_max = std::max(high_max, d);
    high_min = std::min(high_min, d);
  }
  EXPECT_LE(low_max, 100ms);
  EXPECT_GT(high_max, 3000ms);  // ceiling 6.4 s; 500 draws essentially never all stay below 3 s
  EXPECT_LT(high_min, 3000ms);  // and it is spread, not fixed
}

TEST(RetryBackoffTest, HugeAttemptCountsSaturateAtMax) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100; ++i) EXPECT_LE(backoff_delay(4'000'000'000u, 100ms, 2s, rng), 2s);
  EXPECT_EQ(backoff_delay(3, 0ms, 2s, rng), 0ms);
}

}  // namespace
}  // namespace spanline::detail
