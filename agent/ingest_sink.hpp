#pragma once
// Where every listener hands its input: parses one event (a thread-local EventParser),
// picks the destination (routing keys, else the default), queues the row on the Logger and
// counts the outcome. Bad input is counted by listener and reason and reported with a
// rate-limited log line naming the listener, the peer, the reason and the byte offset.
//
// Thread safety: all members may be called from any I/O thread at once.

#include "daemon_config.hpp"
#include "ingest/ndjson_parser.hpp"
#include "ingest_counters.hpp"
#include "log.hpp"

#include <spanline/logger.hpp>

#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace spanline::agent {

class IngestSink {
 public:
  IngestSink(Logger& logger, std::optional<Destination> default_destination, IngestCounters& counters,
             detail::IngestLimits limits);
  IngestSink(const IngestSink&) = delete;
  IngestSink& operator=(const IngestSink&) = delete;

  // One NDJSON line (without its '\n') that starts at `stream_offset` of the client's stream.
  // Blank lines are skipped silently.
  void submit_line(Listener listener, std::string_view line, std::uint64_t stream_offset,
                   std::string_view peer);

  // Counts and reports input refused before or during parsing.
  void report_invalid(Listener listener, detail::IngestError reason, std::uint64_t offset,
                      std::string_view peer);

  // Registers (once) and returns the logger handle for `destination`.
  DestinationHandle handle_for(const Destination& destination);
  // Queues a valid row; counts it as queued or not queued.
  LogResult queue(Listener listener, DestinationHandle to, PreparedRow row);

  // This thread's parser (reused across calls: simdjson keeps its buffers).
  detail::EventParser& parser();

  IngestCounters& counters() { return counters_; }
  Logger& logger() { return logger_; }

 private:
  Logger& logger_;
  IngestCounters& counters_;
  const detail::IngestLimits limits_;
  std::optional<DestinationHandle> default_handle_;
  std::shared_mutex handles_mutex_;
  std::unordered_map<std::string, DestinationHandle> handles_;
  LogRateLimiter bad_input_log_;
  LogRateLimiter not_queued_log_;
};

}  // namespace spanline::agent
