#pragma once
// Replay: hands out the spool's records oldest segment first, one at a time, and
// follows the active segment as it grows. Damaged or truncated records are skipped and
// counted (the catalog keeps the counters); a segment that cannot be read at all is
// skipped and left on disk. Records an earlier run acknowledged (ack_journal.hpp) are
// passed over without being handed out. Records an earlier run left reach the replay
// order here, as they are read (their rows were registered by no writer of this run).
//
// Thread safety: next() and wait_for_records() from one thread (the replay thread).

#include "spool/ack_journal.hpp"
#include "spool/replay_order.hpp"
#include "spool/segment_catalog.hpp"
#include "spool/segment_scanner.hpp"
#include "spool/spool_types.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace spanline::detail {

class SpoolReader {
 public:
  // `journal` is where settled records are written (lost re-deliveries) and read back
  // from (an earlier run's acknowledgements); `order` hears of an earlier run's records
  // before they are handed out. All three outlive the reader.
  SpoolReader(SegmentCatalog& catalog, AckJournal& journal, ReplayOrder& order)
      : catalog_(catalog), journal_(journal), order_(order) {}

  // The next record, or nullopt when replay has caught up with the writer. Records
  // given back with redeliver() come first. Never throws.
  std::optional<SpoolRecord> next() noexcept;
  // Blocks until next() may have something new (or the spool closes, or `deadline`).
  bool wait_for_records(std::chrono::steady_clock::time_point deadline) noexcept;

 private:
  std::optional<SpoolRecord> next_redelivery();
  // Opens the scanner of `target` and loads what an earlier run acknowledged in it.
  bool open_segment(const SegmentCatalog::ReadTarget& target);
  bool acknowledged_earlier(const SpoolRecord& record) const;
  // Registers an earlier run's record with the replay order, its ids read from its body.
  void register_earlier(const SpoolRecord& record);

  SegmentCatalog& catalog_;
  AckJournal& journal_;
  ReplayOrder& order_;
  std::unique_ptr<SegmentScanner> scanner_;
  std::optional<std::uint64_t> segment_;  // the segment being read, or the last one finished
  bool segment_earlier_run_ = false;      // segment_ was left by an earlier run
  std::vector<AckEntry> earlier_acks_;    // of segment_, sorted
  std::uint64_t seen_version_ = 0;
};

}  // namespace spanline::detail
