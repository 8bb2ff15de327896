#include "spool/segment_catalog.hpp"

#include "spool/segment_format.hpp"

#include <algorithm>
#include <limits>

namespace spanline::detail {
namespace {

// A drained active segment smaller than segment_max_bytes / this is not closed early.
constexpr std::uint64_t kSmallSegmentFraction = 16;

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

SegmentCatalog::SegmentCatalog(const SpoolOptions& options, ReplayOrder& order)
    : options_(options), order_(order) {}

void SegmentCatalog::set_wake_hook(std::function<void()> wake) {
  std::lock_guard lock(mutex_);
  wake_ = std::move(wake);
}

void SegmentCatalog::wake_if(bool needed) {
  if (!needed) return;
  std::function<void()> wake;
  {
    std::lock_guard lock(mutex_);
    wake = wake_;
  }
  if (wake) wake();
}

void SegmentCatalog::bump_locked() {
  ++version_;
  change_cv_.notify_all();
}

void SegmentCatalog::check_legacy(Segment& segment) {
  if (!segment.legacy) return;
  if (!segment.unreadable && (segment.read_position < segment.readable_end || !segment.outstanding.empty())) return;
  segment.legacy = false;
  legacy_segment_done();
}

void SegmentCatalog::legacy_segment_done() {
  if (legacy_left_ > 0 && --legacy_left_ == 0) order_.set_legacy_pending(false);
}

bool SegmentCatalog::check_deletable(std::uint64_t segment_id, Segment& segment) {
  if (!segment.sealed || segment.unreadable || segment.delete_queued) return false;
  if (segment.read_position < segment.readable_end || !segment.outstanding.empty()) return false;
  segment.delete_queued = true;
  pending_deletions_.emplace_back(segment_id, segment.path);
  return true;
}

bool SegmentCatalog::check_rotation(std::uint64_t segment_id, const Segment& segment) {
  // Closing the active segment early is what lets a drained spool give its space
  // back (and keeps a restart from replaying what was already delivered).
  if (segment.sealed || segment.handed == 0 || !segment.outstanding.empty()) return false;
  if (segment.read_position < segment.readable_end || rotate_request_) return false;
  // Not while it is small: under steady durable ingest replay drains the segment after
  // nearly every commit, and a segment per commit (a new file and its acknowledgements,
  // an fsync of the directory, two deletions) made each commit wait for several fsyncs
  // instead of one. A drained spool keeps at most this much on disk; close() frees it.
  if (segment.file_bytes < options_.segment_max_bytes / kSmallSegmentFraction) return false;
  rotate_request_ = segment_id;
  return true;
}

void SegmentCatalog::add_existing(std::uint64_t segment, std::filesystem::path path, std::uint64_t bytes,
                                  std::int64_t first_unix_ms) {
  std::lock_guard lock(mutex_);
  Segment& s = segments_[segment];
  s.path = std::move(path);
  s.file_bytes = bytes;
  s.readable_end = bytes;
  s.sealed = true;
  s.first_unix_ms = first_unix_ms;
  if (!s.legacy) {
    s.legacy = true;
    if (legacy_left_++ == 0) order_.set_legacy_pending(true);
  }
  disk_bytes_ += bytes;
  bump_locked();
}

std::uint64_t SegmentCatalog::highest_segment() const {
  std::lock_guard lock(mutex_);
  return segments_.empty() ? 0 : segments_.rbegin()->first;
}

SegmentCatalog::Reservation SegmentCatalog::reserve(std::uint64_t bytes, std::uint32_t rows) {
  std::unique_lock lock(mutex_);
  const auto fits = [&] { return closed_ || disk_bytes_ + reserved_bytes_ + bytes <= options_.max_bytes; };
  if (!fits()) {
    bool timed_out = true;
    if (options_.full_policy == SpoolFullPolicy::block) {
      ++block_waits_;
      timed_out = !space_cv_.wait_for(lock, options_.block_timeout, fits);
      if (timed_out) ++block_timeouts_;
    }
    if (timed_out) {
      ++full_drops_;
      rows_full_dropped_ += rows;
      return Reservation::full;
    }
  }
  if (closed_) return Reservation::closed;
  reserved_bytes_ += bytes;
  return Reservation::ok;
}

void SegmentCatalog::release(std::uint64_t bytes) {
  if (bytes == 0) return;
  {
    std::lock_guard lock(mutex_);
    reserved_bytes_ -= std::min(bytes, reserved_bytes_);
  }
  space_cv_.notify_all();
}

void SegmentCatalog::add_active(std::uint64_t segment, std::filesystem::path path,
                                std::uint64_t header_bytes) {
  std::lock_guard lock(mutex_);
  reserved_bytes_ -= std::min(header_bytes, reserved_bytes_);
  disk_bytes_ += header_bytes;
  Segment& s = segments_[segment];
  s.path = std::move(path);
  s.file_bytes = header_bytes;
  s.readable_end = header_bytes;
  bump_locked();
}

void SegmentCatalog::commit_record(std::uint64_t segment, std::uint64_t end, std::uint64_t bytes,
                                   std::int64_t unix_ms, const std::optional<RecordRows>& rows) {
  std::lock_guard lock(mutex_);
  // Before readable_end moves past it: replay must not hand the record out unordered.
  if (rows) order_.add(RecordId{segment, end - bytes}, rows->destination, rows->keys);
  reserved_bytes_ -= std::min(bytes, reserved_bytes_);
  disk_bytes_ += bytes;
  const auto it = segments_.find(segment);
  if (it != segments_.end()) {
    it->second.file_bytes = end;
    it->second.readable_end = end;
    if (it->second.first_unix_ms == 0) it->second.first_unix_ms = unix_ms;
  }
  bump_locked();
}

void SegmentCatalog::seal(std::uint64_t segment, std::uint64_t final_bytes) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    const auto it = segments_.find(segment);
    if (it == segments_.end()) return;
    Segment& s = it->second;
    // After a failed write that could not be undone the file may hold a torn tail.
    disk_bytes_ = disk_bytes_ - s.file_bytes + final_bytes;
    s.file_bytes = final_bytes;
    s.readable_end = final_bytes;
    s.sealed = true;
    if (rotate_request_ == segment) rotate_request_.reset();
    wake = check_deletable(segment, s);
    bump_locked();
  }
  wake_if(wake);
}

std::optional<SegmentCatalog::ReadTarget> SegmentCatalog::next_segment(
    std::optional<std::uint64_t> after) const {
  std::lock_guard lock(mutex_);
  auto it = after ? segments_.upper_bound(*after) : segments_.begin();
  for (; it != segments_.end(); ++it) {
    if (it->second.unreadable) continue;
    return ReadTarget{it->first, it->second.path, it->second.readable_end, it->second.sealed,
                      it->second.legacy};
  }
  return std::nullopt;
}

std::optional<SegmentCatalog::ReadTarget> SegmentCatalog::refresh(std::uint64_t segment) const {
  std::lock_guard lock(mutex_);
  const auto it = segments_.find(segment);
  if (it == segments_.end()) return std::nullopt;
  return ReadTarget{it->first, it->second.path, it->second.readable_end, it->second.sealed,
                    it->second.legacy};
}

void SegmentCatalog::handed(const SpoolRecord& record, bool redelivery) {
  std::lock_guard lock(mutex_);
  ++records_replayed_;
  if (redelivery) ++records_redelivered_;
  const auto it = segments_.find(record.id.segment);
  if (it == segments_.end()) return;
  Segment& s = it->second;
  if (!redelivery) {
    ++s.handed;
    s.outstanding[record.id.offset] = Outstanding{record.written_unix_ms, record.size, record.crc};
    s.read_position = std::max(s.read_position, record.id.offset + record.size);
    s.last_handed_unix_ms = record.written_unix_ms;
    if (s.first_unix_ms == 0) s.first_unix_ms = record.written_unix_ms;
  }
}

void SegmentCatalog::settled_earlier(std::uint64_t segment, std::uint64_t offset, std::uint64_t bytes) {
  std::lock_guard lock(mutex_);
  ++records_already_acked_;
  // Only an earlier run's segments have such records, and replay registers those with
  // the replay order only when it hands them out: nothing to release there.
  const auto it = segments_.find(segment);
  if (it == segments_.end()) return;
  it->second.acked_bytes += bytes;
  it->second.read_position = std::max(it->second.read_position, offset + bytes);
  check_legacy(it->second);
}

void SegmentCatalog::earlier_acks_unreadable(const SpoolError& error) {
  std::lock_guard lock(mutex_);
  ++read_errors_;
  last_read_error_ = error;
}

void SegmentCatalog::skipped(std::uint64_t segment, std::uint64_t offset, std::uint64_t bytes,
                             bool truncated) {
  std::lock_guard lock(mutex_);
  if (truncated) {
    ++records_truncated_;
  } else {
    ++records_corrupt_;
  }
  bytes_skipped_ += bytes;
  order_.settled_range(segment, offset, offset + bytes);
  const auto it = segments_.find(segment);
  if (it == segments_.end()) return;
  it->second.skipped_bytes += bytes;
  it->second.read_position = std::max(it->second.read_position, offset + bytes);
  check_legacy(it->second);
}

void SegmentCatalog::finished_reading(std::uint64_t segment) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    const auto it = segments_.find(segment);
    if (it == segments_.end()) return;
    it->second.read_position = std::max(it->second.read_position, it->second.readable_end);
    check_legacy(it->second);
    wake = check_deletable(segment, it->second);
  }
  wake_if(wake);
}

void SegmentCatalog::caught_up(std::uint64_t segment, std::uint64_t position) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    const auto it = segments_.find(segment);
    if (it == segments_.end()) return;
    it->second.read_position = std::max(it->second.read_position, position);
    wake = check_rotation(segment, it->second);
  }
  wake_if(wake);
}

void SegmentCatalog::unreadable(std::uint64_t segment, const SpoolError& error) {
  std::lock_guard lock(mutex_);
  ++segments_unreadable_;
  if (error) {
    ++read_errors_;
    last_read_error_ = error;
  }
  order_.settled_range(segment, 0, std::numeric_limits<std::uint64_t>::max());
  const auto it = segments_.find(segment);
  if (it == segments_.end()) return;
  it->second.unreadable = true;
  check_legacy(it->second);
}

void SegmentCatalog::unknown_version(std::uint64_t segment) {
  unreadable(segment, {});
  std::filesystem::path path;
  {
    std::lock_guard lock(mutex_);
    ++segments_unknown_version_;
    if (const auto it = segments_.find(segment); it != segments_.end()) path = it->second.path;
  }
  if (options_.on_notice) {
    options_.on_notice("unknown-version", "spool segment " + path.string() +
                                              " has a format version this build cannot read; it is kept on "
                                              "disk, not replayed (a newer spanline may have written it)");
  }
}

std::optional<std::pair<RecordId, SegmentCatalog::ReadTarget>> SegmentCatalog::pop_redelivery() {
  std::lock_guard lock(mutex_);
  while (!redeliveries_.empty()) {
    const RecordId id = redeliveries_.front();
    redeliveries_.pop_front();
    const auto it = segments_.find(id.segment);
    if (it == segments_.end() || !it->second.outstanding.contains(id.offset)) continue;  // acked since
    return std::pair{id, ReadTarget{it->first, it->second.path, it->second.readable_end, it->second.sealed,
                                    it->second.legacy}};
  }
  return std::nullopt;
}

void SegmentCatalog::lost(RecordId id) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    ++records_corrupt_;
    order_.settled(id);
    const auto it = segments_.find(id.segment);
    if (it == segments_.end()) return;
    const auto rec = it->second.outstanding.find(id.offset);
    if (rec == it->second.outstanding.end()) return;
    bytes_skipped_ += rec->second.bytes;
    it->second.skipped_bytes += rec->second.bytes;
    it->second.outstanding.erase(rec);
    check_legacy(it->second);
    wake = check_deletable(id.segment, it->second) || check_rotation(id.segment, it->second);
  }
  wake_if(wake);
}

std::uint64_t SegmentCatalog::version() const {
  std::lock_guard lock(mutex_);
  return version_;
}

bool SegmentCatalog::wait_for_change(std::uint64_t seen,
                                     std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lock(mutex_);
  return change_cv_.wait_until(lock, deadline, [&] { return version_ != seen || closed_; });
}

std::optional<std::uint32_t> SegmentCatalog::outstanding_crc(RecordId id) const {
  std::lock_guard lock(mutex_);
  const auto it = segments_.find(id.segment);
  if (it == segments_.end()) return std::nullopt;
  const auto rec = it->second.outstanding.find(id.offset);
  if (rec == it->second.outstanding.end()) return std::nullopt;
  return rec->second.crc;
}

void SegmentCatalog::ack(RecordId id, bool rejected) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    const auto it = segments_.find(id.segment);
    if (it == segments_.end()) return;
    Segment& s = it->second;
    const auto rec = s.outstanding.find(id.offset);
    if (rec == s.outstanding.end()) return;  // unknown or acknowledged twice
    s.acked_bytes += rec->second.bytes;
    s.outstanding.erase(rec);
    order_.settled(id);
    check_legacy(s);
    if (rejected) {
      ++records_rejected_;
    } else {
      ++records_acked_;
    }
    wake = check_deletable(id.segment, s) || check_rotation(id.segment, s);
  }
  wake_if(wake);
}

void SegmentCatalog::redeliver(RecordId id) {
  std::lock_guard lock(mutex_);
  const auto it = segments_.find(id.segment);
  if (it == segments_.end() || !it->second.outstanding.contains(id.offset)) return;
  redeliveries_.push_back(id);
  bump_locked();
}

SegmentCatalog::Maintenance SegmentCatalog::take_maintenance() {
  std::lock_guard lock(mutex_);
  Maintenance work;
  work.deletions.swap(pending_deletions_);
  work.rotate = rotate_request_;
  return work;
}

void SegmentCatalog::deleted(std::uint64_t segment, bool removed) {
  {
    std::lock_guard lock(mutex_);
    if (!removed) {
      ++delete_errors_;
      return;  // stays on disk and counted; delete_queued keeps it from being retried in a loop
    }
    const auto it = segments_.find(segment);
    if (it == segments_.end()) return;
    if (it->second.legacy) legacy_segment_done();
    disk_bytes_ -= std::min(it->second.file_bytes, disk_bytes_);
    segments_.erase(it);
    ++segments_deleted_;
  }
  space_cv_.notify_all();
}

void SegmentCatalog::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    ++version_;
  }
  space_cv_.notify_all();
  change_cv_.notify_all();
}

SpoolError SegmentCatalog::last_read_error() const {
  std::lock_guard lock(mutex_);
  return last_read_error_;
}

void SegmentCatalog::fill(SpoolMetrics& m) const {
  std::lock_guard lock(mutex_);
  m.bytes_on_disk = disk_bytes_;
  m.segments_on_disk = segments_.size();
  std::uint64_t lag = 0;
  std::uint64_t outstanding = 0;
  std::int64_t oldest = std::numeric_limits<std::int64_t>::max();
  for (const auto& [id, s] : segments_) {
    const std::uint64_t done = kSegmentHeaderBytes + s.acked_bytes + s.skipped_bytes;
    if (s.file_bytes > done) lag += s.file_bytes - done;
    outstanding += s.outstanding.size();
    for (const auto& [offset, rec] : s.outstanding) oldest = std::min(oldest, rec.unix_ms);
    if (s.read_position < s.readable_end && !s.unreadable) {
      // The next unread record is no older than the last one handed from here.
      const std::int64_t next_unread = s.handed > 0 ? s.last_handed_unix_ms : s.first_unix_ms;
      if (next_unread != 0) oldest = std::min(oldest, next_unread);
    }
  }
  m.replay_lag_bytes = lag;
  m.records_outstanding = outstanding;
  m.oldest_unacked_age_ms = oldest == std::numeric_limits<std::int64_t>::max()
                                ? 0
                                : std::max<std::int64_t>(0, now_unix_ms() - oldest);

  m.full_drops = full_drops_;
  m.rows_full_dropped = rows_full_dropped_;
  m.block_waits = block_waits_;
  m.block_timeouts = block_timeouts_;
  m.records_replayed = records_replayed_;
  m.records_redelivered = records_redelivered_;
  m.records_acked = records_acked_;
  m.records_rejected = records_rejected_;
  m.records_already_acked = records_already_acked_;
  m.records_corrupt = records_corrupt_;
  m.records_truncated = records_truncated_;
  m.bytes_skipped = bytes_skipped_;
  m.segments_unreadable = segments_unreadable_;
  m.segments_unknown_version = segments_unknown_version_;
  m.read_errors = read_errors_;
  m.segments_deleted = segments_deleted_;
  m.delete_errors = delete_errors_;
}

}  // namespace spanline::detail
