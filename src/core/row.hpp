#pragma once
// A queued row: compact JSON text plus what the batcher needs without parsing it.

#include <cstdint>
#include <string>
#include <string_view>

namespace spanline::detail {

// Per-row bookkeeping charged to the memory budget on top of the JSON text.
inline constexpr std::size_t kRowOverheadBytes = 64;

struct Row {
  std::string json;              // one JSON object, compact
  std::uint32_t destination = 0; // DestinationHandle::index
  std::uint32_t id_offset = 0;   // the id's value inside json, still JSON-escaped:
                                 // coalescing only needs a stable key, not the decoded text
  std::uint32_t id_size = 0;
  bool is_merge = false;

  std::string_view id() const { return std::string_view(json).substr(id_offset, id_size); }
  std::size_t budget_bytes() const { return json.size() + kRowOverheadBytes; }
};

}  // namespace spanline::detail
