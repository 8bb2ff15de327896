#pragma once
// Rows that arrive as JSON text (the sidecar's ingest parsers) and what became of rows
// written ahead to the spool. The sidecar's entry points take and return these
// (spanline/sidecar/logger.hpp); the pipeline handles them like any other row.

#include <cstdint>
#include <string>

namespace spanline {

// A row already in compact JSON text, e.g. from the sidecar's ingest parsers.
// `json` is one JSON object with a string "id" member; id_offset/id_size locate the
// characters of that id's value (between the quotes) inside `json`.
struct PreparedRow {
  std::string json;
  std::uint32_t id_offset = 0;
  std::uint32_t id_size = 0;
  bool is_merge = false;
};

// The outcome of sidecar::log_durable (write-ahead for durable ingest).
enum class DurableResult { durable, no_spool, spool_full, io_error, timeout, closed };

}  // namespace spanline
