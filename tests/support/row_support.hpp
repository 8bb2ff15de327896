#pragma once
// Builds queued Rows for the batch-stage tests from JSON text.

#include "core/row.hpp"

#include <cstdint>
#include <string>

namespace spanline::detail::row_test {

// `text` as a Row, its id located wherever `"id":"` first appears (the logger records
// where it wrote the id; the batcher only reads those offsets).
inline Row row_from_text(std::string text, bool merge, std::uint32_t destination = 0) {
  Row row;
  const std::string key = R"("id":")";
  const std::size_t at = text.find(key);
  if (at != std::string::npos) {
    const std::size_t start = at + key.size();
    row.id_offset = static_cast<std::uint32_t>(start);
    row.id_size = static_cast<std::uint32_t>(text.find('"', start) - start);
  }
  row.is_merge = merge;
  row.destination = destination;
  row.json = std::move(text);
  return row;
}

}  // namespace spanline::detail::row_test
