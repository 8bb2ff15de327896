// Retry-After header values: delta-seconds or an HTTP-date. Any header gives nullopt or a
// pause within [0, kMaxRetryAfter].
#include "transport/retry_policy.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace std::chrono;
  // A fixed "now" keeps a run reproducible: 2026-12-07T12:00:00Z.
  const system_clock::time_point now{seconds{1796644800}};
  const std::string_view header(reinterpret_cast<const char*>(data), size);
  const auto pause = spanline::detail::parse_retry_after(header, now);
  if (pause && (*pause < milliseconds::zero() || *pause > spanline::detail::kMaxRetryAfter)) std::abort();
  return 0;
}
