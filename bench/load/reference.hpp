#pragma once
// The physical reference a throughput is compared against, measured on the same
// machine in the same run: zstd level-1 compression speed on a batch body made of
// the generator's rows, and memcpy bandwidth. Rates are per second of the measuring
// thread's CPU time (the physical one-core rate); the wall-clock rates sit alongside.

#include "generator.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace spanline::load {

struct Reference {
  std::uint64_t batch_bytes = 0;  // the {"events":[...]} body compressed
  std::uint64_t batch_events = 0;
  double bytes_per_span = 0;           // average rendered bytes of one span's rows
  double zstd1_bytes_per_s = 0;        // input bytes compressed per second of one thread's CPU time
  double zstd1_ratio = 0;              // raw / compressed
  double memcpy_bytes_per_s = 0;       // per second of one thread's CPU time, 64 MiB buffers (out of cache)
  double zstd1_bytes_per_s_wall = 0;   // the same work per wall-clock second: falls when the
  double memcpy_bytes_per_s_wall = 0;  // machine is loaded; for context only, never a ratio's base
  double seconds = 0;                  // wall-clock time spent measuring
};

// The two clocks a rate is timed with, in seconds; tests inject their own.
struct RateClocks {
  std::function<double()> cpu_seconds;   // default: thread_cpu_seconds
  std::function<double()> wall_seconds;  // default: steady_clock
};

struct Rate {
  double per_cpu_second = 0;
  double per_wall_second = 0;
};

// Repeats `step`, which does one unit of work and returns the bytes it processed, at least
// once and until `cpu_seconds` of CPU time have passed on `clocks.cpu_seconds`, or 4x that
// on the wall clock (a starved thread still finishes). Call on the thread doing the work.
Rate measure_rate(const std::function<std::uint64_t()>& step, double cpu_seconds, RateClocks clocks = {});

// A batch body like the library sends: {"events":[row,...]} of about `target_bytes`.
std::string reference_batch(const GeneratorConfig& config, std::size_t target_bytes, std::uint64_t* events,
                            std::uint64_t* spans);

// Measures for about `seconds` in total.
Reference measure_reference(const GeneratorConfig& config, double seconds);

boost::json::object to_json(const Reference& reference);
Reference reference_from_json(const boost::json::value& json);

}  // namespace spanline::load
