#pragma once
// The sender's one retry layer, as pure functions: what to do with an answer, how
// long a Retry-After header asks us to wait, and how long to back off otherwise.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

namespace spanline::detail {

enum class RetryDecision {
  success,            // 2xx
  retry_after_pause,  // 429: pause the whole host (Retry-After or backoff), then resend
  retry_backoff,      // 408, 5xx, transport error or timeout (status 0)
  split,              // 413 on a batch of two or more events: send each half
  isolate,            // 400 (not about the encoding) or 422 on two or more events: send each
                      // half, until the rows the API refuses are alone
  fallback_encoding,  // 415, or a 400 whose body names the content encoding
  reject,             // never retried: 401, 403, 404, other 4xx, and 400/413/422 on one event
};

std::string_view to_string(RetryDecision decision);

// `status` 0 means the request failed below HTTP (connect, TLS, reset, timeout).
// `events` is the batch's event count; `body` the answer's body (may be empty).
RetryDecision decide(int status, std::size_t events, std::string_view body) noexcept;

// Longest pause a Retry-After header can impose; a longer one is capped.
inline constexpr std::chrono::milliseconds kMaxRetryAfter = std::chrono::hours(1);

// Parses Retry-After: delta-seconds, or an HTTP-date (IMF-fixdate, RFC 850 or asctime).
// A date in the past gives 0. Anything unparsable gives nullopt.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view header, std::chrono::system_clock::time_point now) noexcept;

// Full-jitter exponential backoff: uniform in [0, min(max, base * 2^attempt)].
// `attempt` counts from 0 for the first retry.
std::chrono::milliseconds backoff_delay(std::uint32_t attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds max, std::mt19937_64& rng) noexcept;

}  // namespace spanline::detail
