#pragma once
// POST /logs3 on the HTTP ingest: the endpoint the official Braintrust SDKs log to, so an
// application that sets BRAINTRUST_API_URL to the sidecar keeps its SDK unchanged.
//
//   POST /logs3  {"rows":[...],"api_version":2}  -> 200 {"row_ids":[...]}
//
// Each row names its object the way the SDKs do (project_id with log_id "g", experiment_id,
// or dataset_id); those keys are removed, every other field is kept, and the row goes to
// that object's insert endpoint upstream, batched and compressed like every other row.
// Rows are validated with the NDJSON ingest's parser and limits (detail::parse_logs3_body).
// A body with any invalid row is refused whole: 400 {"error":{..., "row_index": N, "reason":
// ...}}, nothing queued. Otherwise the answers are the insert route's (http_ingest.hpp): 200
// once every row is queued (after the fsync with ingest.ack = "durable"), 503 with
// Retry-After when the pipeline refused rows, 413 for rows over the API's payload limit.
//
// POST /logs3/overflow (the SDKs' signed-URL upload for payloads over the advertised
// logs3_payload_max_bytes) is answered 413 with a JSON error: /version advertises
// ingest.max_body_bytes, so only a single row larger than that gets there, and the SDK
// reports the failure ("Failed to request logs3 overflow upload URL") instead of dropping it
// silently.
//
// Authentication and the Content-Type check happen before this route is reached
// (ingest_auth.hpp).

#include "http_server.hpp"
#include "ingest_sink.hpp"

#include <chrono>
#include <cstddef>
#include <optional>

namespace spanline::agent {

class Logs3Route {
 public:
  Logs3Route(IngestSink& sink, std::size_t max_body_bytes, std::chrono::milliseconds ack_timeout)
      : sink_(sink), max_body_(max_body_bytes), ack_timeout_(ack_timeout) {}

  // POST /logs3. Answers now, or (durable) through `responder` once the fsync settles; a
  // deferred answer is counted in the HTTP answer counters here.
  std::optional<HttpResponse> post(HttpRequest& request, const HttpResponder& responder);

  // POST /logs3/overflow.
  HttpResponse overflow(const HttpRequest& request) const;

 private:
  IngestSink& sink_;
  std::size_t max_body_;
  std::chrono::milliseconds ack_timeout_;  // longest wait for room before a 503
};

}  // namespace spanline::agent
