#pragma once
// Row, span and trace ids, and the timestamps rows carry. Ids come from a
// per-thread xoshiro256** generator seeded from std::random_device: no lock and no
// system call on the logging path, and unique across threads and processes.
//
// The write_* functions fill a caller's buffer and return how many characters they
// wrote, so the row builder can size a row exactly before it allocates; the append_*
// functions are the same text appended to a string.

#include <spanline/options.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace spanline::detail {

inline constexpr std::size_t kMaxIdChars = 36;           // a UUID; otel hex ids are 32 or 16
inline constexpr std::size_t kIso8601Chars = 27;         // 2026-11-28T15:20:18.123456Z
inline constexpr std::size_t kMaxUnixSecondsChars = 32;  // any double, shortest form

// A row id or trace (root span) id: UUIDv4, or 32 lowercase hex digits.
std::size_t write_row_id(char* out, IdFormat format);
// A span id: UUIDv4, or 16 lowercase hex digits (OpenTelemetry span id).
std::size_t write_span_id(char* out, IdFormat format);
void append_row_id(std::string& out, IdFormat format);
void append_span_id(std::string& out, IdFormat format);
std::string new_row_id(IdFormat format);
std::string new_span_id(IdFormat format);

// ISO-8601 UTC with microseconds, e.g. 2026-11-28T15:20:18.123456Z (kIso8601Chars).
void write_iso8601(char* out, std::chrono::system_clock::time_point when);
void append_iso8601(std::string& out, std::chrono::system_clock::time_point when);
// Unix seconds with microsecond precision, as Braintrust's metrics.start / metrics.end.
double unix_seconds(std::chrono::system_clock::time_point when);
// unix_seconds(when) as JSON, the very text append_json_number(unix_seconds(when))
// writes (shortest round-trip form), without its cost for present-day times.
std::size_t write_unix_seconds(char* out, std::chrono::system_clock::time_point when);

}  // namespace spanline::detail
