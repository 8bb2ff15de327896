#pragma once
// The HTTP ingest: the Braintrust insert endpoints with their real shapes, so a client of
// the REST API can switch to the sidecar by changing its base URL.
//
//   POST /v1/project_logs/{project_id}/insert   {"events":[...]}  -> 200 {"row_ids":[...]}
//   POST /v1/experiment/{experiment_id}/insert
//   POST /v1/dataset/{dataset_id}/insert
//   GET  /version                                -> {"logs3_payload_max_bytes": ingest.max_body_bytes}
//   POST /logs3, /logs3/overflow                 -> the official SDKs' endpoint (logs3.hpp)
//   anything else                                -> forwarded to api.url (api_proxy.hpp)
//   POST /v1/traces, /otel/v1/traces             OTLP/HTTP traces (otlp_http.hpp)
//
// A request with any invalid event is refused whole (400, {"error":{..., "event_index": N,
// "reason": ...}}) and nothing of it is queued. 200 means every row is queued; 503 (with
// Retry-After, {"error":{..., "reason": "dropped_queue_full" | "dropped_shutdown", "queued": N}})
// means the pipeline refused a row (memory budget full under a drop policy, still full after
// ingest.ack_timeout_ms under block or spill, or shutting down; the I/O thread serves others
// while a request waits for room) and the rest of the request was not offered: the first N rows are queued and will be
// delivered (none when the budget was already full), and a retry with the same ids is
// idempotent. 413 (reason "dropped_too_large") names events larger than the API's payload
// limit, dropped for good; the request's other rows are queued.
// With ingest.ack = "durable", 200 means every row of the request is in the spool on disk
// (fsynced); 503 (with Retry-After and {"error":{..., "reason": "spool_full" | "timeout" |
// "io_error" | "closed" | "no_spool"}}) means none is acknowledged: retry the same request.
// Every request is first checked by IngestAuth (ingest_auth.hpp): Authorization: Bearer with
// the daemon's API key or an ingest token (401), Origin refused unless allowed (403), and
// Content-Type: application/json on the insert routes (415). Upstream the daemon uses its own
// API key.

#include "api_proxy.hpp"
#include "http_server.hpp"
#include "ingest_auth.hpp"
#include "ingest_sink.hpp"

namespace spanline::agent {

// Answers at once, except with ingest.ack = "durable": then a request's answer is written when
// its rows' fsync completes (see IngestSink::commit_async).
// `proxy`: where requests for paths the ingest does not serve go (api_proxy.hpp); null: 404.
DeferringHttpHandler make_ingest_handler(IngestSink& sink, const IngestConfig& config, IngestAuth auth,
                                         std::shared_ptr<ApiProxy> proxy = nullptr);

}  // namespace spanline::agent
