#include "otlp/otlp_rows.hpp"

#include <simdjson.h>

#include <array>

namespace spanline::otlp {

namespace {

SpanRejection rejection_for(detail::IngestError error) {
  switch (error) {
    case detail::IngestError::too_long:
      return SpanRejection::too_large;
    case detail::IngestError::too_deep:
      return SpanRejection::too_deep;
    case detail::IngestError::invalid_utf8:
      return SpanRejection::invalid_utf8;
    default:
      return SpanRejection::not_accepted;
  }
}

// Whether the ingest's EventParser is sure to accept `text` as it is. Its other checks
// (well-formed JSON, an "id" string, nothing to route) hold for every event map_span writes.
bool within_limits(std::string_view text, const MappedEvent& event, const detail::IngestLimits& limits) {
  return text.size() <= limits.max_event_bytes && event.depth_bound <= limits.max_depth &&
         simdjson::validate_utf8(text.data(), text.size());
}

}  // namespace

void map_spans(const Traces& traces, detail::EventParser& parser, MappedSpans& out) {
  std::string text;
  PreparedRow row;
  detail::Route route;
  for (std::size_t i = 0; i < traces.spans.size(); ++i) {
    const Span& span = traces.spans[i];
    if (const auto rejection = validate_span(span)) {
      out.refused.push_back({i, *rejection});
      continue;
    }
    text.clear();
    const MappedEvent event = map_span(traces, span, text);
    if (within_limits(text, event, parser.limits())) {
      // What the parser would make of it: the text as it is, the id where map_span put it.
      PreparedRow& accepted = out.rows.emplace_back();
      accepted.json.assign(text);  // sized exactly, as the parser sizes rows
      accepted.id_offset = static_cast<std::uint32_t>(kRowIdOffset);
      accepted.id_size = static_cast<std::uint32_t>(kRowIdSize);
      out.row_spans.push_back(i);
      continue;
    }
    // Room after the text lets the parser read it in place instead of copying it into a
    // padded buffer. Routing keys are kept as data: an OTLP row's destination comes from
    // the request.
    if (text.capacity() < text.size() + detail::EventParser::kPadding)
      text.reserve(text.size() + detail::EventParser::kPadding);
    if (const auto failure = parser.parse_row(text, detail::Routing::keep, row, route, text.capacity())) {
      out.refused.push_back({i, rejection_for(failure->reason)});
      continue;
    }
    out.rows.push_back(std::move(row));
    out.row_spans.push_back(i);
  }
}

std::string refusal_message(const Traces& traces, const std::vector<RefusedSpan>& refused) {
  std::array<std::size_t, kSpanRejectionCount> counts{};
  for (const RefusedSpan& r : refused) ++counts[static_cast<std::size_t>(r.reason)];
  std::string out = std::to_string(refused.size()) + (refused.size() == 1 ? " span" : " spans") + " refused:";
  bool first = true;
  for (std::size_t reason = 0; reason < counts.size(); ++reason) {
    if (counts[reason] == 0) continue;
    out += first ? " " : ", ";
    first = false;
    out += std::to_string(counts[reason]);
    out += ' ';
    out += to_string(static_cast<SpanRejection>(reason));
  }
  // Name the first few by index (and span id when it is readable): enough to find them.
  constexpr std::size_t kNamed = 5;
  out += " (";
  for (std::size_t i = 0; i < refused.size() && i < kNamed; ++i) {
    if (i > 0) out += ", ";
    out += "span ";
    out += std::to_string(refused[i].index);
    const Span& span = traces.spans[refused[i].index];
    if (span.span_id.size() == 8 && !span.span_id_not_hex) {
      out += ' ';
      append_hex(out, span.span_id);
    }
    out += ' ';
    out += to_string(refused[i].reason);
  }
  if (refused.size() > kNamed) out += ", ...";
  out += ')';
  return out;
}

}  // namespace spanline::otlp
