#pragma once
// Replay: hands out the spool's records oldest segment first, one at a time, and
// follows the active segment as it grows. Damaged or truncated records are skipped and
// counted (the catalog keeps the counters); a segment that cannot be read at all is
// skipped and left on disk.
//
// Thread safety: next() and wait_for_records() from one thread (the replay thread).

#include "spool/segment_catalog.hpp"
#include "spool/segment_scanner.hpp"
#include "spool/spool_types.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

namespace spanline::detail {

class SpoolReader {
 public:
  explicit SpoolReader(SegmentCatalog& catalog) : catalog_(catalog) {}

  // The next record, or nullopt when replay has caught up with the writer. Records
  // given back with redeliver() come first. Never throws.
  std::optional<SpoolRecord> next() noexcept;
  // Blocks until next() may have something new (or the spool closes, or `deadline`).
  bool wait_for_records(std::chrono::steady_clock::time_point deadline) noexcept;

 private:
  std::optional<SpoolRecord> next_redelivery();

  SegmentCatalog& catalog_;
  std::unique_ptr<SegmentScanner> scanner_;
  std::optional<std::uint64_t> segment_;  // the segment being read, or the last one finished
  std::uint64_t seen_version_ = 0;
};

}  // namespace spanline::detail
