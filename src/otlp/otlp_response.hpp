#pragma once
// The bodies of OTLP/HTTP answers, in the request's encoding: ExportTraceServiceResponse
// (with partial_success when spans were refused) for 200, google.rpc.Status for errors.

#include "otlp/otlp_decode.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace spanline::otlp {

// Content-Type of an answer in `encoding`.
std::string_view content_type(Encoding encoding);

// rejected == 0: an empty response (full success).
std::string export_response(Encoding encoding, std::uint64_t rejected, std::string_view message);

// google.rpc.Status{code, message}; `code` is a gRPC code (3 invalid argument, 14 unavailable).
std::string error_status(Encoding encoding, std::int32_t code, std::string_view message);

}  // namespace spanline::otlp
