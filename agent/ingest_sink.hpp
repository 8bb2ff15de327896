#pragma once
// Where every listener hands its input: parses one event (a thread-local EventParser),
// picks the destination (routing keys, else the default), queues the row on the Logger and
// counts the outcome. Bad input is counted by listener and reason and reported with a
// rate-limited log line naming the listener, the peer, the reason and the byte offset.
//
// With ingest.ack = "durable" the listeners do not queue rows one by one: they collect a
// request's (or a stream read's) rows in a DurableBatch with prepare_line(), then
// commit_async() hands them to the sink's committer thread, which writes them to the spool,
// waits for the fsync and posts the result back to the connection. No I/O thread waits for
// a disk: one I/O thread serves any number of connections waiting for their fsync.
//
// Otherwise rows are offered with try_queue(), which never waits for the memory budget; a
// caller whose row finds no room holds it and is resumed through wait_for_room() (streams),
// or lets queue_rows() wait asynchronously (HTTP). See docs/backpressure.md.
//
// Thread safety: all members may be called from any I/O thread at once.

#include "daemon_config.hpp"
#include "durable_ingest.hpp"
#include "ingest/ndjson_parser.hpp"
#include "ingest_counters.hpp"
#include "log.hpp"

#include <spanline/sidecar/logger.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace spanline::agent {

struct SinkLink;  // lets an I/O context that is going away close the sink (ingest_sink.cpp)

class IngestSink {
 public:
  IngestSink(Logger& logger, std::optional<Destination> default_destination, IngestCounters& counters,
             detail::IngestLimits limits, IngestAck ack = IngestAck::none,
             std::chrono::milliseconds ack_timeout = std::chrono::seconds(5));
  IngestSink(const IngestSink&) = delete;
  IngestSink& operator=(const IngestSink&) = delete;

  // One NDJSON line (without its '\n') that starts at `stream_offset` of the client's stream.
  // Blank lines are skipped silently. `readable`: how many bytes from line.data() may be
  // read (see EventParser::parse_row); a line inside a read buffer with that much room
  // after it is parsed without a copy. 0 when unknown. Queues with queue(), which may wait
  // for room: I/O threads use parse_line() and try_queue() instead (the benchmarks use this).
  void submit_line(Listener listener, std::string_view line, std::uint64_t stream_offset,
                   std::string_view peer, std::size_t readable = 0);

  // Durable mode: parses one line like submit_line, but adds a valid row to `batch` instead
  // of queueing it. Returns true when the line was a valid event (invalid ones are counted
  // and reported here; blank lines return false silently).
  bool prepare_line(Listener listener, std::string_view line, std::uint64_t stream_offset,
                    std::string_view peer, DurableBatch& batch, std::size_t readable = 0);
  // Runs once, on the executor given to commit_async, with the commit's result.
  using DurableDone = std::function<void(DurableResult)>;
  // Queues `batch` for the spool and returns at once. When it is settled, `done` is posted
  // to `executor` (the connection's strand) with durable only when every row is fsynced
  // within ingest.ack_timeout_ms of this call; otherwise the first failure (the client
  // resends everything). Every row is counted by outcome. An empty batch is durable. (The
  // deadline bounds the wait for the fsync; a spool append that waits for room under
  // spool.full_policy = "block" waits up to queue.block_timeout_ms first.)
  //
  // Group commit: batches queued while the committers are busy wait, and the next free one
  // combines all of them (up to batch.max_bytes) into one sidecar::log_durable call per
  // destination. That is one spool record, and one upstream request when it is replayed,
  // for many client requests, and one fsync for all of them. Memory: a connection has at
  // most one batch queued (it reads nothing more until answered), so the queue is bounded
  // by ingest.max_connections times the request or read size.
  void commit_async(Listener listener, DurableBatch batch, boost::asio::any_io_executor executor,
                    DurableDone done);
  // Settles every queued batch as closed, waits for the round being written (bounded by
  // ingest.ack_timeout_ms, at once after the logger's shutdown) and stops the committers;
  // later batches are answered closed at once. Idempotent. Also runs when an I/O context
  // that results are posted to is destroyed, so nothing is posted to a dead context.
  void close();
  ~IngestSink();

  bool durable() const { return ack_ == IngestAck::durable; }
  const DurableIngestCounters& durable_counters() const { return durable_counters_; }

  // Counts and reports input refused before or during parsing.
  void report_invalid(Listener listener, detail::IngestError reason, std::uint64_t offset,
                      std::string_view peer);

  // The handle of destination.* (rows that name no destination go there); empty when unset.
  std::optional<DestinationHandle> default_handle() const { return default_handle_; }
  // Registers (once) and returns the logger handle for `destination`.
  DestinationHandle handle_for(const Destination& destination);
  // Queues a valid row; counts it as queued or not queued. May wait for room under the
  // block and spill policies: not for I/O threads, which use try_queue.
  LogResult queue(Listener listener, DestinationHandle to, PreparedRow row);

  // ---- admission without waiting (see sidecar::try_log_prepared) ----
  // Offers a valid row. Empty when the memory budget has no room now (block and spill
  // policies): `row` is left as it was and nothing is counted; the caller holds it, stops
  // taking input, and offers it again once wait_for_room() resumes it. Otherwise the row
  // was taken and counted as queued or not queued.
  std::optional<LogResult> try_queue(Listener listener, DestinationHandle to, PreparedRow& row);
  // Posts `resume` to `executor` once room may have been freed (wakes can be spurious), or
  // drops it unrun when the sink closes. Room freed between a refused try_queue and this
  // call is seen by offering once more after it: a caller registers, tries again, and
  // parks only if that fails too. Any number of callers may wait; one logger notice wakes
  // them all.
  void wait_for_room(const boost::asio::any_io_executor& executor, std::function<void()> resume);
  // The daemon is stopping: requests waiting in queue_rows() are answered at once (their
  // rest not queued, stopped_by dropped_shutdown) and no new waiter is registered.
  void stop_waiting();
  // Counts valid rows that were never offered to the logger (a parked connection that was
  // closed, a datagram that found no room) as not queued, with a rate-limited warning.
  void count_not_queued(Listener listener, std::size_t rows, std::string_view why);

  // What became of a request's rows offered with queue_rows().
  struct QueueOutcome {
    std::size_t total = 0;
    std::size_t queued = 0;
    std::size_t too_large = 0;  // dropped for good (over the API's payload limit)
    // Set when the logger refused a row (budget full under a drop policy, shutting down,
    // or no room within the wait): that row and the ones after it were not queued.
    std::optional<LogResult> stopped_by;
  };
  using QueueDone = std::function<void(const QueueOutcome&)>;
  // A row and its destination (a /logs3 request's rows may name several).
  struct RoutedRow {
    DestinationHandle to;
    PreparedRow row;
  };
  // Offers `rows` in order without blocking. Returns the outcome when every row was settled
  // at once. Otherwise returns empty and keeps offering the rest as room frees up, for at
  // most `wait`; then `done` runs on `executor` (a deadline that passes gives stopped_by =
  // dropped_queue_full). Rows not offered are counted as not queued.
  std::optional<QueueOutcome> queue_rows(Listener listener, std::vector<RoutedRow> rows,
                                         const boost::asio::any_io_executor& executor,
                                         std::chrono::milliseconds wait, QueueDone done);

  // This thread's parser (reused across calls: simdjson keeps its buffers).
  detail::EventParser& parser();
  // A valid line's destination and row; false (counted and reported) when it has neither
  // (blank lines return false silently).
  bool parse_line(Listener listener, std::string_view line, std::uint64_t stream_offset,
                  std::string_view peer, std::size_t readable, PreparedRow& row, DestinationHandle& to);

  IngestCounters& counters() { return counters_; }
  Logger& logger() { return logger_; }

 private:
  Logger& logger_;
  IngestCounters& counters_;
  const detail::IngestLimits limits_;
  std::optional<DestinationHandle> default_handle_;
  std::shared_mutex handles_mutex_;
  std::unordered_map<std::string, DestinationHandle> handles_;
  // Tells this sink's per-thread state from a destroyed sink's that had the same address.
  const std::uint64_t instance_;
  struct ThreadState;
  ThreadState& thread_state();
  // The handle for a routing key, from this thread's last one when it is the same: clients
  // send a connection's events to one place, so most lines skip building a Destination.
  DestinationHandle handle_for(const detail::Route& route, ThreadState& state);
  void warn_not_accepted(Listener listener, std::string_view outcome);

  struct PendingCommit;
  using Group = std::vector<std::unique_ptr<PendingCommit>>;
  void run_committer();
  Group take_commit_group();  // caller holds commit_mutex_
  void write_commit_group(Group& group);
  // Counts `member`'s rows under its result and posts its `done`.
  void settle(PendingCommit& member, std::size_t durable_rows, std::size_t failed_rows);
  void watch_context(const boost::asio::any_io_executor& executor);
  // The logger's notice that room may be free: resumes every waiter.
  void on_room();
  struct RowsOffer;

  struct RoomWaiter {
    boost::asio::any_io_executor executor;
    std::function<void()> resume;
  };
  std::mutex room_mutex_;
  std::vector<RoomWaiter> room_waiters_;
  bool room_notice_armed_ = false;  // a sidecar::notify_when_room for this sink is pending
  bool room_closed_ = false;
  std::atomic<bool> stopping_{false};  // stop_waiting() was called

  const IngestAck ack_;
  const std::chrono::milliseconds ack_timeout_;
  DurableIngestCounters durable_counters_;
  std::mutex commit_mutex_;
  std::condition_variable commit_ready_;
  std::deque<std::unique_ptr<PendingCommit>> commit_queue_;  // oldest first
  bool closing_ = false;
  std::vector<const void*> watched_contexts_;  // I/O contexts told to close this sink
  // Two committers pipeline the group commit: while one waits for its group's fsync, the
  // other encodes and appends the next group, so the spool's flusher starts the next fsync
  // as soon as the last one ends instead of idling while a group is prepared.
  static constexpr std::size_t kCommitters = 2;
  std::mutex join_mutex_;
  std::vector<std::thread> committers_;  // started on the first commit
  std::shared_ptr<SinkLink> link_;
  LogRateLimiter bad_input_log_;
  LogRateLimiter not_queued_log_;
};

}  // namespace spanline::agent
