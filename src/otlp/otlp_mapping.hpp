#pragma once
// Maps one OTLP span to one Braintrust event (a JSON object's text), following
// Braintrust's documented OTLP conventions (docs/otlp.md has the table):
//
//   trace_id -> root_span_id (32 hex), span_id -> span_id (16 hex), parent_span_id ->
//   span_parents, id = "<trace hex>-<span hex>" (an exporter's retry overwrites its row),
//   start/end -> metrics.start/end (Unix seconds) and created, name -> span_attributes.name,
//   gen_ai.operation.name -> span_attributes.type, gen_ai.* prompts, completions, messages
//   and span events -> input/output, gen_ai.usage.* -> metrics, gen_ai.request.* ->
//   metadata, braintrust.* -> their field, other attributes -> metadata, resource
//   attributes -> metadata "resource.<key>", error status -> error.
//
// Thread safety: free functions without shared state.

#include "otlp/otlp_span.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace spanline::otlp {

// Why a span is refused on its own (its neighbours in the request are delivered). Stable
// names (to_string) are used in metrics and in partial_success messages.
enum class SpanRejection : std::uint8_t {
  invalid_trace_id,        // not 16 bytes (32 hex), or all zero
  invalid_span_id,         // not 8 bytes (16 hex), or all zero
  invalid_parent_span_id,  // neither empty nor 8 bytes
  invalid_start_time,      // zero
  end_before_start,        // end time earlier than the start time
  too_large,               // the mapped row is larger than ingest's event limit
  too_deep,                // nested deeper than ingest's depth limit
  invalid_utf8,            // a text field is not UTF-8
  not_accepted,            // the mapped row was refused by the event parser otherwise
};
inline constexpr std::size_t kSpanRejectionCount = 9;
std::string_view to_string(SpanRejection rejection);

// The checks on ids and times (the mapping's precondition).
std::optional<SpanRejection> validate_span(const Span& span);

// "<32 hex trace id>-<16 hex span id>": the same span always gets the same row id.
std::string row_id(const Span& span);

// What map_span tells about the event it wrote.
struct MappedEvent {
  // No object or array in the event is nested deeper than this (the event itself is level
  // 1, as ingest's IngestLimits::max_depth counts). An upper bound: JSON text an attribute
  // carried is counted at the deepest its validation allowed.
  std::size_t depth_bound = 1;
};

// Every event starts {"id":"<49 characters>": where the row id's characters lie.
inline constexpr std::size_t kRowIdOffset = 7;
inline constexpr std::size_t kRowIdSize = 49;

// Appends the event for `span` (which must pass validate_span) to `out`: one JSON object,
// well-formed whatever the attributes hold (strings are escaped; bytes that are not UTF-8
// are kept as they are, for ingest's UTF-8 check to refuse). `traces` gives the span's
// resource. Never throws for any attribute content; std::bad_alloc may escape.
MappedEvent map_span(const Traces& traces, const Span& span, std::string& out);

// Lower-case hex of raw bytes.
void append_hex(std::string& out, std::string_view bytes);

}  // namespace spanline::otlp
