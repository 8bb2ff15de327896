#include "core/wall_clock.hpp"

#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

#include <fstream>
#include <string>

namespace spanline::detail {
namespace {

using std::chrono::duration_cast;
using std::chrono::nanoseconds;

constexpr std::int64_t kFirstBaselineNs = 10'000'000;  // 10 ms: error ~1e-5 from clock-read jitter
// Plausible TSC rates: 100 MHz to 10 GHz, i.e. 0.1 to 10 ns per tick.
constexpr double kMinNsPerTick = 0.1;
constexpr double kMaxNsPerTick = 10.0;
constexpr double kQ32 = 4294967296.0;

std::int64_t system_ns() noexcept {
  return duration_cast<nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::int64_t steady_ns() noexcept {
  return duration_cast<nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::chrono::system_clock::time_point from_ns(std::int64_t ns) noexcept {
  return std::chrono::system_clock::time_point(
      duration_cast<std::chrono::system_clock::duration>(nanoseconds(ns)));
}

#if defined(__x86_64__)
// The TSC is usable as a clock only when it ticks at a constant rate through frequency
// changes and sleep states (CPUID "invariant TSC") and the kernel agrees: it stops using
// the TSC as its clocksource when it finds the counters out of step between CPUs.
bool tsc_is_trustworthy() noexcept {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0x80000000u, &eax, &ebx, &ecx, &edx) == 0 || eax < 0x80000007u) return false;
  if (__get_cpuid(0x80000007u, &eax, &ebx, &ecx, &edx) == 0 || (edx & (1u << 8)) == 0) return false;
  try {
    std::ifstream source("/sys/devices/system/clocksource/clocksource0/current_clocksource");
    std::string name;
    if (source >> name) return name == "tsc";
  } catch (...) {
    return false;
  }
  return true;  // no sysfs to ask: the CPU's word stands
}

TscRate& process_rate() noexcept {
  static TscRate rate;
  return rate;
}

bool trusted_tsc() noexcept {
  static const bool trusted = tsc_is_trustworthy();
  return trusted;
}

// Trivially constructible and destructible: no guard, no exit-time destructor.
thread_local TscAnchor this_thread_anchor;

// The system and monotonic clocks read together with the TSC.
struct Reading {
  std::uint64_t tsc;
  std::int64_t system_ns;
  std::int64_t steady_ns;
};

// A reading is only as good as the gap between the two TSC reads around the clock
// reads: a thread preempted in between would pair a time with the wrong tick count.
// 20,000 ticks is a few microseconds at any plausible rate; a longer gap is retried.
bool take_reading(Reading& out, bool with_steady) noexcept {
  constexpr std::uint64_t kMaxGapTicks = 20'000;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const std::uint64_t before = __rdtsc();
    out.system_ns = system_ns();
    out.steady_ns = with_steady ? steady_ns() : 0;
    const std::uint64_t after = __rdtsc();
    if (after - before <= kMaxGapTicks) {
      out.tsc = before + (after - before) / 2;
      return true;
    }
  }
  return false;
}

std::chrono::system_clock::time_point reanchor_now(std::uint64_t tsc) noexcept {
  if (!trusted_tsc()) return std::chrono::system_clock::now();
  TscRate& rate = process_rate();
  // Until the rate is known a reading is only worth taking when it can complete the
  // calibration; every other call is a plain system_clock read.
  if (rate.ns_per_tick_q32() == 0 && !rate.wants_reading(tsc)) return std::chrono::system_clock::now();
  // The monotonic clock only serves the calibration: a re-anchor between refinements
  // reads the system clock alone (one clock read instead of two, on a path that runs
  // first thing after a pause, cold).
  const bool for_calibration = rate.wants_reading(tsc);
  Reading reading;
  if (!take_reading(reading, for_calibration)) return std::chrono::system_clock::now();
  if (for_calibration) rate.observe(reading.tsc, reading.steady_ns);
  return from_ns(this_thread_anchor.reanchor(reading.tsc, reading.system_ns, rate.ns_per_tick_q32()));
}
#endif

}  // namespace

void TscRate::hold_off(std::uint64_t tsc, std::int64_t ns) noexcept {
  // The fewest ticks `ns` can take: at the rate measured so far less a margin for its
  // error, or before there is one at the slowest plausible rate. Readings before then
  // cannot be due yet.
  const std::uint64_t rate_q32 = rate_q32_.load(std::memory_order_relaxed);
  const double ns_per_tick = rate_q32 != 0 ? static_cast<double>(rate_q32) / kQ32 * 1.01 : kMaxNsPerTick;
  earliest_tsc_.store(tsc + static_cast<std::uint64_t>(static_cast<double>(ns) / ns_per_tick),
                      std::memory_order_relaxed);
}

void TscRate::observe(std::uint64_t tsc, std::int64_t steady_ns) noexcept {
  const std::int64_t refine_at = refine_at_ns_.load(std::memory_order_relaxed);
  if (refine_at != 0 && steady_ns < refine_at) {
    hold_off(tsc, refine_at - steady_ns);
    return;
  }
  std::unique_lock lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return;
  if (!have_base_) {
    have_base_ = true;
    base_tsc_ = tsc;
    base_ns_ = steady_ns;
    refine_at_ns_.store(steady_ns + kFirstBaselineNs, std::memory_order_relaxed);
    hold_off(tsc, kFirstBaselineNs);
    return;
  }
  if (tsc <= base_tsc_ || steady_ns < refine_at_ns_.load(std::memory_order_relaxed)) return;
  const std::int64_t elapsed_ns = steady_ns - base_ns_;
  const double ns_per_tick = static_cast<double>(elapsed_ns) / static_cast<double>(tsc - base_tsc_);
  // Twice the baseline before the next refinement: a few dozen refinements per process.
  refine_at_ns_.store(steady_ns + elapsed_ns, std::memory_order_relaxed);
  const bool plausible = ns_per_tick >= kMinNsPerTick && ns_per_tick <= kMaxNsPerTick;
  rate_q32_.store(plausible ? static_cast<std::uint64_t>(ns_per_tick * kQ32) : 0, std::memory_order_relaxed);
  hold_off(tsc, elapsed_ns);
}

std::int64_t TscAnchor::reanchor(std::uint64_t at_tsc, std::int64_t system_ns,
                                 std::uint64_t rate_q32) noexcept {
  if (rate_q32 == 0) {
    window_ticks = 0;  // no rate yet: every reading comes back here
  } else {
    tsc = at_tsc;
    ns = system_ns;
    ns_per_tick_q32 = rate_q32;
    window_ticks = (static_cast<std::uint64_t>(kWallClockReanchor.count()) << 32) / rate_q32;
  }
  std::int64_t result = system_ns;
  // Extrapolation may have run slightly ahead of the system clock: hold this thread's
  // time flat rather than step back. A larger step back is the system clock being set.
  if (result < last_ns && last_ns - result <= kWallClockMaxHold.count()) result = last_ns;
  last_ns = result;
  return result;
}

std::chrono::system_clock::time_point wall_clock_now() noexcept {
#if defined(__x86_64__)
  const std::uint64_t tsc = __rdtsc();
  std::int64_t ns;
  if (this_thread_anchor.extrapolate(tsc, ns)) [[likely]]
    return from_ns(ns);
  return reanchor_now(tsc);
#else
  return std::chrono::system_clock::now();
#endif
}

bool wall_clock_uses_tsc() noexcept {
#if defined(__x86_64__)
  return trusted_tsc() && process_rate().ns_per_tick_q32() != 0;
#else
  return false;
#endif
}

}  // namespace spanline::detail
