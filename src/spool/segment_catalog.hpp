#pragma once
// The spool's shared bookkeeping: which segments exist, how many bytes they and
// pending appends take, how far replay has read each one, and which of the records
// it handed out are still unacknowledged. Decides when a segment may be deleted
// (sealed, read to its end, every handed record acknowledged) and when the writer's
// active segment should be closed early so that a drained spool frees its space.
//
// Thread-safe. No file I/O happens here; the caller does it and reports the outcome.
// The wake hook (set once before use) is called with no lock held whenever there is
// maintenance work (deletions, a rotation) for the writer's background thread.

#include "spool/replay_order.hpp"
#include "spool/spool_types.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace spanline::detail {

class SegmentCatalog {
 public:
  // `order` (outlives the catalog) hears of every record that becomes readable and of
  // every record that is settled: acknowledged, skipped as damaged, or lost.
  SegmentCatalog(const SpoolOptions& options, ReplayOrder& order);

  void set_wake_hook(std::function<void()> wake);

  // --- opening: a segment an earlier run left (sealed; replayed from its start)
  void add_existing(std::uint64_t segment, std::filesystem::path path, std::uint64_t bytes,
                    std::int64_t first_unix_ms);
  std::uint64_t highest_segment() const;

  // --- writer
  enum class Reservation { ok, full, closed };
  // Reserves room for `bytes` under max_bytes, applying the full policy (waits under
  // `block`). Counts full drops with their rows.
  Reservation reserve(std::uint64_t bytes, std::uint32_t rows);
  void release(std::uint64_t bytes);
  // A new active segment whose header (taken from a reservation) is on disk.
  void add_active(std::uint64_t segment, std::filesystem::path path, std::uint64_t header_bytes);
  // A record ends at `end`; its `bytes` move from reserved to on disk. Its `rows` (when
  // known) go to the replay order before replay can see the record.
  void commit_record(std::uint64_t segment, std::uint64_t end, std::uint64_t bytes, std::int64_t unix_ms,
                     const std::optional<RecordRows>& rows = std::nullopt);
  // The writer will not append to `segment` again; `final_bytes` is its size on disk.
  void seal(std::uint64_t segment, std::uint64_t final_bytes);

  // --- replay (one thread)
  struct ReadTarget {
    std::uint64_t segment = 0;
    std::filesystem::path path;
    std::uint64_t readable_end = 0;
    bool sealed = false;
    bool earlier_run = false;  // left by an earlier run: replay registers its records' rows
  };
  // The oldest readable segment after `after` (or the oldest of all).
  std::optional<ReadTarget> next_segment(std::optional<std::uint64_t> after) const;
  // Current limits of `segment`; nullopt once it is gone.
  std::optional<ReadTarget> refresh(std::uint64_t segment) const;
  void handed(const SpoolRecord& record, bool redelivery);
  // Replay passed over the record at [offset, offset + bytes) without handing it out: an
  // earlier run had acknowledged it (ack_journal.hpp). Counts as acknowledged.
  void settled_earlier(std::uint64_t segment, std::uint64_t offset, std::uint64_t bytes);
  // The acknowledgements of an earlier run could not be read: counted as a read error;
  // the segment's records are all replayed.
  void earlier_acks_unreadable(const SpoolError& error);
  void skipped(std::uint64_t segment, std::uint64_t offset, std::uint64_t bytes, bool truncated);
  void finished_reading(std::uint64_t segment);
  // Replay reached `position`, the end of what the active segment holds so far.
  void caught_up(std::uint64_t segment, std::uint64_t position);
  // The segment cannot be read (unknown version, read error): skipped and left on disk.
  void unreadable(std::uint64_t segment, const SpoolError& error);
  // As unreadable(), for a segment written in a format version this build does not know
  // (a newer spanline's): counted apart and reported through on_notice once. The file
  // stays where it is, so the version that wrote it can still replay it.
  void unknown_version(std::uint64_t segment);
  // A record asked for again by redeliver(); the caller reads it anew.
  std::optional<std::pair<RecordId, ReadTarget>> pop_redelivery();
  // A redelivered record could not be read back: it is dropped from the books (counted corrupt).
  void lost(RecordId id);
  std::uint64_t version() const;
  // Waits until version() differs from `seen` (new data, a redelivery, a close).
  bool wait_for_change(std::uint64_t seen, std::chrono::steady_clock::time_point deadline) const;

  // --- acknowledgements (any thread)
  // The header CRC of a record handed out and not yet acknowledged; nullopt for any
  // other id (unknown, or acknowledged already). What the caller writes to the ack
  // journal before it calls ack().
  std::optional<std::uint32_t> outstanding_crc(RecordId id) const;
  void ack(RecordId id, bool rejected);
  void redeliver(RecordId id);

  // --- maintenance (the writer's background thread)
  struct Maintenance {
    std::vector<std::pair<std::uint64_t, std::filesystem::path>> deletions;
    std::optional<std::uint64_t> rotate;  // the active segment, fully acknowledged
  };
  Maintenance take_maintenance();
  void deleted(std::uint64_t segment, bool removed);

  void close();
  void fill(SpoolMetrics& metrics) const;
  SpoolError last_read_error() const;

 private:
  struct Outstanding {
    std::int64_t unix_ms = 0;
    std::uint64_t bytes = 0;
    std::uint32_t crc = 0;
  };
  struct Segment {
    std::filesystem::path path;
    std::uint64_t file_bytes = 0;
    std::uint64_t readable_end = 0;
    std::uint64_t read_position = 0;  // replay has handed or skipped everything below
    bool sealed = false;
    bool fully_read = false;
    bool unreadable = false;
    bool delete_queued = false;
    bool legacy = false;  // left by an earlier run, not yet done (check_legacy)
    std::uint64_t handed = 0;
    std::uint64_t acked_bytes = 0;
    std::uint64_t skipped_bytes = 0;
    std::int64_t first_unix_ms = 0;  // 0: no record known
    std::int64_t last_handed_unix_ms = 0;
    std::unordered_map<std::uint64_t, Outstanding> outstanding;  // by offset
  };

  // An earlier run's segment is done for the replay order once replay read it to its
  // end and every record it handed out was settled (or it cannot be read, or is gone).
  // Lifts the order's legacy barrier when the last one is. Call with mutex_ held.
  void check_legacy(Segment& segment);
  void legacy_segment_done();

  // Each returns true when the background thread has work; call with mutex_ held.
  bool check_deletable(std::uint64_t segment_id, Segment& segment);
  bool check_rotation(std::uint64_t segment_id, const Segment& segment);
  void bump_locked();
  void wake_if(bool needed);

  const SpoolOptions options_;
  ReplayOrder& order_;
  std::function<void()> wake_;

  mutable std::mutex mutex_;
  mutable std::condition_variable space_cv_;
  mutable std::condition_variable change_cv_;
  std::map<std::uint64_t, Segment> segments_;
  std::uint64_t disk_bytes_ = 0;
  std::uint64_t reserved_bytes_ = 0;
  std::uint64_t version_ = 0;
  bool closed_ = false;
  std::deque<RecordId> redeliveries_;
  std::vector<std::pair<std::uint64_t, std::filesystem::path>> pending_deletions_;
  std::optional<std::uint64_t> rotate_request_;
  std::uint64_t legacy_left_ = 0;  // earlier-run segments not yet done
  SpoolError last_read_error_;

  // counters (under mutex_)
  std::uint64_t full_drops_ = 0;
  std::uint64_t rows_full_dropped_ = 0;
  std::uint64_t block_waits_ = 0;
  std::uint64_t block_timeouts_ = 0;
  std::uint64_t records_replayed_ = 0;
  std::uint64_t records_redelivered_ = 0;
  std::uint64_t records_acked_ = 0;
  std::uint64_t records_rejected_ = 0;
  std::uint64_t records_already_acked_ = 0;
  std::uint64_t records_corrupt_ = 0;
  std::uint64_t records_truncated_ = 0;
  std::uint64_t bytes_skipped_ = 0;
  std::uint64_t segments_unreadable_ = 0;
  std::uint64_t segments_unknown_version_ = 0;
  std::uint64_t read_errors_ = 0;
  std::uint64_t segments_deleted_ = 0;
  std::uint64_t delete_errors_ = 0;
};

}  // namespace spanline::detail
