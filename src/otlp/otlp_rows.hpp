#pragma once
// The OTLP ingest stage: decoded spans -> validated Braintrust rows. Each span is checked
// (ids, times) and mapped (otlp_mapping.hpp), and its event meets the same limits (size,
// depth, UTF-8) as any other ingested event. The mapping writes well-formed JSON by
// construction, so an event that is within the size limit, whose depth bound is within the
// depth limit and that is valid UTF-8 is taken as it is; any other goes through the
// ingest's EventParser, which gives the refusal its reason. A span that fails is refused
// alone, with its reason.
//
// Thread safety: `parser` is used by one thread at a time (see EventParser).

#include "ingest/ndjson_parser.hpp"
#include "otlp/otlp_mapping.hpp"
#include "otlp/otlp_span.hpp"

#include <spanline/logger.hpp>

#include <vector>

namespace spanline::otlp {

struct RefusedSpan {
  std::size_t index = 0;  // into Traces::spans
  SpanRejection reason = SpanRejection::not_accepted;
};

struct MappedSpans {
  std::vector<PreparedRow> rows;       // the accepted spans', in request order
  std::vector<std::size_t> row_spans;  // rows[i] is the row of Traces::spans[row_spans[i]]
  std::vector<RefusedSpan> refused;

  void clear() {
    rows.clear();
    row_spans.clear();
    refused.clear();
  }
};

// Appends to `out`.
void map_spans(const Traces& traces, detail::EventParser& parser, MappedSpans& out);

// "2 spans refused: 1 invalid_span_id (span 3), 1 end_before_start (span 7)": for
// partial_success.error_message. Names at most a few spans.
std::string refusal_message(const Traces& traces, const std::vector<RefusedSpan>& refused);

}  // namespace spanline::otlp
