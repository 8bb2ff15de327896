#pragma once
// Plain types shared by the spool's parts and its callers (the Sender, the daemon).

#include "spool/row_keys.hpp"

#include <spanline/options.hpp>

#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace spanline::detail {

// What append() does when the spool holds max_bytes: the public enum (options.hpp).
using SpoolFullPolicy = spanline::SpoolFullPolicy;

// A failure at a file edge: the OS error plus a message naming the path, for example
// "spool: cannot create segment /var/lib/spanline/spool/00000000000000000007.spool: No space left on device".
struct SpoolError {
  boost::system::error_code code;
  std::string message;

  explicit operator bool() const noexcept { return static_cast<bool>(code); }
};

struct SpoolOptions {
  std::filesystem::path directory{};              // created when missing
  std::chrono::milliseconds fsync_interval{100};  // group commit: at most one fsync per interval
  // When true, a wait_durable() caller does not wait for the interval: the flusher
  // fsyncs as soon as the previous fsync finished, and everything appended meanwhile
  // shares that fsync. Durable-ack ingest wants this (latency ~ one fsync instead of up
  // to fsync_interval); with false, fsyncs are never closer than fsync_interval.
  bool sync_on_wait = false;
  std::uint64_t segment_max_bytes = std::uint64_t{16} << 20;  // a segment closes (and is fsynced) past this
  std::uint64_t max_bytes = std::uint64_t{1} << 30;           // all segment files together
  SpoolFullPolicy full_policy = SpoolFullPolicy::drop_newest;
  std::chrono::milliseconds block_timeout{1000};  // SpoolFullPolicy::block only
  // Row ids the replay order tracks at most (about 50 bytes each); past it a
  // destination's rows all go through the spool until its backlog is replayed.
  std::size_t order_max_rows = std::size_t{1} << 18;
  // Called from the spool's background thread with no lock held when an fsync, a
  // segment close or a deletion fails (failures of append() come back in its result).
  // Must not throw and must not call back into the spool's writer.
  std::function<void(const SpoolError&)> on_error{};
  // Called with no lock held for what deserves a log line without being a failure:
  // `kind` "permissions" (open() tightened modes other users could read) or
  // "unknown-version" (a segment of a format this build cannot read was set aside; on
  // the replay thread). Must not throw and must not call back into the spool.
  std::function<void(std::string_view kind, const std::string& message)> on_notice{};
};

// "spool: cannot <action> <path>: <OS error text>" with the errno as a system error code.
SpoolError make_spool_error(int errno_value, std::string_view action, const std::filesystem::path& path);

// Throws std::invalid_argument naming the setting and the bad value.
void validate(const SpoolOptions& options);

enum class SpoolStatus {
  ok,
  full,       // over max_bytes (drop_newest at once, block after block_timeout)
  too_large,  // one record larger than max_bytes or the format allows
  io_error,   // see the error code and message
  timeout,    // wait_durable() deadline passed before an fsync covered the record
  closed,     // the spool was closed
};
std::string_view to_string(SpoolStatus status);

// Where a record lives: its segment and byte offset. Stable across restarts.
struct RecordId {
  std::uint64_t segment = 0;
  std::uint64_t offset = 0;
  friend bool operator==(const RecordId&, const RecordId&) = default;
};

// The rows of a record, for the replay order (replay_order.hpp): the destination as
// the caller numbers it (DestinationHandle::index) and the keys of the rows' ids.
struct RecordRows {
  std::uint32_t destination = 0;
  std::span<const RowKey> keys;
};

// What append() stores: one request body, already encoded, and where it goes.
struct SpoolEntry {
  std::string_view destination_key;  // Destination::key(), at most 65535 bytes
  Compression encoding = Compression::zstd;
  std::uint32_t source_rows = 0;  // rows as logged, so replay can account for them
  std::uint32_t raw_bytes = 0;    // size of the body once decompressed
  std::string_view payload;       // the encoded {"events":[...]} body
  // Set by writers that mix spooled and live rows (the sender, log_durable): registered
  // with the replay order before replay can see the record. Not stored on disk.
  std::optional<RecordRows> rows{};
};

// One record handed out by replay. Owns its bytes.
struct SpoolRecord {
  RecordId id;
  std::uint64_t size = 0;  // bytes on disk, record header included
  std::string destination_key;
  Compression encoding = Compression::none;
  std::uint32_t source_rows = 0;
  std::uint32_t raw_bytes = 0;
  std::int64_t written_unix_ms = 0;
  std::string payload;
  std::uint32_t crc = 0;  // the CRC32C in the record's header (identifies it in ack_journal.hpp)
};

struct AppendResult {
  SpoolStatus status = SpoolStatus::ok;
  std::uint64_t sequence = 0;  // durability ticket for wait_durable(); 0 unless ok
  RecordId id;                 // where it was written; valid when ok
  SpoolError error;            // io_error only

  bool ok() const noexcept { return status == SpoolStatus::ok; }
};

// A snapshot. Counters only grow (since open); the rest are gauges.
struct SpoolMetrics {
  // gauges
  std::uint64_t bytes_on_disk = 0;  // every segment file, headers included
  std::uint64_t segments_on_disk = 0;
  std::uint64_t replay_lag_bytes = 0;      // record bytes on disk not yet acked
  std::int64_t oldest_unacked_age_ms = 0;  // 0 when everything is acked
  std::uint64_t records_outstanding = 0;   // handed out by replay, not yet acked

  // writer
  std::uint64_t records_written = 0;
  std::uint64_t bytes_written = 0;
  std::uint64_t rows_written = 0;  // source_rows of written records
  std::uint64_t fsyncs = 0;        // group commits (each covers many appends)
  std::uint64_t segments_created = 0;
  std::uint64_t full_drops = 0;  // appends refused as full (both policies)
  std::uint64_t rows_full_dropped = 0;
  std::uint64_t block_waits = 0;     // appends that had to wait for space (block policy)
  std::uint64_t block_timeouts = 0;  // of those, the ones that gave up
  std::uint64_t too_large = 0;
  std::uint64_t write_errors = 0;  // create / write failures
  std::uint64_t fsync_errors = 0;

  // replay
  std::uint64_t records_replayed = 0;  // handed out by next_record() (re-deliveries included)
  std::uint64_t records_redelivered = 0;
  std::uint64_t records_acked = 0;
  std::uint64_t records_rejected = 0;  // acked as permanently rejected
  // Not handed out: an earlier run had acknowledged them (its .acks file, ack_journal.hpp).
  std::uint64_t records_already_acked = 0;
  // Acknowledgements that could not be written to disk: after a restart those records
  // are replayed once more.
  std::uint64_t ack_write_errors = 0;
  std::uint64_t records_corrupt = 0;      // damaged regions skipped (bad CRC, marker, length)
  std::uint64_t records_truncated = 0;    // incomplete records at a segment's end (crash mid-write)
  std::uint64_t bytes_skipped = 0;        // bytes of both
  std::uint64_t segments_unreadable = 0;  // unknown version or read errors: left on disk, skipped
  std::uint64_t segments_unknown_version = 0;  // of those, the ones of a format version not known here
  std::uint64_t read_errors = 0;
  std::uint64_t segments_deleted = 0;
  std::uint64_t delete_errors = 0;
};

}  // namespace spanline::detail
