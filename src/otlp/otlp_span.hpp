#pragma once
// An OTLP trace export request decoded into plain structs, independent of its encoding
// (protobuf or OTLP/JSON): what the decoders produce and the mapping reads. Ids are raw
// bytes (16 for a trace id, 8 for a span id), times nanoseconds since the Unix epoch.

#include <cstdint>
#include <string>
#include <vector>

namespace spanline::otlp {

struct KeyValue;

// OTLP's AnyValue.
struct AnyValue {
  enum class Type : std::uint8_t { empty, string, boolean, integer, floating, bytes, array, kvlist };
  Type type = Type::empty;
  std::string text;  // string and bytes
  bool boolean = false;
  std::int64_t integer = 0;
  double floating = 0;
  std::vector<AnyValue> array;
  std::vector<KeyValue> kvlist;

  static AnyValue of_string(std::string value);
  static AnyValue of_int(std::int64_t value);
  static AnyValue of_double(double value);
  static AnyValue of_bool(bool value);
};

struct KeyValue {
  std::string key;
  AnyValue value;
};

struct SpanEvent {
  std::string name;
  std::uint64_t time_unix_nano = 0;
  std::vector<KeyValue> attributes;
};

enum class StatusCode : std::int32_t { unset = 0, ok = 1, error = 2 };

struct Span {
  std::string trace_id;        // raw bytes; valid when 16 bytes, not all zero
  std::string span_id;         // raw bytes; valid when 8 bytes, not all zero
  std::string parent_span_id;  // empty (or all zero) for a root
  // OTLP/JSON carries ids as hex: one that is not hex is recorded here, so the span alone
  // is refused (its neighbours are not).
  bool trace_id_not_hex = false;
  bool span_id_not_hex = false;
  bool parent_span_id_not_hex = false;
  std::string name;
  std::int32_t kind = 0;
  std::uint64_t start_time_unix_nano = 0;
  std::uint64_t end_time_unix_nano = 0;
  std::vector<KeyValue> attributes;
  std::vector<SpanEvent> events;
  std::int32_t status_code = 0;  // StatusCode; other values are kept as sent
  std::string status_message;
  std::uint32_t resource_index = 0;  // into Traces::resources
  std::uint32_t scope_index = 0;     // into Traces::scopes
};

struct Resource {
  std::vector<KeyValue> attributes;
};

struct Scope {
  std::string name;
  std::string version;
};

// One ExportTraceServiceRequest. Every span's resource_index and scope_index is valid.
struct Traces {
  std::vector<Resource> resources;
  std::vector<Scope> scopes;
  std::vector<Span> spans;

  void clear() {
    resources.clear();
    scopes.clear();
    spans.clear();
  }
};

}  // namespace spanline::otlp
