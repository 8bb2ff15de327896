#include "batch/durable_record.hpp"

#include "batch/coalescer.hpp"
#include "core/row.hpp"
#include "metrics/counters.hpp"

#include <chrono>
#include <exception>

namespace spanline::detail {

Batch coalesce_durable_rows(std::uint32_t destination, std::vector<PreparedRow>&& rows) {
  // A Coalescer per call: the calls come from several threads at once, and one left
  // half-filled by a throw must not leak rows into the next call.
  Coalescer coalescer(destination);
  // The caller counts combined rows once their record is written, not here.
  PipelineCounters unused;
  const auto now = std::chrono::steady_clock::now();
  for (PreparedRow& row : rows) {
    coalescer.add(Row{.json = std::move(row.json),
                      .destination = destination,
                      .id_offset = row.id_offset,
                      .id_size = row.id_size,
                      .is_merge = row.is_merge},
                  now, unused);
  }
  rows.clear();
  return coalescer.take();
}

void encode_record(Batch& batch, Compression compression, int zstd_level) {
  if (compression != Compression::none) {
    try {
      encode(batch, compression, zstd_level);
      return;
    } catch (const std::exception&) {
      // Falls through: stored uncompressed.
    }
  }
  encode(batch, Compression::none, zstd_level);
}

void record_keys(const Batch& batch, std::vector<RowKey>& keys) {
  keys.clear();
  keys.reserve(batch.events.size());
  for (const BatchEvent& event : batch.events) {
    if (event.id_key != 0) {
      keys.push_back(event.id_key);
    } else if (const auto id = find_row_id(event.json)) {
      keys.push_back(row_key(*id));  // not set by whoever built the event: read it
    }
  }
}

}  // namespace spanline::detail
