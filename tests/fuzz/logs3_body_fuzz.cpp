// The /logs3 body parser ({"rows":[...],"api_version":2}, the official SDKs' shape): any body
// gets either rows that each name their destination, or a failure that names a reason and
// an offset inside the body or the row.
#include "ingest/ndjson_parser.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

using spanline::detail::EventParser;
using spanline::detail::IngestEvent;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static EventParser parser;
  static std::vector<IngestEvent> rows;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const auto failure = spanline::detail::parse_logs3_body(body, parser, rows);
  if (failure) {
    if (!failure->index && failure->offset > body.size()) {
      std::fprintf(stderr, "body offset %zu past the body (%zu bytes)\n", failure->offset, body.size());
      std::abort();
    }
    const std::string answer = spanline::detail::insert_failure_json(*failure, "row_index");
    if (answer.empty() || answer.front() != '{' || answer.back() != '}') std::abort();
    return 0;
  }
  for (const IngestEvent& row : rows) {
    // Every row of /logs3 is routed by its own object ids: none may come out without one.
    if (!row.destination) std::abort();
    const auto& prepared = row.row;
    if (prepared.json.size() < 2 || prepared.json.front() != '{' || prepared.json.back() != '}') std::abort();
    if (std::size_t{prepared.id_offset} + prepared.id_size > prepared.json.size() || prepared.id_size == 0)
      std::abort();
  }
  return 0;
}
