#pragma once
// Rate-limited delivery of ErrorReports to the user's handler (spdlog's err_handler_):
// at most one report per (component, kind) per interval; the ones in between are
// counted and folded into the next report. The handler runs without any lock held.

#include <spanline/logger.hpp>

#include "core/last_time.hpp"

#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace spanline::detail {

class ErrorReporter {
 public:
  explicit ErrorReporter(std::chrono::milliseconds interval = std::chrono::seconds(5));

  void set_handler(ErrorHandler handler);
  // `kind` groups reports for rate limiting, e.g. "http-401". Never pass secrets.
  void report(std::string component, std::string kind, std::string message, int http_status = 0) noexcept;

 private:
  struct Slot {
    LastTime last;
    std::uint64_t suppressed = 0;
  };
  const std::chrono::milliseconds interval_;
  std::mutex mutex_;
  ErrorHandler handler_;
  std::map<std::string, Slot> slots_;
};

}  // namespace spanline::detail
