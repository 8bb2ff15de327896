#include "errors/error_reporter.hpp"

#include <cstdio>

namespace spanline::detail {
namespace {

void print_to_stderr(const ErrorReport& report) {
  std::string line = "spanline: error [" + report.component + "] " + report.message;
  if (report.suppressed > 0) line += " (" + std::to_string(report.suppressed) + " similar suppressed)";
  line += '\n';
  std::fputs(line.c_str(), stderr);
}

}  // namespace

ErrorReporter::ErrorReporter(std::chrono::milliseconds interval) : interval_(interval), handler_(print_to_stderr) {}

void ErrorReporter::set_handler(ErrorHandler handler) {
  std::lock_guard lock(mutex_);
  handler_ = handler ? std::move(handler) : ErrorHandler(print_to_stderr);
}

void ErrorReporter::report(std::string component, std::string kind, std::string message, int http_status) noexcept {
  try {
    ErrorReport report{.component = std::move(component), .message = std::move(message), .http_status = http_status,
                       .suppressed = 0};
    ErrorHandler handler;
    {
      std::lock_guard lock(mutex_);
      Slot& slot = slots_[report.component + '/' + kind];
      const auto now = std::chrono::steady_clock::now();
      if (!slot.last.passed(now, interval_)) {
        ++slot.suppressed;
        return;
      }
      slot.last.mark(now);
      report.suppressed = slot.suppressed;
      slot.suppressed = 0;
      handler = handler_;
    }
    handler(report);  // outside the lock: the handler may log, block briefly, or call back in
  } catch (...) {
    // A failing handler must not take down a pipeline thread; there is nowhere left to report to.
  }
}

}  // namespace spanline::detail
