#pragma once
// The HTTP ingest: the Braintrust insert endpoints with their real shapes, so a client of
// the REST API can switch to the sidecar by changing its base URL.
//
//   POST /v1/project_logs/{project_id}/insert   {"events":[...]}  -> 200 {"row_ids":[...]}
//   POST /v1/experiment/{experiment_id}/insert
//   POST /v1/dataset/{dataset_id}/insert
//   GET  /version                                -> {"logs3_payload_max_bytes": ingest.max_body_bytes}
//
// A request with any invalid event is refused whole (400, {"error":{..., "event_index": N,
// "reason": ...}}) and nothing of it is queued. 200 means every row is queued; 503 (with
// Retry-After) means the pipeline refused some rows (queue full or shutting down): the rows
// queued before that are still delivered, and a retry with the same ids is idempotent.
// The client's Authorization header is ignored: the daemon uses its own API key.

#include "http_server.hpp"
#include "ingest_sink.hpp"

namespace spanline::agent {

HttpHandler make_ingest_handler(IngestSink& sink, const IngestConfig& config);

}  // namespace spanline::agent
