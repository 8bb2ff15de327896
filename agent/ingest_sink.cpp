#include "ingest_sink.hpp"

#include <memory>
#include <mutex>

namespace spanline::agent {

IngestSink::IngestSink(Logger& logger, std::optional<Destination> default_destination,
                       IngestCounters& counters, detail::IngestLimits limits)
    : logger_(logger), counters_(counters), limits_(limits) {
  if (default_destination) default_handle_ = handle_for(*default_destination);
}

detail::EventParser& IngestSink::parser() {
  // One parser per thread, rebuilt if another sink (another daemon in the same process,
  // as in tests) used this thread last.
  struct Slot {
    const IngestSink* owner = nullptr;
    std::unique_ptr<detail::EventParser> parser;
  };
  thread_local Slot slot;
  if (slot.owner != this || !slot.parser) {
    slot.parser = std::make_unique<detail::EventParser>(limits_, logger_.options().id_format);
    slot.owner = this;
  }
  return *slot.parser;
}

DestinationHandle IngestSink::handle_for(const Destination& destination) {
  std::string key = destination.key();
  {
    std::shared_lock lock(handles_mutex_);
    if (auto it = handles_.find(key); it != handles_.end()) return it->second;
  }
  // Registration is idempotent in the logger, so a race here only costs a second call.
  const DestinationHandle handle = logger_.destination(destination);
  std::unique_lock lock(handles_mutex_);
  handles_.emplace(std::move(key), handle);
  return handle;
}

LogResult IngestSink::queue(Listener listener, DestinationHandle to, PreparedRow row) {
  const LogResult result = logger_.log_prepared(to, std::move(row));
  auto& counters = counters_.at(listener);
  if (result == LogResult::queued) {
    counters.events.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters.not_queued.fetch_add(1, std::memory_order_relaxed);
    std::uint64_t suppressed = 0;
    const std::string key = std::string(to_string(listener)) + "/" + std::string(to_string(result));
    if (not_queued_log_.allow(key, suppressed)) {
      std::string message = "valid event not queued: " + std::string(to_string(result));
      if (suppressed > 0) message += " (" + std::to_string(suppressed) + " similar not logged)";
      log_warn(to_string(listener), message);
    }
  }
  return result;
}

void IngestSink::report_invalid(Listener listener, detail::IngestError reason, std::uint64_t offset,
                                std::string_view peer) {
  counters_.count_invalid(listener, reason);
  std::uint64_t suppressed = 0;
  const std::string key = std::string(to_string(listener)) + "/" + std::string(detail::to_string(reason));
  if (!bad_input_log_.allow(key, suppressed)) return;
  std::string message = "bad input from ";
  message += peer;
  message += ": reason=";
  message += detail::to_string(reason);
  message += " offset=";
  message += std::to_string(offset);
  if (suppressed > 0) message += " (" + std::to_string(suppressed) + " similar not logged)";
  log_warn(to_string(listener), message);
}

void IngestSink::submit_line(Listener listener, std::string_view line, std::uint64_t stream_offset,
                             std::string_view peer) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;
  detail::IngestEvent event;
  if (auto failure = parser().parse(line, detail::Routing::strip, event)) {
    report_invalid(listener, failure->reason, stream_offset + failure->offset, peer);
    return;
  }
  DestinationHandle to;
  if (event.destination) {
    to = handle_for(*event.destination);
  } else if (default_handle_) {
    to = *default_handle_;
  } else {
    report_invalid(listener, detail::IngestError::no_destination, stream_offset, peer);
    return;
  }
  (void)queue(listener, to, std::move(event.row));
}

}  // namespace spanline::agent
