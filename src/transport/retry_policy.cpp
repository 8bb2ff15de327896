#include "transport/retry_policy.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <string>

namespace spanline::detail {

namespace {

bool contains_ci(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
  return it != haystack.end();
}

// A 400 that complains about the body's encoding rather than its content.
bool names_encoding(std::string_view body) {
  return contains_ci(body, "encoding") || contains_ci(body, "zstd") || contains_ci(body, "gzip");
}

// --- HTTP-date parsing (RFC 9110 section 5.6.7) ------------------------------

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::optional<int> month_index(std::string_view name) {
  static constexpr std::array<std::string_view, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (name == kMonths[i]) return static_cast<int>(i) + 1;
  }
  return std::nullopt;
}

// Reads exactly `digits` digits (or 1..digits when `at_most`) from the front of text.
std::optional<int> take_number(std::string_view& text, std::size_t min_digits, std::size_t max_digits) {
  std::size_t n = 0;
  while (n < text.size() && n < max_digits && text[n] >= '0' && text[n] <= '9') ++n;
  if (n < min_digits) return std::nullopt;
  int value = 0;
  std::from_chars(text.data(), text.data() + n, value);
  text.remove_prefix(n);
  return value;
}

bool take(std::string_view& text, std::string_view token) {
  if (text.substr(0, token.size()) != token) return false;
  text.remove_prefix(token.size());
  return true;
}

std::string_view take_word(std::string_view& text) {
  std::size_t n = 0;
  while (n < text.size() && std::isalpha(static_cast<unsigned char>(text[n]))) ++n;
  auto word = text.substr(0, n);
  text.remove_prefix(n);
  return word;
}

bool take_spaces(std::string_view& text) {
  if (text.empty() || text.front() != ' ') return false;
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  return true;
}

bool take_time(std::string_view& text, int& h, int& m, int& s) {
  auto hh = take_number(text, 2, 2);
  if (!hh || !take(text, ":")) return false;
  auto mm = take_number(text, 2, 2);
  if (!mm || !take(text, ":")) return false;
  auto ss = take_number(text, 2, 2);
  if (!ss) return false;
  h = *hh;
  m = *mm;
  s = *ss;
  return h <= 23 && m <= 59 && s <= 60;
}

struct CivilTime {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

// "Sun, 06 Nov 1994 08:49:37 GMT"
std::optional<CivilTime> parse_imf_fixdate(std::string_view text) {
  CivilTime t;
  if (take_word(text).size() != 3 || !take(text, ",") || !take_spaces(text)) return std::nullopt;
  auto day = take_number(text, 2, 2);
  if (!day || !take(text, " ")) return std::nullopt;
  auto month = month_index(take_word(text));
  if (!month || !take(text, " ")) return std::nullopt;
  auto year = take_number(text, 4, 4);
  if (!year || !take(text, " ")) return std::nullopt;
  if (!take_time(text, t.hour, t.minute, t.second) || !take(text, " GMT") || !text.empty())
    return std::nullopt;
  t.year = *year;
  t.month = *month;
  t.day = *day;
  return t;
}

// "Sunday, 06-Nov-94 08:49:37 GMT"; two-digit years within 50 years of `now_year` (RFC 9110).
std::optional<CivilTime> parse_rfc850(std::string_view text, int now_year) {
  CivilTime t;
  if (take_word(text).size() < 6 || !take(text, ",") || !take_spaces(text)) return std::nullopt;
  auto day = take_number(text, 2, 2);
  if (!day || !take(text, "-")) return std::nullopt;
  auto month = month_index(take_word(text));
  if (!month || !take(text, "-")) return std::nullopt;
  auto year = take_number(text, 2, 2);
  if (!year || !take(text, " ")) return std::nullopt;
  if (!take_time(text, t.hour, t.minute, t.second) || !take(text, " GMT") || !text.empty())
    return std::nullopt;
  int full_year = now_year - now_year % 100 + *year;
  if (full_year > now_year + 50) full_year -= 100;
  t.year = full_year;
  t.month = *month;
  t.day = *day;
  return t;
}

// "Sun Nov  6 08:49:37 1994"
std::optional<CivilTime> parse_asctime(std::string_view text) {
  CivilTime t;
  if (take_word(text).size() != 3 || !take(text, " ")) return std::nullopt;
  auto month = month_index(take_word(text));
  if (!month || !take(text, " ")) return std::nullopt;
  take(text, " ");  // day is space-padded: "Nov  6"
  auto day = take_number(text, 1, 2);
  if (!day || !take(text, " ")) return std::nullopt;
  if (!take_time(text, t.hour, t.minute, t.second) || !take(text, " ")) return std::nullopt;
  auto year = take_number(text, 4, 4);
  if (!year || !text.empty()) return std::nullopt;
  t.year = *year;
  t.month = *month;
  t.day = *day;
  return t;
}

std::optional<std::chrono::system_clock::time_point> to_time_point(const CivilTime& t) {
  using namespace std::chrono;
  year_month_day date{year{t.year}, month{static_cast<unsigned>(t.month)}, day{static_cast<unsigned>(t.day)}};
  if (!date.ok()) return std::nullopt;
  // system_clock counts nanoseconds in 64 bits, which reach only the years 1678 to 2262: a
  // date outside (a header may name year 0 or 9999) overflows on conversion. A date before
  // the epoch is in the past and one past 2200 is capped anyway, so both are clamped.
  constexpr sys_days kEarliest{year{1970} / January / 1};
  constexpr sys_days kLatest{year{2200} / January / 1};
  const sys_days when = std::clamp(sys_days{date}, kEarliest, kLatest);
  return system_clock::time_point{when} + hours{t.hour} + minutes{t.minute} + seconds{t.second};
}

}  // namespace

std::string_view to_string(RetryDecision decision) {
  switch (decision) {
    case RetryDecision::success:
      return "success";
    case RetryDecision::retry_after_pause:
      return "retry_after_pause";
    case RetryDecision::retry_backoff:
      return "retry_backoff";
    case RetryDecision::split:
      return "split";
    case RetryDecision::isolate:
      return "isolate";
    case RetryDecision::fallback_encoding:
      return "fallback_encoding";
    case RetryDecision::reject:
      return "reject";
  }
  return "unknown";
}

RetryDecision decide(int status, std::size_t events, std::string_view body) noexcept {
  if (status >= 200 && status <= 299) return RetryDecision::success;
  if (status == 429) return RetryDecision::retry_after_pause;
  if (status == 0 || status == 408 || (status >= 500 && status <= 599)) return RetryDecision::retry_backoff;
  if (status == 413) return events >= 2 ? RetryDecision::split : RetryDecision::reject;
  if (status == 415) return RetryDecision::fallback_encoding;
  if (status == 400 && names_encoding(body)) return RetryDecision::fallback_encoding;
  // The API refuses a whole batch for one bad row (too deep, not an object, a bad id...):
  // halving it finds that row in about log2(n) steps and lets the others through.
  if (status == 400 || status == 422) return events >= 2 ? RetryDecision::isolate : RetryDecision::reject;
  // 1xx/3xx are not expected from this API and retrying them would not change the answer.
  return RetryDecision::reject;
}

std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view header, std::chrono::system_clock::time_point now) noexcept {
  using namespace std::chrono;
  std::string_view text = trim(header);
  if (text.empty()) return std::nullopt;

  if (text.front() >= '0' && text.front() <= '9') {
    // delta-seconds; very long digit strings are capped rather than overflowing.
    std::uint64_t value = 0;
    for (char c : text) {
      if (c < '0' || c > '9') return std::nullopt;
      value = std::min<std::uint64_t>(value * 10 + static_cast<std::uint64_t>(c - '0'), 1'000'000'000);
    }
    return std::min<milliseconds>(seconds{value}, kMaxRetryAfter);
  }
  if (text.front() == '-') {
    // Not valid delta-seconds, but its meaning is clear: no wait.
    std::string_view digits = text.substr(1);
    if (digits.empty() ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    return milliseconds{0};
  }

  const int now_year = static_cast<int>(year_month_day{floor<days>(now)}.year());
  std::optional<CivilTime> civil = parse_imf_fixdate(text);
  if (!civil) civil = parse_rfc850(text, now_year);
  if (!civil) civil = parse_asctime(text);
  if (!civil) return std::nullopt;
  auto when = to_time_point(*civil);
  if (!when) return std::nullopt;
  if (*when <= now) return milliseconds{0};
  return std::min<milliseconds>(ceil<milliseconds>(*when - now), kMaxRetryAfter);
}

std::chrono::milliseconds backoff_delay(std::uint32_t attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds max, std::mt19937_64& rng) noexcept {
  if (base.count() <= 0 || max.count() <= 0) return std::chrono::milliseconds{0};
  // base * 2^attempt, saturating at max without overflowing.
  std::int64_t ceiling = base.count();
  for (std::uint32_t i = 0; i < attempt && ceiling < max.count(); ++i) ceiling *= 2;
  ceiling = std::min<std::int64_t>(ceiling, max.count());
  std::uniform_int_distribution<std::int64_t> pick(0, ceiling);
  return std::chrono::milliseconds{pick(rng)};
}

}  // namespace spanline::detail
