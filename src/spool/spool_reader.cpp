#include "spool/spool_reader.hpp"

#include "codec/codec.hpp"
#include "spool/row_keys.hpp"

#include <algorithm>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace spanline::detail {
namespace {

// The keys of the ids of the rows in a record's body, as the sender computes them when
// it spills a batch. False when the body cannot be decoded or is not an events array.
bool body_row_keys(const SpoolRecord& record, std::vector<RowKey>& keys) {
  std::string decoded;
  std::string_view body = record.payload;
  if (record.encoding != Compression::none) {
    try {
      decoded = decompress(record.encoding, record.payload, std::size_t{record.raw_bytes} + 1);
    } catch (const std::exception&) {
      return false;
    }
    body = decoded;
  }
  std::vector<std::string_view> events;
  if (!split_events(body, events)) return false;
  keys.clear();
  keys.reserve(events.size());
  for (const std::string_view event : events) {
    if (const auto id = find_row_id(event)) keys.push_back(row_key(*id));  // no id: follows nothing
  }
  return true;
}

}  // namespace

std::optional<SpoolRecord> SpoolReader::next_redelivery() {
  while (auto redo = catalog_.pop_redelivery()) {
    const auto& [id, target] = *redo;
    SpoolRecord record;
    boost::system::error_code ec;
    bool ok = false;
    if (scanner_ && segment_ == id.segment) {
      ok = scanner_->read_at(id.offset, target.readable_end, record, ec);
    } else if (auto scanner = SegmentScanner::open(target.path, id.segment, ec)) {
      ok = scanner->read_at(id.offset, target.readable_end, record, ec);
    }
    if (ok) {
      catalog_.handed(record, true);
      return record;
    }
    // Its ids are released now, so a later run must not replay it either.
    if (const auto crc = catalog_.outstanding_crc(id)) (void)journal_.record(id, *crc);
    catalog_.lost(id);
  }
  return std::nullopt;
}

void SpoolReader::register_earlier(const SpoolRecord& record) {
  // Records are read oldest first, so registering them as they come keeps their order.
  // A body that cannot be read still may hold rows the server can apply: rather than let
  // it replay alongside the others, it holds back every later record of its destination.
  std::vector<RowKey> keys;
  if (body_row_keys(record, keys)) {
    order_.add_earlier(record.id, record.destination_key, std::span<const RowKey>(keys));
  } else {
    order_.add_earlier(record.id, record.destination_key, std::nullopt);
  }
}

bool SpoolReader::open_segment(const SegmentCatalog::ReadTarget& target) {
  segment_ = target.segment;
  segment_earlier_run_ = target.earlier_run;
  earlier_acks_.clear();
  boost::system::error_code ec;
  scanner_ = SegmentScanner::open(target.path, target.segment, ec);
  if (!scanner_) {
    catalog_.unreadable(target.segment, make_spool_error(ec.value(), "open", target.path));
    return false;
  }
  SpoolError error;
  earlier_acks_ = journal_.earlier_acks(target.segment, error);
  if (error) catalog_.earlier_acks_unreadable(error);
  return true;
}

bool SpoolReader::acknowledged_earlier(const SpoolRecord& record) const {
  return std::binary_search(earlier_acks_.begin(), earlier_acks_.end(),
                            AckEntry{record.id.offset, record.crc});
}

std::optional<SpoolRecord> SpoolReader::next() noexcept {
  try {
    for (;;) {
      // Taken before looking, so a change that lands while we look still wakes the waiter.
      seen_version_ = catalog_.version();
      if (auto record = next_redelivery()) return record;

      if (!scanner_) {
        const auto target = catalog_.next_segment(segment_);
        if (!target) return std::nullopt;
        if (!open_segment(*target)) continue;
      }
      const auto target = catalog_.refresh(*segment_);
      if (!target) {  // deleted under us: cannot happen while unread, but do not spin on it
        scanner_.reset();
        continue;
      }
      SpoolRecord record;
      const SegmentScanner::Result step = scanner_->next(target->readable_end, record);
      switch (step.step) {
        case SegmentScanner::Step::record:
          if (acknowledged_earlier(record)) {
            catalog_.settled_earlier(*segment_, record.id.offset, record.size);
            continue;
          }
          if (segment_earlier_run_) register_earlier(record);
          catalog_.handed(record, false);
          return record;
        case SegmentScanner::Step::corrupt:
        case SegmentScanner::Step::truncated:
          catalog_.skipped(*segment_, step.offset, step.bytes, step.step == SegmentScanner::Step::truncated);
          continue;
        case SegmentScanner::Step::end:
          if (target->sealed) {
            catalog_.finished_reading(*segment_);
            scanner_.reset();
            continue;
          }
          catalog_.caught_up(*segment_, scanner_->position());
          return std::nullopt;
        case SegmentScanner::Step::unknown_version:
          catalog_.unknown_version(*segment_);
          scanner_.reset();
          continue;
        case SegmentScanner::Step::error:
          catalog_.unreadable(*segment_, make_spool_error(step.error.value(), "read", target->path));
          scanner_.reset();
          continue;
      }
    }
  } catch (const std::exception&) {
    // Allocation failure for a large record: give up this round; the record is still on disk.
    return std::nullopt;
  }
}

bool SpoolReader::wait_for_records(std::chrono::steady_clock::time_point deadline) noexcept {
  return catalog_.wait_for_change(seen_version_, deadline);
}

}  // namespace spanline::detail
