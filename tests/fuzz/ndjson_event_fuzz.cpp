// The sidecar's NDJSON event parser, as a line from a socket read (in place, followed by
// whatever bytes the read buffer holds) and as a copy: both must give the same answer.
// Input: one padding byte, then the event. The padding byte is repeated after the event,
// so stale bytes of every kind follow the line.
#include "ingest/ndjson_parser.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using spanline::PreparedRow;
using spanline::detail::EventParser;
using spanline::detail::IngestFailure;
using spanline::detail::Route;
using spanline::detail::Routing;

// The answer with a generated id left out (a fresh one differs on every call).
std::string answer_of(const std::optional<IngestFailure>& failure, const PreparedRow& row,
                      const Route& route) {
  if (failure) {
    return "refused " + std::string(to_string(failure->reason)) + " at " + std::to_string(failure->offset);
  }
  if (std::size_t{row.id_offset} + row.id_size > row.json.size()) {
    std::fprintf(stderr, "id outside the row\n");
    std::abort();
  }
  std::string masked = row.json;
  masked.replace(row.id_offset, row.id_size, "<id:" + std::to_string(row.id_size) + ">");
  return "row " + masked + (row.is_merge ? " merge" : "") + " route " +
         std::to_string(static_cast<int>(route.kind)) + ":" + std::string(route.value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static EventParser parser;
  const char padding = static_cast<char>(data[0]);
  const std::string_view event(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Routing routing = (data[0] & 1) != 0 ? Routing::keep : Routing::strip;

  PreparedRow copied_row;
  Route copied_route;
  const auto copied = parser.parse_row(event, routing, copied_row, copied_route);
  const std::string copied_answer = answer_of(copied, copied_row, copied_route);
  if (copied && copied->offset > event.size()) {
    std::fprintf(stderr, "offset %zu past the event (%zu bytes)\n", copied->offset, event.size());
    std::abort();
  }

  // A fresh heap buffer sized exactly, so ASan sees any read past the promised padding.
  std::string buffer(event);
  buffer.append(EventParser::kPadding, padding);
  PreparedRow row;
  Route route;
  const auto in_place =
      parser.parse_row(std::string_view(buffer.data(), event.size()), routing, row, route, buffer.size());
  const std::string in_place_answer = answer_of(in_place, row, route);
  if (in_place_answer != copied_answer) {
    std::fprintf(stderr, "in place: %s\ncopied:   %s\n", in_place_answer.c_str(), copied_answer.c_str());
    std::abort();
  }
  return 0;
}
