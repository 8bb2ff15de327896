#pragma once
// The answers the HTTP ingest routes share: what a client of the insert API or of /logs3
// is told about the rows of its request, once they are queued, made durable or refused.
// Both routes answer alike, so a client's retry logic works the same on either.

#include "http_server.hpp"
#include "ingest_sink.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace spanline::agent {

// {"row_ids":[...]} for the parsed rows, in request order.
std::string row_ids_json(const std::vector<detail::IngestEvent>& rows);

// 503 with Retry-After: nothing (or not everything) was taken; resend the same request.
HttpResponse retry_later(const HttpRequest& request, std::string body);

// The answer once queue_rows() settled: 200 with `row_ids`, 503 when a row was refused
// (the rest was not offered), 413 when rows over the API's payload limit were dropped.
// `noun` names the request's items in messages ("events", "rows").
HttpResponse queued_answer(const HttpRequest& head, const IngestSink::QueueOutcome& outcome, std::string row_ids,
                           std::string_view noun);

// The answer once a durable commit settled: 200 with `row_ids`, else 503 with the reason.
HttpResponse durable_answer(const HttpRequest& head, Logger::DurableResult result, std::string row_ids,
                            std::size_t rows, std::string_view noun);

}  // namespace spanline::agent
