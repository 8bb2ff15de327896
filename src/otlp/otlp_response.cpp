#include "otlp/otlp_response.hpp"

#include "proto/otlp_trace.pb.h"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

namespace spanline::otlp {

namespace pb = spanline::otlp::v1;

std::string_view content_type(Encoding encoding) {
  return encoding == Encoding::protobuf ? "application/x-protobuf" : "application/json";
}

namespace {

std::string quoted(std::string_view text) { return boost::json::serialize(boost::json::string(text)); }

}  // namespace

std::string export_response(Encoding encoding, std::uint64_t rejected, std::string_view message) {
  if (encoding == Encoding::json) {
    if (rejected == 0) return "{}";
    // proto3 JSON writes 64-bit integers as strings.
    return "{\"partialSuccess\":{\"rejectedSpans\":\"" + std::to_string(rejected) +
           "\",\"errorMessage\":" + quoted(message) + "}}";
  }
  pb::ExportTraceServiceResponse response;
  if (rejected > 0) {
    auto* partial = response.mutable_partial_success();
    partial->set_rejected_spans(static_cast<std::int64_t>(rejected));
    partial->set_error_message(std::string(message));
  }
  return response.SerializeAsString();
}

std::string error_status(Encoding encoding, std::int32_t code, std::string_view message) {
  if (encoding == Encoding::json)
    return "{\"code\":" + std::to_string(code) + ",\"message\":" + quoted(message) + "}";
  pb::RpcStatus status;
  status.set_code(code);
  status.set_message(std::string(message));
  return status.SerializeAsString();
}

}  // namespace spanline::otlp
