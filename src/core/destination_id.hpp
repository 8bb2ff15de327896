#pragma once
// The one rule for object ids (project, experiment, dataset) wherever they come from:
// Logger::destination(), the daemon's configuration, NDJSON routing keys and the HTTP
// ingest path. An id is written raw into the request target
// (/v1/<kind>/<id>/insert), so it must be a single, literal path segment: 1 to 128
// characters from A-Z a-z 0-9 '-' '_' '.', and not "." or ".." (which a server or a
// proxy would read as "this" or "the parent" segment). Braintrust ids are UUIDs.

#include <optional>
#include <string>
#include <string_view>

namespace spanline::detail {

inline constexpr std::size_t kMaxDestinationIdBytes = 128;

// Why `id` cannot be used, as a phrase to follow "destination id ...": nullopt when it can.
// The phrase never quotes the id (it may hold control bytes): callers that show it
// escape it.
std::optional<std::string_view> destination_id_problem(std::string_view id) noexcept;

inline bool valid_destination_id(std::string_view id) noexcept { return !destination_id_problem(id); }

// The id as it can be shown in a message: printable ASCII as is, other bytes as \xHH,
// at most 64 characters of the id.
std::string printable_id(std::string_view id);

}  // namespace spanline::detail
