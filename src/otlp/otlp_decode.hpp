#pragma once
// Decodes an OTLP/HTTP trace export body (ExportTraceServiceRequest) in either encoding
// into otlp::Traces. Protobuf goes through libprotobuf's generated code (fields spanline
// does not read are skipped); OTLP/JSON follows the OTLP/HTTP specification: lowerCamelCase
// field names, ids in hex, enums as numbers or names, 64-bit integers as strings or numbers,
// unknown fields ignored.
//
// Any byte sequence is safe to pass: bad input is an error, never a crash. This is the
// entry point for the decoders' fuzz target.
//
// Thread safety: no shared state (each thread keeps its own JSON parser).

#include "otlp/otlp_span.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace spanline::otlp {

enum class Encoding : std::uint8_t { protobuf, json };

struct DecodeError {
  std::string message;  // for the client: what is wrong and where ("resourceSpans[0]...: ...")
};

// Replaces `out` with the request's spans. On error `out` is unspecified. Passing the same
// `out` again reuses its memory.
[[nodiscard]] std::optional<DecodeError> decode_otlp_request(std::string_view body, Encoding encoding,
                                                             Traces& out);

// The two halves, for tests and benchmarks. decode_protobuf overwrites `out`; decode_json
// appends to it.
[[nodiscard]] std::optional<DecodeError> decode_protobuf(std::string_view body, Traces& out);
[[nodiscard]] std::optional<DecodeError> decode_json(std::string_view body, Traces& out);

}  // namespace spanline::otlp
