// The HTTP ingest's insert-body parser ({"events":[...]}): any body gets either events or
// a failure that names a reason and an offset inside the body or the event.
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
  static std::vector<IngestEvent> events;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const auto failure = spanline::detail::parse_insert_body(body, parser, events);
  if (failure) {
    if (!failure->index && failure->offset > body.size()) {
      std::fprintf(stderr, "body offset %zu past the body (%zu bytes)\n", failure->offset, body.size());
      std::abort();
    }
    // The 400 answer must be well-formed whatever the failure holds.
    const std::string answer = spanline::detail::insert_failure_json(*failure);
    if (answer.empty() || answer.front() != '{' || answer.back() != '}') std::abort();
    return 0;
  }
  for (const IngestEvent& event : events) {
    const auto& row = event.row;
    if (row.json.size() < 2 || row.json.front() != '{' || row.json.back() != '}') std::abort();
    if (std::size_t{row.id_offset} + row.id_size > row.json.size() || row.id_size == 0) std::abort();
  }
  return 0;
}
