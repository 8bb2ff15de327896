#pragma once
// The composition root: the shared state behind Logger and Span (src/logger.cpp) and
// the sidecar's entry points (sidecar/src), the stages wired front to back. Producers
// call submit(); the batcher and sender threads do the rest. With Options::spool_dir
// set, a durable spool sits beside the sender (see sender.hpp).

#include "accounting/accounting.hpp"
#include "accounting/memory_budget.hpp"
#include "batch/batcher.hpp"
#include "batch/encoder.hpp"
#include "batch/settled_events.hpp"
#include "core/prepared_row.hpp"
#include "destinations/destination_table.hpp"
#include "errors/error_reporter.hpp"
#include "metrics/counters.hpp"
#include "produce/row_builder.hpp"
#include "queue/admission.hpp"
#include "queue/backlog.hpp"
#include "queue/producer_gate.hpp"
#include "queue/row_queue.hpp"
#include "spool/spool.hpp"
#include "transport/sender.hpp"

#include <spanline/logger.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace spanline::detail {

class LoggerCore {
 public:
  explicit LoggerCore(Options options);
  ~LoggerCore();
  LoggerCore(const LoggerCore&) = delete;
  LoggerCore& operator=(const LoggerCore&) = delete;

  // Applies the size limit and the overflow policy, then queues the row.
  LogResult submit(Row&& row) noexcept;
  // The same for a row drafted by rows(): admitted first, written after, so every
  // shared atomic of the call comes before the row's text is written (those stores go
  // to cold memory; a fence or locked instruction after them would wait for them all).
  // Throws what writing throws (std::bad_alloc), with nothing admitted.
  LogResult submit(const RowDraft& draft);
  // submit() for a producer that must never wait (sidecar::try_log_prepared): empty when
  // the overflow policy would wait for room, with `row` untouched and nothing counted.
  std::optional<LogResult> try_submit(Row& row) noexcept;
  // sidecar::notify_when_room.
  void notify_when_room(std::function<void()> wake) { budget_.notify_when_room(std::move(wake)); }

  // sidecar::log_durable: the rows, those sharing an id combined, as one spool record
  // (more when over the payload limit), waited on until an fsync covers them.
  DurableResult write_ahead(std::uint32_t destination, std::vector<PreparedRow> rows,
                            std::chrono::milliseconds timeout);

  FlushResult flush(std::chrono::milliseconds timeout);
  FlushResult shutdown(std::chrono::milliseconds timeout);
  Stats stats() const;

  const Options& options() const { return options_; }
  const RowBuilder& rows() const { return row_builder_; }
  DestinationTable& destinations() { return destinations_; }
  ErrorReporter& errors() { return errors_; }
  // Lock-free for every handle seen before (the table's mutex only for a new one).
  bool valid_destination(DestinationHandle handle) const;
  // valid_destination, or std::invalid_argument naming the handle.
  void require_destination(DestinationHandle handle) const;

 private:
  LogResult refuse(DropReason reason, LogResult result) noexcept;
  // The size limit, the budget (overflow policy) and rows_in for a row of `json_size`.
  LogResult admit(std::size_t json_size) noexcept;
  // The payload limit check shared by admit() and try_submit(): false (counted) when over.
  bool within_payload_limit(std::size_t json_size) noexcept;
  // Takes back what admit() took, for a row that never reached the queue.
  void unadmit(std::uint64_t budget_bytes) noexcept;
  LogResult enqueue(Row&& row) noexcept;
  FlushResult totals(bool complete) const;

  const Options options_;
  const RowBuilder row_builder_;
  ErrorReporter errors_;
  DestinationTable destinations_;
  PipelineCounters counters_;
  MemoryBudget budget_;
  Accounting accounting_;
  RowQueue queue_;
  Backlog backlog_;  // the batcher reports it, block and spill producers wait on it
  SettledEvents settled_events_;  // from the sender back to the batcher, to be freed there
  // Null when no spool_dir is set or the directory could not be opened (reported).
  // Declared before the sender, which uses it until it stops.
  std::unique_ptr<Spool> spool_;
  Sender sender_;
  Admission admission_;
  Encoder encoder_;  // between the batcher and the sender
  Batcher batcher_;

  // Producers pass it in submit(); shutdown closes it and waits for those inside, so
  // no row can slip into the queue once the final drain has begun.
  ProducerGate gate_;
  // Every index below this is a registered destination (the table never shrinks).
  mutable std::atomic<std::uint32_t> destinations_known_{0};
  std::mutex shutdown_mutex_;
  std::optional<FlushResult> shutdown_result_;
};

// How the sidecar's entry points (spanline::sidecar, sidecar/src) reach the pipeline
// behind a Logger; Logger names it a friend, so the public header carries no sidecar API.
struct LoggerAccess {
  static LoggerCore& core(Logger& logger) { return *logger.core_; }
};

}  // namespace spanline::detail
