#pragma once
// Appends records to the active segment and makes them durable by group commit.
//
// append() writes the record to the page cache (pwrite, under the writer's mutex, so
// records never interleave) and returns at once with a sequence number. One background
// thread, the flusher, fdatasync()s the active segment at most once per fsync_interval
// while there are new records, and at once when a segment closes (segment_max_bytes
// reached, or closed early after replay acknowledged all of it). wait_durable(seq)
// blocks until an fsync that started after record `seq` was written has finished, so
// one fsync releases every waiter it covers. With SpoolOptions::sync_on_wait a waiter
// does not wait for the interval: the flusher fsyncs as soon as it is free. The flusher also deletes segments
// the catalog says are done (then their acknowledgement files), closes the active
// segment when asked to, and fsyncs acknowledgements (ack_journal.hpp) with the same group
// commit: at most once per fsync_interval while there are new ones (a segment's fsync takes
// them along only when that much time has passed since theirs).
//
// Thread safety: append(), wait_durable(), sync() and wake_maintenance() from any
// thread; start() and close() from the owner. Acks and waiters never wait behind a
// write: they use a separate small mutex (signal_mutex_).

#include "core/last_time.hpp"
#include "spool/ack_journal.hpp"
#include "spool/segment_catalog.hpp"
#include "spool/spool_types.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace spanline::detail {

// Test seam: when set, every spool's flusher calls it right before it fdatasync()s segment
// files, on the flusher thread; it may block, standing in for a slow disk. Null (the
// default) outside tests. Set it before the spool it is meant for starts, and reset it
// (nullptr) once that spool is closed.
using BeforeFsyncHook = void (*)();
void set_before_fsync_hook_for_testing(BeforeFsyncHook hook) noexcept;

class SpoolWriter {
 public:
  // `directory_fd` (an open O_DIRECTORY descriptor, owned by the caller) is fsynced
  // after a segment is created so the new file's name is durable too. `journal`
  // outlives the writer.
  SpoolWriter(const SpoolOptions& options, SegmentCatalog& catalog, AckJournal& journal, int directory_fd,
              std::uint64_t first_segment);
  ~SpoolWriter();  // close()
  SpoolWriter(const SpoolWriter&) = delete;
  SpoolWriter& operator=(const SpoolWriter&) = delete;

  void start();

  AppendResult append(const SpoolEntry& entry) noexcept;
  // ok once an fsync covers `sequence`; timeout at `deadline`; io_error when the fsync
  // covering it failed; closed when the writer closed before it could be covered.
  SpoolStatus wait_durable(std::uint64_t sequence, std::chrono::steady_clock::time_point deadline) noexcept;
  // fsyncs everything appended so far now (not waiting for the interval) and waits.
  SpoolStatus sync(std::chrono::steady_clock::time_point deadline) noexcept;
  // The catalog has deletions or a rotation for the flusher.
  void wake_maintenance() noexcept;
  // The journal has acknowledgements to fsync (or a write failure to report).
  void wake_for_acks() noexcept;

  // Stops taking appends, closes and fsyncs the active segment, finishes pending
  // deletions and joins the flusher. Idempotent.
  void close() noexcept;

  void add_metrics(SpoolMetrics& metrics) const;
  SpoolError last_error() const;

 private:
  struct SegmentFile;

  void run() noexcept;
  void sync_once();       // signal_mutex_ not held; includes sync_acks()
  void sync_acks();       // signal_mutex_ not held
  void do_maintenance();  // signal_mutex_ not held
  // Keeps `error` as the last one and passes it to on_error; no lock held.
  void report(const SpoolError& error);
  // With mutex_ held:
  SpoolError open_segment_locked();
  void rotate_locked();        // closes the active segment; the flusher fsyncs it
  void drop_current_locked();  // closes it without an fsync (after a failure on it)

  const SpoolOptions options_;
  SegmentCatalog& catalog_;
  AckJournal& journal_;
  const int directory_fd_;

  // Appends, the active segment and the files waiting for their closing fsync.
  mutable std::mutex mutex_;
  std::shared_ptr<SegmentFile> current_;
  std::vector<std::shared_ptr<SegmentFile>> pending_seal_;
  std::uint64_t next_segment_;
  std::atomic<std::uint64_t> appended_seq_{0};  // written under mutex_
  bool directory_dirty_ = false;
  bool closed_ = false;
  SpoolError last_error_;

  // What the flusher waits for, and what durability waiters wait for.
  mutable std::mutex signal_mutex_;
  std::condition_variable work_cv_;
  std::condition_variable durable_cv_;
  bool dirty_ = false;         // records written since the last fsync started
  bool acks_dirty_ = false;    // acknowledgements written since then
  bool seal_pending_ = false;  // pending_seal_ is not empty
  bool maintenance_ = false;
  bool sync_requested_ = false;
  bool stop_ = false;
  bool stopped_ = false;
  std::uint64_t durable_seq_ = 0;
  std::uint64_t max_waited_seq_ = 0;  // highest sequence a sync_on_wait waiter asked for
  std::uint64_t failed_after_ = 0;    // the last failed fsync covered (failed_after_, failed_through_]
  std::uint64_t failed_through_ = 0;
  LastTime last_sync_;      // of the segments
  LastTime last_ack_sync_;  // of the acknowledgements

  std::atomic<std::uint64_t> records_written_{0};
  std::atomic<std::uint64_t> bytes_written_{0};
  std::atomic<std::uint64_t> rows_written_{0};
  std::atomic<std::uint64_t> fsyncs_{0};
  std::atomic<std::uint64_t> segments_created_{0};
  std::atomic<std::uint64_t> too_large_{0};
  std::atomic<std::uint64_t> write_errors_{0};
  std::atomic<std::uint64_t> fsync_errors_{0};

  std::thread flusher_;  // started last
};

}  // namespace spanline::detail
