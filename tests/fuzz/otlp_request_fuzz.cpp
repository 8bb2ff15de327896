// The OTLP/HTTP trace decoders and the mapping to Braintrust rows: the first byte picks the
// encoding (protobuf or JSON), the rest is the body. Any body is decoded or refused with a
// message; a decoded export maps every span to exactly one row or one refusal, and every row
// is an event the ingest's parser accepts unchanged.
#include "otlp/otlp_decode.hpp"
#include "otlp/otlp_rows.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace otlp = spanline::otlp;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static spanline::detail::EventParser parser;
  static otlp::Traces traces;
  static otlp::MappedSpans mapped;
  const otlp::Encoding encoding = (data[0] & 1) != 0 ? otlp::Encoding::json : otlp::Encoding::protobuf;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  if (const auto error = otlp::decode_otlp_request(body, encoding, traces)) {
    if (error->message.empty()) std::abort();  // a 400 must say what is wrong
    return 0;
  }
  mapped.clear();
  otlp::map_spans(traces, parser, mapped);
  if (mapped.rows.size() + mapped.refused.size() != traces.spans.size()) {
    std::fprintf(stderr, "%zu spans gave %zu rows and %zu refusals\n", traces.spans.size(),
                 mapped.rows.size(), mapped.refused.size());
    std::abort();
  }
  if (mapped.row_spans.size() != mapped.rows.size()) std::abort();
  // Rows within the ingest limits are taken without a second parse: every row, however it
  // was accepted, must be one the ingest's parser takes as it is, with the same id.
  static spanline::detail::EventParser checker;
  static spanline::PreparedRow reparsed;
  for (const auto& row : mapped.rows) {
    if (row.json.size() < 2 || row.json.front() != '{' || row.json.back() != '}') std::abort();
    spanline::detail::Route route;
    if (const auto failure = checker.parse_row(row.json, spanline::detail::Routing::keep, reparsed, route)) {
      std::fprintf(stderr, "a mapped row the ingest parser refuses (%s at %zu): %s\n",
                   std::string(spanline::detail::to_string(failure->reason)).c_str(), failure->offset,
                   row.json.c_str());
      std::abort();
    }
    if (reparsed.json != row.json || reparsed.id_offset != row.id_offset || reparsed.id_size != row.id_size ||
        reparsed.is_merge != row.is_merge)
      std::abort();
  }
  for (const auto& refused : mapped.refused) {
    if (refused.index >= traces.spans.size()) std::abort();
  }
  return 0;
}
