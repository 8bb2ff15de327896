#pragma once
// Row keys: a 64-bit hash of a row's id, as the spool's replay order (replay_order.hpp)
// compares rows. Taken from the id's text as it is written inside the row's JSON (still
// escaped), the same way Row::id() and PreparedRow::id_offset see it, so the sender and
// sidecar::log_durable agree on a row without decoding it.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace spanline::detail {

using RowKey = std::uint64_t;

RowKey row_key(std::string_view id_text) noexcept;

// The text between the quotes of the top-level "id" member of one JSON object (a
// batch event), or nullopt when there is none, it is not a string, or the text is not
// an object. Skips the other members without building anything; linear in the bytes
// it passes over (the row builder writes the id first, so usually a few bytes).
std::optional<std::string_view> find_row_id(std::string_view object_json) noexcept;

// The texts of the elements of the top-level "events" array of a request body
// ({"events":[...]}), in order, borrowing from `body`. False when the body has no such
// array or is malformed. Lets a spooled body be split without parsing and
// re-serializing its rows (which could change how their numbers are written).
bool split_events(std::string_view body, std::vector<std::string_view>& events);

}  // namespace spanline::detail
