#pragma once
// The OTLP/HTTP trace receiver on the HTTP ingest:
//
//   POST /v1/traces and /otel/v1/traces (the path of Braintrust's own endpoint, so an
//   exporter configured for Braintrust works unchanged)
//   Content-Type application/x-protobuf or application/json; Content-Encoding gzip, zstd
//   or none (decoded size bounded by ingest.max_body_bytes)
//   x-bt-parent: project_id:<id> | project_name:<name> | experiment_id:<id>; without it,
//   the daemon's default destination (destination.*)
//
// Answers, in the request's encoding (OTLP/HTTP specification):
//   200 ExportTraceServiceResponse; partial_success {rejected_spans, error_message} when
//       spans were refused alone (invalid ids or times, too large...): the others are queued
//   400 google.rpc.Status: undecodable body, bad x-bt-parent, no destination
//   413 / 415: body too large once decoded / unsupported content type or encoding
//   429 with Retry-After: the memory budget is full; 503 with Retry-After: shutting down or
//       (ingest.ack = "durable") not made durable. Retrying the same export is harmless:
//       row ids come from span ids, so a row sent twice is overwritten, not duplicated.
//
// Thread safety: the handler may run on several I/O threads at once.

#include "http_server.hpp"
#include "ingest_sink.hpp"

#include <string_view>

namespace spanline::agent {

// Whether `target` (query string ignored) is one of the receiver's paths.
bool is_otlp_traces_path(std::string_view target);

DeferringHttpHandler make_otlp_traces_handler(IngestSink& sink, const IngestConfig& config);

}  // namespace spanline::agent
