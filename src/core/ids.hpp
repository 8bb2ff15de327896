#pragma once
// Row, span and trace ids, and the timestamps rows carry. Ids come from a
// per-thread xoshiro256** generator seeded from std::random_device: no lock and no
// system call on the logging path, and unique across threads and processes.

#include <spanline/options.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace spanline::detail {

// A row id or trace (root span) id: UUIDv4, or 32 lowercase hex digits.
void append_row_id(std::string& out, IdFormat format);
// A span id: UUIDv4, or 16 lowercase hex digits (OpenTelemetry span id).
void append_span_id(std::string& out, IdFormat format);
std::string new_row_id(IdFormat format);
std::string new_span_id(IdFormat format);

// ISO-8601 UTC with microseconds, e.g. 2026-11-28T15:20:18.123456Z.
void append_iso8601(std::string& out, std::chrono::system_clock::time_point when);
// Unix seconds with sub-second precision, as Braintrust's metrics.start / metrics.end.
double unix_seconds(std::chrono::system_clock::time_point when);

}  // namespace spanline::detail
