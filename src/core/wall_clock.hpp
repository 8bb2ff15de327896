#pragma once
// The wall-clock time rows carry (`created`, `metrics.start`, `metrics.end`), read on
// the caller's thread for every row. std::chrono::system_clock::now() is a vDSO call,
// slow on virtual machines whose clock source traps; wall_clock_now() reads the CPU's
// time-stamp counter instead and converts it with a per-thread anchor, so nearly all of
// its cost is the RDTSC instruction itself.
//
// How close it stays to system_clock:
//  - each thread re-anchors on a real system_clock reading once per kWallClockReanchor
//    of TSC time, so a step of the system clock (settimeofday, an NTP jump) shows up
//    within that interval, and extrapolation error (NTP slewing of up to 500 ppm, the
//    calibration's error) stays well under a microsecond;
//  - one thread's readings never go backwards by less than kWallClockMaxHold: a small
//    backward correction at a re-anchor is held flat until time catches up. A larger
//    backward step of the system clock is followed, as system_clock itself would.
// Where the TSC cannot be trusted (not x86-64, no invariant TSC, the kernel does not use
// it as its clocksource), and until the tick rate is calibrated (the first ~10 ms after
// first use), it returns system_clock::now().
//
// Thread safety: any thread may call wall_clock_now(); per-thread state, no lock on the
// fast path. TscAnchor and TscRate are its parts, driven by explicit readings so tests
// can replay any sequence of clock behaviour.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>

namespace spanline::detail {

inline constexpr std::chrono::nanoseconds kWallClockReanchor = std::chrono::milliseconds(1);
inline constexpr std::chrono::nanoseconds kWallClockMaxHold = std::chrono::milliseconds(1);

std::chrono::system_clock::time_point wall_clock_now() noexcept;

// True once wall_clock_now() reads the TSC on this machine (after calibration); false
// while, or where, it falls back to system_clock. For tests and benchmarks.
bool wall_clock_uses_tsc() noexcept;

// The TSC's tick rate, measured against the monotonic clock over a baseline that doubles
// each time it is refined (10 ms, 20 ms, 40 ms, ...): the error shrinks as the process runs.
class TscRate {
 public:
  // Nanoseconds per tick in 32.32 fixed point; 0 while unknown or implausible.
  std::uint64_t ns_per_tick_q32() const noexcept { return rate_q32_.load(std::memory_order_relaxed); }
  // One reading of the TSC and the monotonic clock (nanoseconds), taken together.
  // Never blocks: a reading that finds another thread refining the rate is ignored.
  void observe(std::uint64_t tsc, std::int64_t steady_ns) noexcept;
  // False while a reading at `tsc` cannot complete the calibration, or refine it, yet:
  // wall_clock_now() then reads the system clock alone when it re-anchors.
  bool wants_reading(std::uint64_t tsc) const noexcept {
    return tsc >= earliest_tsc_.load(std::memory_order_relaxed);
  }

 private:
  void hold_off(std::uint64_t tsc, std::int64_t ns) noexcept;

  std::mutex mutex_;
  bool have_base_ = false;
  std::uint64_t base_tsc_ = 0;
  std::int64_t base_ns_ = 0;
  // Read without the lock first: most readings come before it and need no lock at all.
  std::atomic<std::int64_t> refine_at_ns_{0};
  std::atomic<std::uint64_t> rate_q32_{0};
  std::atomic<std::uint64_t> earliest_tsc_{0};
};

// One thread's anchor: a system time and the TSC reading it was taken at.
struct TscAnchor {
  std::uint64_t tsc = 0;
  std::uint64_t window_ticks = 0;  // 0: no anchor, every reading re-anchors
  std::uint64_t ns_per_tick_q32 = 0;
  std::int64_t ns = 0;  // system time at `tsc`, nanoseconds since the epoch
  std::int64_t last_ns = std::numeric_limits<std::int64_t>::min();  // the last time handed out

  // The time at `now_tsc` when it lies in the anchor's window (false: re-anchor instead).
  // A TSC behind the anchor (the thread moved to a CPU whose counter lags) wraps to a
  // huge delta and re-anchors too.
  bool extrapolate(std::uint64_t now_tsc, std::int64_t& out_ns) noexcept {
    const std::uint64_t delta = now_tsc - tsc;
    if (delta >= window_ticks) return false;
    std::int64_t result = ns + static_cast<std::int64_t>((delta * ns_per_tick_q32) >> 32);
    if (result < last_ns) result = last_ns;  // holding after a small backward correction
    last_ns = result;
    out_ns = result;
    return true;
  }

  // Anchors on `system_ns`, read at `at_tsc`, with rate `rate_q32` (0: unknown, no
  // anchor is kept) and returns the time to hand out for this reading.
  std::int64_t reanchor(std::uint64_t at_tsc, std::int64_t system_ns, std::uint64_t rate_q32) noexcept;
};

}  // namespace spanline::detail
