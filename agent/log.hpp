#pragma once
// spanlined's log: one line per event on stderr, "<level> <component>: <message>", which
// journald stores as one entry. Under systemd (JOURNAL_STREAM set) each line also starts
// with a "<N>" syslog priority prefix so journald records the level.
//
// Thread safety: every function may be called from any thread; each line is written with a
// single write(2), so lines from different threads never interleave.
// Never pass the API key (or any header carrying it) to these functions.

#include "daemon_config.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace spanline::agent {

void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);
// Writes one line; the component and message go through append_log_text() first.
void log_line(LogLevel level, std::string_view component, std::string_view message);

// Appends `text` as it may appear in a log line: valid UTF-8 that prints is kept as is;
// control characters (line breaks and escape sequences included), C1 controls, Unicode
// line separators and bidirectional overrides, and bytes that are not valid UTF-8 become
// \xHH (a byte) or \u{HHHH} (a character). Log text often carries what a client sent (a
// request target, a socket peer), which must not forge lines or drive a terminal.
void append_log_text(std::string& out, std::string_view text);

inline void log_debug(std::string_view component, std::string_view message) {
  if (log_enabled(LogLevel::debug)) log_line(LogLevel::debug, component, message);
}
inline void log_info(std::string_view component, std::string_view message) {
  log_line(LogLevel::info, component, message);
}
inline void log_warn(std::string_view component, std::string_view message) {
  log_line(LogLevel::warn, component, message);
}
inline void log_error(std::string_view component, std::string_view message) {
  log_line(LogLevel::error, component, message);
}

// Lets a burst of `burst` lines per key through, then one line per `interval` that also
// says how many were suppressed since the last one. Keeps bad input from flooding the log.
class LogRateLimiter {
 public:
  explicit LogRateLimiter(std::size_t burst = 10,
                          std::chrono::milliseconds interval = std::chrono::seconds(10))
      : burst_(burst), interval_(interval) {}

  // Returns true when a line for `key` should be written now; `suppressed` is then the
  // number of lines for that key held back since the previous one.
  bool allow(const std::string& key, std::uint64_t& suppressed);

 private:
  struct Slot {
    // Empty until the first line: steady_clock starts at boot, so no time_point means "never".
    std::optional<std::chrono::steady_clock::time_point> window_start;
    std::size_t in_window = 0;
    std::uint64_t suppressed = 0;
  };
  const std::size_t burst_;
  const std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::map<std::string, Slot> slots_;
};

}  // namespace spanline::agent
