#include "log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>

namespace spanline::agent {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::info)};

// journald sets JOURNAL_STREAM for services whose stderr it reads.
bool under_journald() {
  static const bool value = std::getenv("JOURNAL_STREAM") != nullptr;
  return value;
}

std::string_view syslog_prefix(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return "<7>";
    case LogLevel::info:
      return "<6>";
    case LogLevel::warn:
      return "<4>";
    case LogLevel::error:
      return "<3>";
  }
  return "<6>";
}

}  // namespace

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

bool log_enabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void log_line(LogLevel level, std::string_view component, std::string_view message) {
  if (!log_enabled(level)) return;
  std::string line;
  line.reserve(message.size() + component.size() + 16);
  if (under_journald()) line += syslog_prefix(level);
  line += to_string(level);
  line += ' ';
  line += component;
  line += ": ";
  for (char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;  // one event, one line
  line += '\n';
  std::size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + written, line.size() - written);
    if (n <= 0) return;  // nowhere left to report a failing stderr
    written += static_cast<std::size_t>(n);
  }
}

bool LogRateLimiter::allow(const std::string& key, std::uint64_t& suppressed) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  Slot& slot = slots_[key];
  if (!slot.window_start || now - *slot.window_start >= interval_) {
    slot.window_start = now;
    slot.in_window = 0;
  }
  if (slot.in_window < burst_) {
    ++slot.in_window;
    suppressed = slot.suppressed;
    slot.suppressed = 0;
    return true;
  }
  ++slot.suppressed;
  return false;
}

}  // namespace spanline::agent
