#include "pipeline/logger_core.hpp"

#include "batch/durable_record.hpp"
#include "spool/row_keys.hpp"

#include <algorithm>
#include <cassert>
#include <stdexcept>
#include <string>
#include <thread>

namespace spanline {
namespace detail {
namespace {

// Unacknowledged spool records past which log_durable compresses what it writes (below).
constexpr std::size_t kDurableBacklogRecords = 256;

// The queue depth beyond which block and spill producers wait for the batcher
// (backlog.hpp): about 40 ms of rows at 200 MB/s, plenty to keep the batcher busy,
// little enough to still be in a cache when it reads them.
std::uint64_t backlog_limit(const Options& options) {
  constexpr std::uint64_t kMaxBacklogBytes = std::uint64_t{8} << 20;
  return std::min<std::uint64_t>(options.max_queue_bytes / 8, kMaxBacklogBytes);
}

BatcherConfig batcher_config(const Options& options) {
  return BatcherConfig{.batch_max_bytes = options.batch_max_bytes,
                       .batch_max_rows = options.batch_max_rows,
                       .linger = options.linger};
}

EncoderConfig encoder_config(const Options& options) {
  return EncoderConfig{.threads = options.encode_threads == 0 ? default_encoder_threads() : options.encode_threads,
                       .zstd_level = options.zstd_level};
}

const Options& validated(const Options& options) {
  validate(options);
  return options;
}

// Opens the spool when one is configured. A directory that cannot be used is reported
// and the logger runs without a spool: spill then behaves like block, and what the
// shutdown deadline leaves is dropped as usual.
std::unique_ptr<Spool> open_spool(const Options& options, ErrorReporter& errors) {
  if (options.spool_dir.empty()) return nullptr;
  SpoolOptions spool_options{
      .directory = options.spool_dir,
      .fsync_interval = options.spool_fsync_interval,
      // log_durable waits for an fsync: let it cost one fsync, not up to an interval.
      .sync_on_wait = true,
      .segment_max_bytes = options.spool_segment_bytes,
      .max_bytes = options.spool_max_bytes,
      .full_policy = options.spool_full_policy,
      .block_timeout = options.block_timeout,
      .on_error = [&errors](const SpoolError& error) { errors.report("spool", "io", error.message); },
      .on_notice = [&errors](std::string_view kind, const std::string& message) {
        errors.report("spool", std::string(kind), message);
      },
  };
  SpoolError error;
  auto spool = Spool::open(spool_options, error);
  if (!spool) {
    errors.report("spool", "open",
                  error.message + "; running without a spool" +
                      (options.overflow == OverflowPolicy::spill ? " (overflow spill behaves like block)" : ""));
  }
  return spool;
}

}  // namespace

LoggerCore::LoggerCore(Options options)
    : options_(validated(options)),
      row_builder_(options_.id_format),
      budget_(options_.max_queue_bytes, options_.max_queue_rows),
      accounting_(counters_, budget_),
      backlog_(backlog_limit(options_)),
      spool_(open_spool(options_, errors_)),
      sender_(options_, destinations_, accounting_, errors_, spool_.get(), &settled_events_),
      admission_(options_.overflow, options_.block_timeout, budget_, queue_, accounting_,
                 spool_ && options_.overflow == OverflowPolicy::spill ? std::function<void()>([this] {
                   sender_.make_room();
                 })
                                                                      : std::function<void()>(),
                 &backlog_),
      encoder_(encoder_config(options_), sender_, accounting_, errors_),
      batcher_(batcher_config(options_), queue_, encoder_, accounting_, errors_, &backlog_, &settled_events_) {
  // Threads start last, once every member they touch exists.
  sender_.start();
  encoder_.start();
  batcher_.start();
}

LoggerCore::~LoggerCore() { (void)shutdown(std::chrono::milliseconds(0)); }

bool LoggerCore::valid_destination(DestinationHandle handle) const {
  // Every log call checks its handle: an atomic load, not the table's mutex (which
  // the sender takes too), once the handle has been seen.
  if (handle.index < destinations_known_.load(std::memory_order_acquire)) return true;
  const auto registered = static_cast<std::uint32_t>(destinations_.size());
  std::uint32_t known = destinations_known_.load(std::memory_order_relaxed);
  while (known < registered && !destinations_known_.compare_exchange_weak(known, registered)) {
  }
  return handle.index < registered;
}

void LoggerCore::require_destination(DestinationHandle handle) const {
  if (!valid_destination(handle))
    throw std::invalid_argument("unknown destination handle " + std::to_string(handle.index) +
                                " (register it with Logger::destination first)");
}

LogResult LoggerCore::refuse(DropReason reason, LogResult result) noexcept {
  counters_.add_dropped(reason, 1);
  counters_.rows_refused.fetch_add(1, std::memory_order_relaxed);
  return result;
}

bool LoggerCore::within_payload_limit(std::size_t json_size) noexcept {
  if (json_size + kEnvelopeBytes <= sender_.payload_limit()) return true;
  errors_.report("logger", "too-large",
                 "row of " + std::to_string(json_size) + " bytes exceeds the payload limit of " +
                     std::to_string(sender_.payload_limit()) + " bytes; dropped");
  return false;
}

LogResult LoggerCore::admit(std::size_t json_size) noexcept {
  if (!within_payload_limit(json_size)) return refuse(DropReason::too_large, LogResult::dropped_too_large);
  if (!admission_.admit(json_size + kRowOverheadBytes))
    return refuse(DropReason::queue_full, LogResult::dropped_queue_full);
  counters_.rows_in.fetch_add(1, std::memory_order_relaxed);
  return LogResult::queued;
}

void LoggerCore::unadmit(std::uint64_t budget_bytes) noexcept {
  counters_.rows_in.fetch_sub(1, std::memory_order_relaxed);
  budget_.release(budget_bytes, 1);
}

LogResult LoggerCore::enqueue(Row&& row) noexcept {
  const std::uint64_t bytes = row.budget_bytes();
  if (!queue_.push(std::move(row))) {
    unadmit(bytes);
    return refuse(DropReason::queue_full, LogResult::dropped_queue_full);
  }
  return LogResult::queued;
}

LogResult LoggerCore::submit(Row&& row) noexcept {
  const ProducerGate::Pass pass = gate_.enter();
  if (!pass) return refuse(DropReason::shutdown, LogResult::dropped_shutdown);
  if (const LogResult admitted = admit(row.json.size()); admitted != LogResult::queued) return admitted;
  return enqueue(std::move(row));
}

std::optional<LogResult> LoggerCore::try_submit(Row& row) noexcept {
  const ProducerGate::Pass pass = gate_.enter();
  if (!pass) return refuse(DropReason::shutdown, LogResult::dropped_shutdown);
  if (!within_payload_limit(row.json.size())) return refuse(DropReason::too_large, LogResult::dropped_too_large);
  switch (admission_.try_admit(row.json.size() + kRowOverheadBytes)) {
    case Admission::Try::admitted:
      counters_.rows_in.fetch_add(1, std::memory_order_relaxed);
      return enqueue(std::move(row));
    case Admission::Try::refused:
      return refuse(DropReason::queue_full, LogResult::dropped_queue_full);
    case Admission::Try::no_room:
      break;
  }
  return std::nullopt;
}

LogResult LoggerCore::submit(const RowDraft& draft) {
  const ProducerGate::Pass pass = gate_.enter();
  if (!pass) return refuse(DropReason::shutdown, LogResult::dropped_shutdown);
  if (const LogResult admitted = admit(draft.json_size()); admitted != LogResult::queued) return admitted;
  Row row;
  try {
    row = draft.write();
  } catch (...) {
    unadmit(draft.budget_bytes());
    throw;
  }
  // The budget took draft.budget_bytes(); settling gives back row.budget_bytes().
  assert(row.json.size() == draft.json_size());
  return enqueue(std::move(row));
}

FlushResult LoggerCore::totals(bool complete) const {
  Stats snapshot;
  counters_.copy_to(snapshot);
  return FlushResult{.complete = complete,
                     .delivered = snapshot.rows_delivered,
                     .rejected = snapshot.rows_rejected,
                     .dropped = snapshot.rows_dropped_total(),
                     .pending = snapshot.pending_rows,
                     .spooled = counters_.rows_spilled.load(std::memory_order_relaxed)};
}

DurableResult LoggerCore::write_ahead(std::uint32_t destination, std::vector<PreparedRow> rows,
                                      std::chrono::milliseconds timeout) {
  using Result = DurableResult;
  if (!spool_) return Result::no_spool;
  if (gate_.closed()) return Result::closed;
  if (rows.empty()) return Result::durable;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string key = destinations_.get(destination).key();
  // Rows in a spool record are accepted rows, settled at once as spooled (replay
  // delivers them), so they count in rows_in like logged rows. Settled first: a flush()
  // that sees them accepted must not wait for a settlement that already happened.
  const auto accept = [this](std::uint64_t count) {
    counters_.rows_spilled.fetch_add(count, std::memory_order_relaxed);
    counters_.rows_settled.fetch_add(count, std::memory_order_seq_cst);
    counters_.rows_in.fetch_add(count, std::memory_order_seq_cst);
  };

  // Rows sharing an id become one event, as a batch would send them (a span's start,
  // log and end rows): fewer bytes to compress, write, fsync and replay. Then one
  // {"events":[...]} body per record, as many events as the payload limit allows.
  std::vector<Batch> records =
      split_to_limit(coalesce_durable_rows(destination, std::move(rows)), sender_.payload_limit());
  // While replay keeps up, records are written as they are: replay sends many of them in
  // one request, compressed together (transport/replay_feeder.hpp), and compressing each
  // here too would cost a compression and a decompression more per row. Once records pile
  // up (the host is down or slow) they are compressed, so the spool holds as many rows as
  // it would otherwise.
  const Compression encoding =
      spool_->order().tracked_records() < kDurableBacklogRecords ? Compression::none : sender_.encoding();
  std::uint64_t last_sequence = 0;
  std::vector<RowKey> keys;
  for (Batch& record : records) {
    const auto count = static_cast<std::uint32_t>(record.source_rows());
    encode_record(record, encoding, options_.zstd_level);
    // Live rows with these ids logged later must not overtake them (spool/replay_order.hpp).
    record_keys(record, keys);
    const SpoolEntry entry{.destination_key = key,
                           .encoding = record.encoding,
                           .source_rows = count,
                           .raw_bytes = static_cast<std::uint32_t>(record.raw_body_bytes),
                           .payload = record.body,
                           .rows = RecordRows{.destination = destination, .keys = keys}};
    const AppendResult appended = spool_->append(entry);
    switch (appended.status) {
      case SpoolStatus::ok:
        last_sequence = appended.sequence;
        accept(count);
        counters_.rows_coalesced.fetch_add(count - record.events.size(), std::memory_order_relaxed);
        continue;
      case SpoolStatus::full:
      case SpoolStatus::too_large:
        errors_.report("spool", "durable-full",
                       "log_durable: the spool in " + spool_->directory().string() + " refused " +
                           std::to_string(count) + " rows (" + std::string(to_string(appended.status)) + ")");
        return Result::spool_full;
      case SpoolStatus::closed:
        return Result::closed;
      case SpoolStatus::io_error:
      case SpoolStatus::timeout:
        errors_.report("spool", "durable-io", "log_durable: " + appended.error.message);
        return Result::io_error;
    }
  }
  switch (spool_->wait_durable(last_sequence, deadline)) {
    case SpoolStatus::ok: return Result::durable;
    case SpoolStatus::timeout: return Result::timeout;
    case SpoolStatus::closed: return Result::closed;
    case SpoolStatus::full:
    case SpoolStatus::too_large: return Result::spool_full;
    case SpoolStatus::io_error: return Result::io_error;
  }
  return Result::io_error;
}

FlushResult LoggerCore::flush(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::uint64_t accepted = counters_.rows_in.load(std::memory_order_seq_cst);
  batcher_.begin_flush();
  queue_.wake();
  const bool complete = accounting_.wait_until_settled(accepted, deadline);
  batcher_.end_flush();
  return totals(complete);
}

FlushResult LoggerCore::shutdown(std::chrono::milliseconds timeout) {
  std::lock_guard lock(shutdown_mutex_);
  if (shutdown_result_) return *shutdown_result_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;

  // A producer that got past the gate is about to push; let it finish so the final
  // drain sees its row, without waiting for the batcher to catch up first.
  backlog_.close();
  gate_.close_and_wait();

  batcher_.begin_flush();  // no lingering: the final drain hands batches over at once
  batcher_.stop();         // drains the queue and hands every open batch to the encoder
  batcher_.end_flush();
  encoder_.stop();         // encodes them all and hands them to the sender
  sender_.shutdown(deadline);  // delivers what it can in time; the rest to the spool, or dropped as shutdown
  budget_.close();
  if (spool_) spool_->close();  // unacknowledged records stay for the next run

  const bool complete = counters_.rows_pending() == 0 && counters_.rows_dropped[static_cast<std::size_t>(
                                                             DropReason::shutdown)] == 0;
  shutdown_result_ = totals(complete);
  return *shutdown_result_;
}

Stats LoggerCore::stats() const {
  Stats snapshot;
  counters_.copy_to(snapshot);
  snapshot.queue_rows = queue_.size_approx();
  snapshot.memory_bytes = budget_.bytes_in_use();
  snapshot.memory_body_bytes = budget_.charged_bytes();
  if (spool_) {
    const SpoolMetrics m = spool_->metrics();
    Stats::Spool& out = snapshot.spool;
    out.enabled = true;
    out.bytes_on_disk = m.bytes_on_disk;
    out.segments_on_disk = m.segments_on_disk;
    out.replay_lag_bytes = m.replay_lag_bytes;
    out.oldest_unacked_age_seconds = static_cast<double>(m.oldest_unacked_age_ms) / 1000.0;
    out.records_written = m.records_written;
    out.rows_spilled = m.rows_written;  // spilled batches and log_durable rows
    out.records_replayed = m.records_replayed;
    out.records_already_acked = m.records_already_acked;
    out.ack_write_errors = m.ack_write_errors;
    out.records_corrupt = m.records_corrupt;
    out.records_truncated = m.records_truncated;
    out.segments_unknown_version = m.segments_unknown_version;
    out.write_errors = m.write_errors + m.fsync_errors;
  }
  return snapshot;
}

}  // namespace detail

}  // namespace spanline
