#pragma once
// The physical reference a throughput is compared against, measured on the same
// machine in the same run: zstd level-1 compression speed on a batch body made of
// the generator's rows, and memcpy bandwidth.

#include "generator.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <string>

namespace spanline::load {

struct Reference {
  std::uint64_t batch_bytes = 0;  // the {"events":[...]} body compressed
  std::uint64_t batch_events = 0;
  double bytes_per_span = 0;      // average rendered bytes of one span's rows
  double zstd1_bytes_per_s = 0;   // input bytes compressed per second, one thread
  double zstd1_ratio = 0;         // raw / compressed
  double memcpy_bytes_per_s = 0;  // one thread, 64 MiB buffers (out of cache)
  double seconds = 0;             // time spent measuring
};

// A batch body like the library sends: {"events":[row,...]} of about `target_bytes`.
std::string reference_batch(const GeneratorConfig& config, std::size_t target_bytes, std::uint64_t* events,
                            std::uint64_t* spans);

// Measures for about `seconds` in total.
Reference measure_reference(const GeneratorConfig& config, double seconds);

boost::json::object to_json(const Reference& reference);
Reference reference_from_json(const boost::json::value& json);

}  // namespace spanline::load
