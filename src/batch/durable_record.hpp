#pragma once
// The rows of one sidecar::log_durable call turned into spool records: rows sharing an id
// are combined first, exactly as the batcher combines them (coalescer.hpp), so a span's
// start, log and end rows written together are stored, fsynced and replayed as one event,
// as best-effort delivery would send them.

#include "batch/batch.hpp"
#include "core/prepared_row.hpp"
#include "spool/row_keys.hpp"

#include <cstdint>
#include <vector>

namespace spanline::detail {

// `rows` (each with a valid id) as the events of one batch for `destination`: a merge row
// folds into the earlier event with its id, a replace row replaces it, events keep the
// order of their first rows. Each event's source_rows says how many rows it stands for
// (source_rows() - events.size() rows were combined) and its id_key is set. Throws what
// allocation throws.
Batch coalesce_durable_rows(std::uint32_t destination, std::vector<PreparedRow>&& rows);

// Fills batch.body, encoding and raw_body_bytes like encode(); when the codec fails the
// body is stored uncompressed instead (replay sends it as it is).
void encode_record(Batch& batch, Compression compression, int zstd_level);

// The replay-order keys of a record holding `batch`'s events: one per event, so every id
// in the record is covered (a split-off event repeats its id's key).
void record_keys(const Batch& batch, std::vector<RowKey>& keys);

}  // namespace spanline::detail
