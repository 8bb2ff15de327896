#include "otlp/otlp_decode.hpp"

#include "proto/otlp_trace.pb.h"

#include <google/protobuf/arena.h>

#include <climits>

namespace spanline::otlp {

namespace pb = spanline::otlp::v1;

namespace {

// Protobuf's parser bounds nesting (100 levels by default), so this recursion is bounded too.
void convert(const pb::AnyValue& in, AnyValue& out);

void convert(const google::protobuf::RepeatedPtrField<pb::KeyValue>& in, std::vector<KeyValue>& out) {
  out.resize(static_cast<std::size_t>(in.size()));
  for (int i = 0; i < in.size(); ++i) {
    const pb::KeyValue& kv = in.Get(i);
    KeyValue& target = out[static_cast<std::size_t>(i)];
    target.key = kv.key();
    convert(kv.value(), target.value);  // the default instance (empty) when absent
  }
}

void convert(const pb::AnyValue& in, AnyValue& out) {
  // `out` may hold an earlier request's value (see decode_protobuf): what this type does not
  // use is emptied, keeping its capacity.
  if (in.value_case() != pb::AnyValue::kArrayValue) out.array.clear();
  if (in.value_case() != pb::AnyValue::kKvlistValue) out.kvlist.clear();
  switch (in.value_case()) {
    case pb::AnyValue::kStringValue:
      out.type = AnyValue::Type::string;
      out.text = in.string_value();
      break;
    case pb::AnyValue::kBoolValue:
      out.type = AnyValue::Type::boolean;
      out.boolean = in.bool_value();
      break;
    case pb::AnyValue::kIntValue:
      out.type = AnyValue::Type::integer;
      out.integer = in.int_value();
      break;
    case pb::AnyValue::kDoubleValue:
      out.type = AnyValue::Type::floating;
      out.floating = in.double_value();
      break;
    case pb::AnyValue::kBytesValue:
      out.type = AnyValue::Type::bytes;
      out.text = in.bytes_value();
      break;
    case pb::AnyValue::kArrayValue: {
      out.type = AnyValue::Type::array;
      const auto& values = in.array_value().values();
      out.array.resize(static_cast<std::size_t>(values.size()));
      for (int i = 0; i < values.size(); ++i) convert(values.Get(i), out.array[static_cast<std::size_t>(i)]);
      break;
    }
    case pb::AnyValue::kKvlistValue:
      out.type = AnyValue::Type::kvlist;
      convert(in.kvlist_value().values(), out.kvlist);
      break;
    case pb::AnyValue::VALUE_NOT_SET:
      out.type = AnyValue::Type::empty;
      out.text.clear();
      break;
  }
}

}  // namespace

std::optional<DecodeError> decode_protobuf(std::string_view body, Traces& out) {
  if (body.size() > static_cast<std::size_t>(INT_MAX)) return DecodeError{"protobuf body larger than 2 GiB"};
  // A typical export (100 spans, ~100 KB) is parsed into this thread's own message, kept
  // from request to request: protobuf's Clear() keeps the sub-messages and the strings'
  // capacity, so parsing one export after another allocates almost nothing. (An arena
  // does not give that: each string field longer than 15 bytes is still a heap
  // allocation, freed with the arena.) A larger body is parsed into an arena of its own,
  // so what a thread keeps is bounded by what one 256 KiB body parses into.
  constexpr std::size_t kReusedBodyBytes = 256 * 1024;
  thread_local pb::ExportTraceServiceRequest reused;
  std::optional<google::protobuf::Arena> arena;
  pb::ExportTraceServiceRequest* request = &reused;
  if (body.size() > kReusedBodyBytes) {
    arena.emplace();
    request = google::protobuf::Arena::CreateMessage<pb::ExportTraceServiceRequest>(&*arena);
  }
  if (!request->ParseFromArray(body.data(), static_cast<int>(body.size())))
    return DecodeError{"body is not a valid protobuf ExportTraceServiceRequest"};

  // `out` keeps what an earlier request left in it: its strings and vectors are overwritten
  // in place, so a thread that decodes request after request mostly allocates nothing.
  std::size_t resources = 0;
  std::size_t scopes = 0;
  std::size_t spans = 0;
  for (const pb::ResourceSpans& resource_spans : request->resource_spans()) {
    const auto resource_index = static_cast<std::uint32_t>(resources);
    if (resources++ == out.resources.size()) out.resources.emplace_back();
    Resource& resource = out.resources[resource_index];
    resource.attributes.clear();
    if (resource_spans.has_resource()) convert(resource_spans.resource().attributes(), resource.attributes);
    for (const pb::ScopeSpans& scope_spans : resource_spans.scope_spans()) {
      const auto scope_index = static_cast<std::uint32_t>(scopes);
      if (scopes++ == out.scopes.size()) out.scopes.emplace_back();
      Scope& scope = out.scopes[scope_index];
      scope.name = scope_spans.scope().name();  // empty when absent
      scope.version = scope_spans.scope().version();
      for (const pb::Span& in : scope_spans.spans()) {
        if (spans == out.spans.size()) out.spans.emplace_back();
        Span& span = out.spans[spans++];
        span.trace_id_not_hex = span.span_id_not_hex = span.parent_span_id_not_hex = false;
        span.trace_id = in.trace_id();
        span.span_id = in.span_id();
        span.parent_span_id = in.parent_span_id();
        span.name = in.name();
        span.kind = in.kind();
        span.start_time_unix_nano = in.start_time_unix_nano();
        span.end_time_unix_nano = in.end_time_unix_nano();
        convert(in.attributes(), span.attributes);
        span.events.resize(static_cast<std::size_t>(in.events_size()));
        for (int i = 0; i < in.events_size(); ++i) {
          const pb::Span::Event& event = in.events(i);
          SpanEvent& target = span.events[static_cast<std::size_t>(i)];
          target.name = event.name();
          target.time_unix_nano = event.time_unix_nano();
          convert(event.attributes(), target.attributes);
        }
        span.status_code = in.status().code();  // 0 and "" when absent
        span.status_message = in.status().message();
        span.resource_index = resource_index;
        span.scope_index = scope_index;
      }
    }
  }
  out.resources.resize(resources);
  out.scopes.resize(scopes);
  out.spans.resize(spans);
  return std::nullopt;
}

}  // namespace spanline::otlp
