#pragma once
// Where every listener hands its input: parses one event (a thread-local EventParser),
// picks the destination (routing keys, else the default), queues the row on the Logger and
// counts the outcome. Bad input is counted by listener and reason and reported with a
// rate-limited log line naming the listener, the peer, the reason and the byte offset.
//
// With ingest.ack = "durable" the listeners do not queue rows one by one: they collect a
// request's (or a stream read's) rows in a DurableBatch with prepare_line(), then commit()
// writes them to the spool and waits for the fsync before anything is acknowledged.
//
// Thread safety: all members may be called from any I/O thread at once.

#include "daemon_config.hpp"
#include "durable_ingest.hpp"
#include "ingest/ndjson_parser.hpp"
#include "ingest_counters.hpp"
#include "log.hpp"

#include <spanline/logger.hpp>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace spanline::agent {

class IngestSink {
 public:
  IngestSink(Logger& logger, std::optional<Destination> default_destination, IngestCounters& counters,
             detail::IngestLimits limits, IngestAck ack = IngestAck::none,
             std::chrono::milliseconds ack_timeout = std::chrono::seconds(5));
  IngestSink(const IngestSink&) = delete;
  IngestSink& operator=(const IngestSink&) = delete;

  // One NDJSON line (without its '\n') that starts at `stream_offset` of the client's stream.
  // Blank lines are skipped silently.
  void submit_line(Listener listener, std::string_view line, std::uint64_t stream_offset,
                   std::string_view peer);

  // Durable mode: parses one line like submit_line, but adds a valid row to `batch` instead
  // of queueing it. Returns true when the line was a valid event (invalid ones are counted
  // and reported here; blank lines return false silently).
  bool prepare_line(Listener listener, std::string_view line, std::uint64_t stream_offset,
                    std::string_view peer, DurableBatch& batch);
  // Writes `batch` to the spool and waits for the fsync, within ingest.ack_timeout_ms.
  // Returns durable only when every row is durable; otherwise the first failure (the client
  // resends everything). Every row is counted by outcome. Clears `batch`.
  //
  // Group commit: calls that arrive while another one is writing wait, and the next writer
  // combines all of them (up to batch.max_bytes) into one Logger::log_durable call per
  // destination. That is one spool record, and one upstream request when it is replayed,
  // for many client requests, and one fsync for all of them. Blocks the calling thread for
  // one to two fsyncs.
  Logger::DurableResult commit(Listener listener, DurableBatch& batch);

  bool durable() const { return ack_ == IngestAck::durable; }
  const DurableIngestCounters& durable_counters() const { return durable_counters_; }

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
  // A valid line's destination and row; false (counted and reported) when it has neither.
  bool parse_line(Listener listener, std::string_view line, std::uint64_t stream_offset,
                  std::string_view peer, detail::IngestEvent& event, DestinationHandle& to);
  void warn_not_accepted(Listener listener, std::string_view outcome);

  struct PendingCommit;
  std::vector<PendingCommit*> take_commit_group();  // caller holds commit_mutex_
  void write_commit_group(const std::vector<PendingCommit*>& group);

  const IngestAck ack_;
  const std::chrono::milliseconds ack_timeout_;
  DurableIngestCounters durable_counters_;
  std::mutex commit_mutex_;
  std::condition_variable commit_done_;
  std::vector<PendingCommit*> commit_queue_;  // waiting callers, oldest first
  bool committing_ = false;                   // a caller is writing a group
  LogRateLimiter bad_input_log_;
  LogRateLimiter not_queued_log_;
};

}  // namespace spanline::agent
