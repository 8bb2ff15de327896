#pragma once
// Acknowledgements that outlive the process: which records of a segment were settled
// (delivered, refused for good, or lost), so that the next open() does not replay them.
//
// Why: once a record is settled, the replay order releases its row ids and later rows of
// those ids (a span's end row, `_is_merge: true`) go upstream live. If the process then
// dies while the record's segment is still on disk (other records in it unsettled), a
// replay of the record would send its full row again after the merge, and the server
// would replace the merged row: the merge would be lost. So an acknowledgement is
// written here before the catalog settles the record, and replay skips what is here.
//
// Format: one file per segment, `<dir>/<segment's 20 digits>.acks` next to
// `<...>.spool`. All integers are little-endian.
//   header, 16 bytes
//     0   8  magic "SPLACKS\0"
//     8   4  u32 format version (kAckFormatVersion)
//     12  4  u32 reserved, 0
//   then entries back to back at 16-byte boundaries, each:
//     0   8  u64 offset of the settled record in its segment
//     8   4  u32 the record's CRC32C as stored in its header: an entry only matches the
//               record it was written for, never other bytes at the same offset
//     12  4  u32 CRC32C over bytes 0..12 of the entry
// An entry whose CRC does not match (a torn or damaged write) is ignored, as is a partial
// entry at the end and the whole file when its header is wrong: the record is then
// replayed once more, a duplicate, which is what happened before acknowledgements were
// kept. New entries go at the first 16-byte boundary past the whole entries, so a torn
// tail is overwritten rather than shifting everything after it.
//
// Durability: record() writes with pwrite(2) before it returns, so the entry is in the
// page cache and survives the process being killed (kill -9, OOM, abort). It reaches the
// disk at the next sync(), which the spool's flusher runs with its group commit (at most
// fsync_interval later). A power loss (or kernel crash) inside that window can lose the
// entry: the record is then replayed after the restart, and if it held a full row whose
// later merge rows were sent live inside the same window, that merge is lost. Closing the
// window would mean holding every record's ids until its acknowledgement is fsynced.
//
// Lifetime of a file: created at the first acknowledgement of a segment in this run
// (truncating anything left under that name, since a segment created by this run has
// no earlier acknowledgements), deleted right after its segment. Spool::open() removes
// files whose segment is gone (a crash between the two deletions) and numbers new
// segments past every file of either kind.
//
// Thread safety: every member from any thread. No other lock is taken while the journal
// holds its own; the wake hook is called with no lock held.

#include "spool/spool_types.hpp"

#include <compare>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace spanline::detail {

inline constexpr std::string_view kAckMagic{"SPLACKS\0", 8};
inline constexpr std::uint32_t kAckFormatVersion = 1;
inline constexpr std::size_t kAckHeaderBytes = 16;
inline constexpr std::size_t kAckEntryBytes = 16;

// "<dir>/00000000000000000042.acks"
std::filesystem::path ack_path(const std::filesystem::path& dir, std::uint64_t segment);
// The segment of an acknowledgement file name, or nullopt for any other file.
std::optional<std::uint64_t> parse_ack_name(std::string_view file_name) noexcept;

// One settled record, as stored.
struct AckEntry {
  std::uint64_t offset = 0;
  std::uint32_t record_crc = 0;
  // By offset, then CRC: how parse_acks() sorts them.
  friend auto operator<=>(const AckEntry&, const AckEntry&) = default;
};
std::string encode_ack_header();
void encode_ack_entry(const AckEntry& entry, char (&out)[kAckEntryBytes]) noexcept;
// Parses the contents of an acknowledgement file: its valid entries sorted by offset,
// and how many entry slots (whole or partial) were ignored as damaged. A bad header
// makes the whole file ignored (no entries).
struct ParsedAcks {
  std::vector<AckEntry> entries;
  std::uint64_t ignored = 0;
  bool header_ok = false;
};
ParsedAcks parse_acks(std::string_view file_bytes);

class AckJournal {
 public:
  // `directory_fd` (owned by the caller, outlives the journal) is fsynced by sync()
  // after files were created. `earlier`: segments that have an acknowledgement file left
  // by an earlier run (read by earlier_acks(), appended to, never truncated).
  AckJournal(std::filesystem::path directory, int directory_fd, std::set<std::uint64_t> earlier);
  ~AckJournal();  // fdatasyncs what is dirty, closes the files
  AckJournal(const AckJournal&) = delete;
  AckJournal& operator=(const AckJournal&) = delete;

  // Called (no lock held) when a write makes the journal dirty after a sync, and after a
  // failed write: the flusher should run sync() at its next group commit. Set once,
  // before use.
  void set_wake_hook(std::function<void()> wake);

  // The records an earlier run settled in `segment`, sorted by offset; empty when there
  // is no file or it cannot be used. A read failure comes back in `error` (the records
  // are then replayed). Call before any record of the segment can be acknowledged.
  std::vector<AckEntry> earlier_acks(std::uint64_t segment, SpoolError& error) noexcept;

  // Appends the acknowledgement of the record `id` (whose header CRC is `record_crc`).
  // Returns false when it could not be written; the error is kept for the next sync().
  bool record(RecordId id, std::uint32_t record_crc) noexcept;

  // fdatasyncs every file written since the last call (and the directory after files
  // were created). Returns the first failure, including a write failure of record()
  // since the last call; empty when none. Meant for the flusher thread.
  SpoolError sync() noexcept;
  // True when record() wrote or failed since the last sync().
  bool dirty() const;

  // Closes and deletes the file of `segment` (call after the segment itself is gone, so
  // a crash in between leaves an orphan file, not a segment without its
  // acknowledgements). A missing file is not an error.
  SpoolError remove(std::uint64_t segment) noexcept;

  std::uint64_t entries_written() const;
  std::uint64_t write_errors() const;

 private:
  struct File;

  // With mutex_ held: the open file of `segment`, created or reopened as needed.
  std::shared_ptr<File> file_locked(std::uint64_t segment, SpoolError& error);

  const std::filesystem::path directory_;
  const int directory_fd_;
  std::function<void()> wake_;

  mutable std::mutex mutex_;
  std::set<std::uint64_t> earlier_;  // files of an earlier run not yet reopened for appending
  std::unordered_map<std::uint64_t, std::shared_ptr<File>> files_;
  std::vector<std::shared_ptr<File>> unsynced_;
  bool directory_dirty_ = false;
  bool dirty_ = false;
  SpoolError pending_error_;
  std::uint64_t entries_written_ = 0;
  std::uint64_t write_errors_ = 0;
};

}  // namespace spanline::detail
