#pragma once
// The durable spool: batches that cannot be sent now (outage, memory budget full under
// the spill policy, shutdown deadline) are kept on disk, already encoded, and replayed
// oldest first later. See segment_format.hpp for the file format.
//
// Typical use (the Sender):
//   SpoolError error;
//   auto spool = Spool::open(SpoolOptions{.directory = dir}, error);  // null + message on failure
//   // spilling a batch:
//   AppendResult r = spool->append({.destination_key = dest.key(), .encoding = batch.encoding,
//                                   .source_rows = n, .raw_bytes = raw, .payload = batch.body});
//   if (!r.ok()) ...count the rows as dropped (full / too_large / io_error)...
//   // durable ingest (the daemon): answer 200 only after
//   spool->wait_durable(r.sequence, deadline) == SpoolStatus::ok
//   // replay thread:
//   while (auto rec = spool->next_record()) send(*rec) -> on 2xx spool->ack(rec->id),
//        on a permanent 4xx spool->ack_rejected(rec->id), to try again spool->redeliver(rec->id);
//   spool->wait_for_records(deadline);  // when next_record() returned nullopt
//
// Delivery is at least once: a segment file is deleted only after every record in it
// was acknowledged (ack or ack_rejected); records handed out but not acknowledged when
// the process stops are replayed by the next open() (row ids make that idempotent).
// Acknowledgements are kept on disk too (<segment>.acks, ack_journal.hpp), written before
// ack() returns, so the next open() does not replay a record that was acknowledged before
// the process was killed: its full rows could otherwise replace rows that later merges
// for the same ids had already changed upstream (after a power loss, acknowledgements of
// the last fsync_interval may be missing: see ack_journal.hpp).
// Only one process may open a directory at a time (an flock on <dir>/spool.lock).
//
// Thread safety: append, wait_durable, sync, ack, ack_rejected, redeliver, metrics and
// last_error from any thread; next_record and wait_for_records from one replay thread;
// close from the owner. The object must outlive every caller (the Sender, ingest).

#include "spool/ack_journal.hpp"
#include "spool/replay_order.hpp"
#include "spool/segment_catalog.hpp"
#include "spool/spool_reader.hpp"
#include "spool/spool_types.hpp"
#include "spool/spool_writer.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <vector>

namespace spanline::detail {

class Spool {
 public:
  // Creates the directory when missing, takes its lock, checks that files can be
  // created in it and lists the segments an earlier run left (replayed first). On
  // failure returns nullptr and fills `error` with a message naming the path and the
  // OS error; the caller applies its fallback (no spool). Throws std::invalid_argument
  // for bad options.
  static std::unique_ptr<Spool> open(const SpoolOptions& options, SpoolError& error);

  ~Spool();  // close()
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Writes one record (to the page cache; durable at the next group commit). May
  // block up to block_timeout under SpoolFullPolicy::block.
  AppendResult append(const SpoolEntry& entry) noexcept { return writer_.append(entry); }
  // Waits until an fsync covers the record with this sequence (AppendResult::sequence).
  SpoolStatus wait_durable(std::uint64_t sequence, std::chrono::steady_clock::time_point deadline) noexcept {
    return writer_.wait_durable(sequence, deadline);
  }
  // fsyncs everything appended so far without waiting for the interval (shutdown).
  SpoolStatus sync(std::chrono::steady_clock::time_point deadline) noexcept { return writer_.sync(deadline); }

  // Replay: the next record, oldest first; nullopt when caught up.
  std::optional<SpoolRecord> next_record() noexcept { return reader_.next(); }
  bool wait_for_records(std::chrono::steady_clock::time_point deadline) noexcept {
    return reader_.wait_for_records(deadline);
  }
  // Which live rows must follow spooled ones, and which records must wait for older
  // ones (see replay_order.hpp). Records enter it through SpoolEntry::rows, or (an
  // earlier run's) when next_record() reads them, and leave it when acknowledged,
  // skipped or lost.
  ReplayOrder& order() noexcept { return order_; }

  // Delivered (2xx): the record may go, and is not replayed by a later open(). Unknown
  // or repeated ids are ignored. Writes to the record's .acks file (one pwrite).
  void ack(RecordId id) noexcept { settle(id, false); }
  // Refused for good by the server (counted separately): the record may go as well.
  void ack_rejected(RecordId id) noexcept { settle(id, true); }
  // Not delivered now: next_record() hands it out again (before newer records).
  void redeliver(RecordId id) noexcept { catalog_.redeliver(id); }

  SpoolMetrics metrics() const;
  // The most recent write, fsync, delete or read failure; empty when none.
  SpoolError last_error() const;
  const std::filesystem::path& directory() const noexcept { return options_.directory; }

  // Refuses further appends (blocked ones return closed), closes and fsyncs the active
  // segment and stops the background thread. Unacknowledged records stay on disk for
  // the next open(). Idempotent.
  void close() noexcept;

 private:
  struct Existing {
    std::uint64_t segment;
    std::filesystem::path path;
    std::uint64_t bytes;
    std::int64_t first_unix_ms;
  };
  Spool(const SpoolOptions& options, int directory_fd, int lock_fd, const std::vector<Existing>& existing,
        std::set<std::uint64_t> acknowledged_segments, std::uint64_t first_new_segment);

  void settle(RecordId id, bool rejected) noexcept;

  const SpoolOptions options_;
  const int directory_fd_;
  const int lock_fd_;
  ReplayOrder order_;
  SegmentCatalog catalog_;
  AckJournal journal_;
  SpoolWriter writer_;
  SpoolReader reader_;
};

}  // namespace spanline::detail
